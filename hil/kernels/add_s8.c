/* tern_add_s8: residual add of two int8 tensors with one rounding (C#: AddS8; docs/arithmetic.md).
 * Each element: acc = (a - z_a) * M_a + (b - z_b) * M_b in int64 (|acc| < 2^40), then
 * out = clamp(((acc + 2^(S-1)) >> S) + z_out, lo, hi) with an arithmetic shift. Every element is read before it
 * is written, so output may be input or skip itself (the emitted model adds in place over the skip tensor). */
#include "tern_kernels_internal.h"

static tern_status tk_check_add(const tern_add_params *p, const int8_t *in, const int8_t *skip, const int8_t *out)
{
    if (!p || !in || !skip || !out) return TERN_ERR_NULL;
    if (p->size < 1) return TERN_ERR_SHAPE;
    tern_status st = tk_check_range(p->input_zero, p->output_zero, p->act_min, p->act_max);
    if (st != TERN_OK) return st;
    if (p->skip_zero < -128 || p->skip_zero > 127) return TERN_ERR_RANGE;
    int32_t big = p->multiplier_a > p->multiplier_b ? p->multiplier_a : p->multiplier_b;
    if (p->multiplier_a < 0 || p->multiplier_b < 0) return TERN_ERR_SHIFT;
    return tk_check_multiplier(big, p->shift);
}

static inline int32_t tk_add1(const tern_add_params *p, int32_t a, int32_t b)
{
    int64_t acc = (int64_t)(a - p->input_zero) * p->multiplier_a + (int64_t)(b - p->skip_zero) * p->multiplier_b;
    int64_t v = ((acc + ((int64_t)1 << (p->shift - 1))) >> p->shift) + p->output_zero;
    return v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : (int32_t)v;
}

tern_status tern_add_s8_ref(const tern_add_params *p, const int8_t *input, const int8_t *skip, int8_t *output)
{
    tern_status st = tk_check_add(p, input, skip, output);
    if (st != TERN_OK) return st;
    for (uint32_t i = 0; i < p->size; i++) output[i] = (int8_t)tk_add1(p, input[i], skip[i]);
    return TERN_OK;
}

/* The DSP body: SMULL + SMLAL give the int64 sum, and only its high word is used, so there is no 64-bit add or
 * shift. With P = hi32(sum) (floor(sum / 2^32)) and nested floors:
 * - S > 33: floor((sum + 2^(S-1)) / 2^S) = (P + 2^(S-33)) >> (S-32), since 2^(S-1) is a multiple of 2^32;
 * - 10 <= S <= 33 (the usual case: multipliers near 1): the code deltas are scaled by 2^k, k = 33 - S
 *   (|d| * 2^k < 2^31), which keeps the quotient with S' = 33: (P + 1) >> 1, computed as (P >> 1) + (P & 1)
 *   because P may reach 2^31 - 1;
 * - S < 10: the int64 formula of the reference.
 * Each element is read before it is written, so in place is safe. The same integers as the reference. */
tern_status tern_add_s8_dsp(const tern_add_params *p, const int8_t *input, const int8_t *skip, int8_t *output)
{
    tern_status st = tk_check_add(p, input, skip, output);
    if (st != TERN_OK) return st;
    const uint32_t n = p->size;
    const int32_t za = p->input_zero, zb = p->skip_zero, ma = p->multiplier_a, mb = p->multiplier_b;
    const int32_t z = p->output_zero, lo = p->act_min, hi = p->act_max, s = p->shift;
    if (s > 33) {
        const int32_t half = 1 << (s - 33), sh = s - 32;
        for (uint32_t i = 0; i < n; i++) {
            int32_t h = (int32_t)(((int64_t)(input[i] - za) * ma + (int64_t)(skip[i] - zb) * mb) >> 32);
            int32_t v = ((h + half) >> sh) + z;
            output[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
        }
    } else if (s >= 10) {
        const int32_t k = 33 - s;
        for (uint32_t i = 0; i < n; i++) {
            int32_t da = (input[i] - za) * (1 << k), db = (skip[i] - zb) * (1 << k);
            int32_t h = (int32_t)(((int64_t)da * ma + (int64_t)db * mb) >> 32);
            int32_t v = (h >> 1) + (h & 1) + z;
            output[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
        }
    } else {
        for (uint32_t i = 0; i < n; i++) output[i] = (int8_t)tk_add1(p, input[i], skip[i]);
    }
    return TERN_OK;
}

tern_status tern_add_s8(const tern_add_params *p, const int8_t *input, const int8_t *skip, int8_t *output)
{
#if TERN_KERNELS_DSP
    return tern_add_s8_dsp(p, input, skip, output);
#else
    return tern_add_s8_ref(p, input, skip, output);
#endif
}

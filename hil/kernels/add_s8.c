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

/* The DSP body: four codes per word load and store (both words read before the store, so in place is safe);
 * each sum is SMULL + SMLAL in int64, the same integers as the reference. */
tern_status tern_add_s8_dsp(const tern_add_params *p, const int8_t *input, const int8_t *skip, int8_t *output)
{
    tern_status st = tk_check_add(p, input, skip, output);
    if (st != TERN_OK) return st;
    const uint32_t n = p->size, words = n / 4;
    for (uint32_t w = 0; w < words; w++) {
        uint32_t a = tk_load32(input + 4 * w), b = tk_load32(skip + 4 * w), r = 0;
        for (int k = 0; k < 4; k++) {
            int32_t v = tk_add1(p, (int8_t)(uint8_t)(a >> (8 * k)), (int8_t)(uint8_t)(b >> (8 * k)));
            r |= (uint32_t)(uint8_t)v << (8 * k);
        }
        tk_store32(output + 4 * w, r);
    }
    for (uint32_t i = 4 * words; i < n; i++) output[i] = (int8_t)tk_add1(p, input[i], skip[i]);
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

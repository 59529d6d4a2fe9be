/* Shared by the kernel files only (not part of the device interface): argument checks, the requantization
 * in its portable and Cortex-M4 forms, the shared scratch buffer, and the few DSP instructions the _dsp
 * bodies use. On a host without the DSP extension every tk_* instruction below is emulated in portable C
 * with the same lane semantics, so the _dsp bodies keep their M4-shaped structure (and are tested natively
 * as such); only the instruction selection differs. */
#ifndef TERN_KERNELS_INTERNAL_H
#define TERN_KERNELS_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include "tern_kernels.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TK_HAVE_DSP 1
#else
#define TK_HAVE_DSP 0
#endif

/* One scratch buffer shared by every _dsp body (layers run one at a time); defined in requantize.c. */
extern uint32_t tern_scratch[TERN_SCRATCH_BYTES / 4];

/* ---- argument checks (the same for both bodies, so both report the same status) ---- */

/* windows along one axis of n elements with padding before and after it (0 when none fits) */
static inline int32_t tk_conv_out(int32_t n, int32_t k, int32_t s, int32_t before, int32_t after)
{
    return n + before + after < k ? 0 : (n + before + after - k) / s + 1;
}

/* each padding in [0, kernel) along its axis (the fields are unsigned) */
#define TK_PADDING_OK(p)                                                                                              \
    ((p)->pad_top < (p)->kernel_h && (p)->pad_bottom < (p)->kernel_h && (p)->pad_left < (p)->kernel_w &&              \
     (p)->pad_right < (p)->kernel_w)

/* A window along one axis starts at `start` (negative over the leading padding) and has k taps; the taps inside an
 * input of n elements are [tk_first_tap(start), tk_end_tap(start, k, n)). */
static inline int32_t tk_first_tap(int32_t start) { return start < 0 ? -start : 0; }
static inline int32_t tk_end_tap(int32_t start, int32_t k, int32_t n) { return start + k > n ? n - start : k; }

/* any padding at all: the pools' DSP bodies take the clipped-window path only then */
#define TK_PADDED(p) (((p)->pad_top | (p)->pad_left | (p)->pad_bottom | (p)->pad_right) != 0)

/* the output shape that follows from input, kernel, stride and the four paddings */
#define TK_SHAPE_OK(p)                                                                                                \
    ((p)->out_h == tk_conv_out((p)->in_h, (p)->kernel_h, (p)->stride_h, (p)->pad_top, (p)->pad_bottom) &&            \
     (p)->out_w == tk_conv_out((p)->in_w, (p)->kernel_w, (p)->stride_w, (p)->pad_left, (p)->pad_right))

static inline tern_status tk_check_range(int32_t zi, int32_t zo, int32_t lo, int32_t hi)
{
    if (zi < -128 || zi > 127 || zo < -128 || zo > 127 || lo < -128 || hi > 127 || lo > hi) return TERN_ERR_RANGE;
    return TERN_OK;
}

static inline tern_status tk_check_multiplier(int32_t m, int32_t s)
{
    if (s < 1 || s > 62 || m < 0 || (m < (1 << 30) && s != 62)) return TERN_ERR_SHIFT;
    return TERN_OK;
}

static inline tern_status tk_check_conv(const tern_conv_params *p, int depthwise, const void *w, const int8_t *in,
                                        const int8_t *out)
{
    if (!p || !w || !in || !out || !p->bias || !p->multiplier || !p->shift) return TERN_ERR_NULL;
    if (p->kernel_h < 1 || p->kernel_w < 1 || p->stride_h < 1 || p->stride_w < 1 || !TK_PADDING_OK(p))
        return TERN_ERR_GEOMETRY;
    if (p->in_h < 1 || p->in_w < 1 || p->in_c < 1 || p->out_c < 1 || p->out_h < 1 || p->out_w < 1 || !TK_SHAPE_OK(p) ||
        (depthwise && p->out_c != p->in_c))
        return TERN_ERR_SHAPE;
    tern_status st = tk_check_range(p->input_zero, p->output_zero, p->act_min, p->act_max);
    if (st != TERN_OK) return st;
    for (uint32_t c = 0; c < p->out_c; c++) {
        st = tk_check_multiplier(p->multiplier[c], p->shift[c]);
        if (st != TERN_OK) return st;
    }
    return TERN_OK;
}

static inline tern_status tk_check_pool(const tern_pool_params *p, int average, const int8_t *in, const int8_t *out)
{
    if (!p || !in || !out) return TERN_ERR_NULL;
    if (p->kernel_h < 1 || p->kernel_w < 1 || p->stride_h < 1 || p->stride_w < 1 || !TK_PADDING_OK(p))
        return TERN_ERR_GEOMETRY;
    if (p->in_h < 1 || p->in_w < 1 || p->in_c < 1 || p->out_c != p->in_c || p->out_h < 1 || p->out_w < 1 ||
        !TK_SHAPE_OK(p))
        return TERN_ERR_SHAPE;
    tern_status st = tk_check_range(p->input_zero, p->output_zero, p->act_min, p->act_max);
    if (st != TERN_OK) return st;
    return average ? tk_check_multiplier(p->multiplier, p->shift) : TERN_OK;
}

/* Rejects the invalid ternary code 0b11 anywhere in the packed rows (docs/arithmetic.md: never read as 0).
 * A code pair is 0b11 exactly where both of its bits are set. */
static inline tern_status tk_check_packed(const uint8_t *packed, uint32_t bytes)
{
    uint32_t bad = 0;
    for (uint32_t i = 0; i < bytes; i++) bad |= (uint32_t)packed[i] & ((uint32_t)packed[i] >> 1);
    return (bad & 0x55u) ? TERN_ERR_WEIGHTS : TERN_OK;
}

/* ---- requantization ---- */

/* The contract, literally: int64 product, one rounding (ties toward +infinity), arithmetic shift, clamp.
 * (>> of a negative int64 is arithmetic on every compiler this code targets.) */
static inline int32_t tk_requantize(int32_t acc, int32_t m, int32_t s, int32_t z, int32_t lo, int32_t hi)
{
    int64_t v = (((int64_t)acc * m + ((int64_t)1 << (s - 1))) >> s) + z;
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

/* The same integers in plain C for the portable bodies: for S >= 33 the top word of the int64 product
 * (tk_rq below: floor((P + 2^(S-1)) / 2^S) = (hi32(P) + 2^(S-33)) >> (S-32); the sum is at most 2^30 + 2^29),
 * then z_out added and the clamp; the contract's int64 formula for S <= 32. A compiler turns the first into one
 * long multiply, an add, a shift. */
static __attribute__((noinline, unused)) int32_t tk_requantize_call(int32_t acc, int32_t m, int32_t s, int32_t z,
                                                                    int32_t lo, int32_t hi)
{
    return tk_requantize(acc, m, s, z, lo, hi);
}

static inline int32_t tk_requantize_portable(int32_t acc, int32_t m, int32_t s, int32_t z, int32_t lo, int32_t hi)
{
    /* the rare S <= 32 out of line: inlined at every output, its int64 code crowded the registers of the loops */
    if (s < 33) return tk_requantize_call(acc, m, s, z, lo, hi);
    int32_t v = (((int32_t)(((int64_t)acc * m) >> 32) + ((int32_t)1 << (s - 33))) >> (s - 32)) + z;
    return v < lo ? lo : v > hi ? hi : v;
}

static inline int32_t tk_smmla(int32_t a, int32_t b, int32_t c)
{
#if TK_HAVE_DSP
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return (int32_t)(((int64_t)a * b) >> 32) + c;
#endif
}

static inline int32_t tk_ssat16(int32_t x)
{
#if TK_HAVE_DSP
    int32_t r;
    __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(x));
    return r;
#else
    return x < -32768 ? -32768 : x > 32767 ? 32767 : x;
#endif
}

/* A channel's (M, S) prepared for the fast path. For S >= 33, with P = acc * M:
 *   floor((P + 2^(S-1)) / 2^S) = floor(floor((P + 2^(S-33) * 2^32) / 2^32) / 2^(S-32))      (nested floors)
 *                              = (hi32(P) + 2^(S-33)) >> (S-32) = SMMLA(acc, M, 2^(S-33)) >> (S-32)
 * exactly, for every int32 acc (|P| < 2^62, so the sum cannot overflow int32). The result is then saturated
 * to 16 bits before adding z_out: a value outside [-32768, 32767] lands outside [lo, hi] on the same side
 * with or without the saturation, so the clamp gives the same code. S <= 32 (rare: a multiplier >= 1/4)
 * takes the int64 formula (sh = 0 marks it). */
typedef struct {
    int32_t m;
    int32_t round_hi;
    int32_t sh;
    int32_t s;
} tk_rq;

static inline void tk_rq_prepare(tk_rq *r, int32_t m, int32_t s)
{
    r->m = m;
    r->s = s;
    r->sh = s >= 33 ? s - 32 : 0;
    r->round_hi = s >= 33 ? (int32_t)1 << (s - 33) : 0;
}

static inline int32_t tk_rq_apply(int32_t acc, const tk_rq *r, int32_t z, int32_t lo, int32_t hi)
{
    if (r->sh == 0) return tk_requantize_call(acc, r->m, r->s, z, lo, hi); /* rare: out of line */
    int32_t v = tk_ssat16(tk_smmla(acc, r->m, r->round_hi) >> r->sh) + z;
    return v < lo ? lo : v > hi ? hi : v;
}

static inline int32_t tk_ssat8(int32_t x)
{
#if TK_HAVE_DSP
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x));
    return r;
#else
    return x < -128 ? -128 : x > 127 ? 127 : x;
#endif
}

/* A channel's accumulator start (its bias, or the bias with the input zero point folded in), (M, S) and the
 * layer's z_out prepared for the int8 bodies' short form: for S in [33, 55],
 *   floor((acc * M + 2^(S-1)) / 2^S) + z_out = SMMLA(acc, M, 2^(S-33) + z_out * 2^(S-32)) >> (S-32)
 * exactly (tk_rq above, with z_out * 2^(S-32) a multiple of the divisor so it passes through the floor). The sum
 * stays in int32 up to S = 55 and no further: hi32(acc * M) lies in [-2^30, 2^30), so with sh = S - 32 the sum
 * lies in [-2^30 + 2^(sh-1) - 128 * 2^sh, 2^30 + 2^(sh-1) + 127 * 2^sh), inside int32 for sh <= 23; at sh = 24
 * acc = -2^31, M = 2^31 - 1, z_out = -128 wraps (KernelVectors' extreme-accumulator case).
 * The clamp alone is left, one SSAT where the layer clamps to the whole int8 range (`full`, a constant where
 * the bodies instantiate it). tk_rqz_prepare returns 0 for an S outside that range (the caller then runs the
 * portable body for the layer). */
typedef struct {
    int32_t acc0;
    int32_t m;
    int32_t add;
    int32_t sh;
} tk_rqz;

static inline int tk_rqz_prepare(tk_rqz *r, int32_t acc0, int32_t m, int32_t s, int32_t z)
{
    if (s < 33 || s > 55) return 0;
    r->acc0 = acc0;
    r->m = m;
    r->sh = s - 32;
    r->add = (int32_t)(((uint32_t)1 << (s - 33)) + (uint32_t)(z * ((int32_t)1 << (s - 32))));
    return 1;
}

static inline __attribute__((always_inline)) int32_t tk_rqz_apply(int32_t acc, const tk_rqz *r, int32_t lo,
                                                                  int32_t hi, const int full)
{
    int32_t v = tk_smmla(acc, r->m, r->add) >> r->sh;
    if (full) return tk_ssat8(v);
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* ---- unaligned word access (one LDR/STR on the M4, which allows unaligned single-word access) ---- */

static inline uint32_t tk_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void tk_store32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* The scratch buffer is declared uint32_t; anything narrower than a word goes through memcpy (one LDRH/STRH)
 * so no access breaks the C aliasing rules. */
static inline int32_t tk_load16(const void *p)
{
    int16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline void tk_store16(void *p, int32_t v)
{
    int16_t h = (int16_t)v;
    memcpy(p, &h, 2);
}

/* ---- the DSP instructions used, with portable emulations ---- */

static inline int32_t tk_lane_lo(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFu); }
static inline int32_t tk_lane_hi(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x >> 16); }
static inline uint32_t tk_pack16(int32_t lo, int32_t hi) { return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16); }

/* bytes 0 and 2 sign-extended into the two halfwords */
static inline uint32_t tk_sxtb16(uint32_t x)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
#else
    return tk_pack16((int8_t)(uint8_t)x, (int8_t)(uint8_t)(x >> 16));
#endif
}

/* bytes 1 and 3 sign-extended into the two halfwords */
static inline uint32_t tk_sxtb16_ror8(uint32_t x)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return tk_pack16((int8_t)(uint8_t)(x >> 8), (int8_t)(uint8_t)(x >> 24));
#endif
}

/* acc + lo(x)*lo(y) + hi(x)*hi(y), wrapping like the int32 accumulator of the contract */
static inline int32_t tk_smlad(uint32_t x, uint32_t y, int32_t acc)
{
#if TK_HAVE_DSP
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tk_lane_lo(x) * tk_lane_lo(y)) +
                     (uint32_t)(tk_lane_hi(x) * tk_lane_hi(y)));
#endif
}

static inline int32_t tk_smlabb(uint32_t x, uint32_t y, int32_t acc)
{
#if TK_HAVE_DSP
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tk_lane_lo(x) * tk_lane_lo(y)));
#endif
}

static inline int32_t tk_smlatt(uint32_t x, uint32_t y, int32_t acc)
{
#if TK_HAVE_DSP
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(tk_lane_hi(x) * tk_lane_hi(y)));
#endif
}

/* r + the top 32 bits of the 48-bit product m * (bottom or top halfword of x), wrapping like the instructions */
static inline int32_t tk_smlawb(int32_t m, uint32_t x, int32_t r)
{
#if TK_HAVE_DSP
    int32_t v;
    __asm__("smlawb %0, %1, %2, %3" : "=r"(v) : "r"(m), "r"(x), "r"(r));
    return v;
#else
    return (int32_t)((uint32_t)(int32_t)(((int64_t)m * tk_lane_lo(x)) >> 16) + (uint32_t)r);
#endif
}

static inline int32_t tk_smlawt(int32_t m, uint32_t x, int32_t r)
{
#if TK_HAVE_DSP
    int32_t v;
    __asm__("smlawt %0, %1, %2, %3" : "=r"(v) : "r"(m), "r"(x), "r"(r));
    return v;
#else
    return (int32_t)((uint32_t)(int32_t)(((int64_t)m * tk_lane_hi(x)) >> 16) + (uint32_t)r);
#endif
}

/* halfword-wise a + b and a - b (wrapping) */
static inline uint32_t tk_sadd16(uint32_t a, uint32_t b)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return tk_pack16(tk_lane_lo(a) + tk_lane_lo(b), tk_lane_hi(a) + tk_lane_hi(b));
#endif
}

static inline uint32_t tk_ssub16(uint32_t a, uint32_t b)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("ssub16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return tk_pack16(tk_lane_lo(a) - tk_lane_lo(b), tk_lane_hi(a) - tk_lane_hi(b));
#endif
}

/* acc halfwords + sign-extended bytes 0 and 2 (or 1 and 3) of x */
static inline uint32_t tk_sxtab16(uint32_t acc, uint32_t x)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
    return r;
#else
    return tk_sadd16(acc, tk_sxtb16(x));
#endif
}

static inline uint32_t tk_sxtab16_ror8(uint32_t acc, uint32_t x)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
#else
    return tk_sadd16(acc, tk_sxtb16_ror8(x));
#endif
}

/* acc + the sum of |a_i - b_i| over the four unsigned bytes; with b = 0 it sums a's bytes */
static inline uint32_t tk_usada8(uint32_t a, uint32_t b, uint32_t acc)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("usada8 %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    for (int i = 0; i < 32; i += 8) {
        int32_t d = (int32_t)((a >> i) & 0xFFu) - (int32_t)((b >> i) & 0xFFu);
        acc += (uint32_t)(d < 0 ? -d : d);
    }
    return acc;
#endif
}

/* bytewise signed max / min (SSUB8 sets the GE flags per byte, SEL picks by them) */
static inline uint32_t tk_max_s8x4(uint32_t a, uint32_t b)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
#else
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        int8_t x = (int8_t)(uint8_t)(a >> i), y = (int8_t)(uint8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x > y ? x : y) << i;
    }
    return r;
#endif
}

static inline uint32_t tk_min_s8x4(uint32_t a, uint32_t b)
{
#if TK_HAVE_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
#else
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        int8_t x = (int8_t)(uint8_t)(a >> i), y = (int8_t)(uint8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x < y ? x : y) << i;
    }
    return r;
#endif
}

static inline uint32_t tk_splat8(int32_t v) { return 0x01010101u * (uint8_t)v; }

#endif

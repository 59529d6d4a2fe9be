/* The helpers of the ternary layers baked into code (the DSP build of an emitted model, Emit.bakedLayer): the
 * few DSP instructions they use and the requantization forms. The emitter writes only the per-layer code
 * (tern_l<i>_px1, _px2, _border, _baked) and includes this header; kernels/baked.c holds the out-of-line part.
 *
 * Each baked layer adds or subtracts raw input codes where its weights are +1 or -1 (zeros vanish, no weight
 * loads); the input zero point is folded into the bias (fold = bias - z_in * (n_plus - n_minus)), so the padding
 * of a border window holds z_in. SADD16/SSUB16 accumulate two output pixels per register (int16 lanes) in chunks
 * of at most 255 terms: |code| <= 128, so |chunk| <= 32640 cannot overflow.
 * Without the DSP extension every instruction below is emulated with the same lane semantics. */
#ifndef TERN_BAKED_H
#define TERN_BAKED_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TB_HAVE_DSP 1
#else
#define TB_HAVE_DSP 0
#endif

/* Every function of a baked layer. gcc 12's -O2 vectorizes straight-line code (SLP) even without SIMD registers: it
 * gathers a layer's adjacent output bytes into words, each byte going through the stack and a BFI, three
 * instructions where a STRB is one (the default model's pointwise layer: 1.19 instructions per MAC with it, 0.89
 * without). Off for these functions only: the int8 kernels gain from it. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define TB_CODE __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define TB_CODE
#endif

/* The portable SADD16 and SSUB16 (kernels/baked.c). Out of line: inlined, the long chains of the baked layers
 * make gcc's combiner crawl. */
uint32_t tern_baked_sadd16(uint32_t a, uint32_t b);
uint32_t tern_baked_ssub16(uint32_t a, uint32_t b);

static inline uint32_t tb_load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline int32_t tb_lo(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFu); }
static inline int32_t tb_hi(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x >> 16); }
/* halfwords (lo, hi): PKHBT; and the top halves of lo and hi: PKHTB */
static inline uint32_t tb_pack(uint32_t lo, uint32_t hi) { return (lo & 0xFFFFu) | (hi << 16); }
static inline uint32_t tb_pack_top(uint32_t lo, uint32_t hi) { return (lo >> 16) | (hi & 0xFFFF0000u); }
/* int32 addition that wraps like the contract's accumulator */
static inline int32_t tb_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* bytes 0 and 2 (tb_sxtb16) or 1 and 3 (tb_sxtb16_ror8), sign-extended into the two halfwords */
static inline uint32_t tb_sxtb16(uint32_t x)
{
#if TB_HAVE_DSP
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
#else
    return tb_pack((uint32_t)(int32_t)(int8_t)(uint8_t)x, (uint32_t)(int32_t)(int8_t)(uint8_t)(x >> 16));
#endif
}

static inline uint32_t tb_sxtb16_ror8(uint32_t x)
{
#if TB_HAVE_DSP
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return tb_pack((uint32_t)(int32_t)(int8_t)(uint8_t)(x >> 8), (uint32_t)(int32_t)(int8_t)(uint8_t)(x >> 24));
#endif
}

/* halfword-wise a + b and a - b (wrapping; the chunk bound keeps them exact) */
static inline uint32_t tb_sadd16(uint32_t a, uint32_t b)
{
#if TB_HAVE_DSP
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return tern_baked_sadd16(a, b);
#endif
}

static inline uint32_t tb_ssub16(uint32_t a, uint32_t b)
{
#if TB_HAVE_DSP
    uint32_t r;
    __asm__("ssub16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return tern_baked_ssub16(a, b);
#endif
}

/* c + the high word of the 64-bit product a * b */
static inline int32_t tb_smmla(int32_t a, int32_t b, int32_t c)
{
#if TB_HAVE_DSP
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return (int32_t)((uint32_t)(int32_t)(((int64_t)a * b) >> 32) + (uint32_t)c);
#endif
}

static inline int32_t tb_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Requantization, proven bit-exact (docs/arithmetic.md): with P = acc * M and S >= 33,
 *   floor((P + 2^(S-1)) / 2^S) + z_out = (hi32(P) + r) >> (S-32),  r = 2^(S-33) + z_out * 2^(S-32)
 * (nested floors; r is a multiple of 2^(S-32) plus the rounding half). The emitter folds z_out into r
 * only when |r| < 2^30; |hi32(P)| <= 2^30, so SMMLA's sum fits int32. tb_sat8_asr<n> then shifts and
 * saturates to int8 in one SSAT, and the caller clamps further only where lo > -128 or hi < 127.
 * S <= 32 (a multiplier >= 1/4): acc * 2^(33-S) has the same quotient with S' = 33, so it takes the
 * same path where the emitter proves |acc| * 2^(33-S) < 2^31 for the channel. Where neither proof applies
 * (a very large accumulator bound) the emitter calls tern_requantize_ref, the contract literally. */
static inline int32_t tb_shl(int32_t acc, int32_t k) { return (int32_t)((uint32_t)acc << k); }

/* tb_sat8_asr<n>(x): (x >> n) saturated to int8, for n = S - 32 in [1, 30] (S <= 62). One SSAT each: its shift is
 * an immediate of the instruction. */
#if TB_HAVE_DSP
#define TB_SAT8_ASR(n)                                                                                                \
    static inline int32_t tb_sat8_asr##n(int32_t x)                                                                   \
    {                                                                                                                 \
        int32_t r;                                                                                                    \
        __asm__("ssat %0, #8, %1, asr #" #n : "=r"(r) : "r"(x));                                                      \
        return r;                                                                                                     \
    }
#else
#define TB_SAT8_ASR(n)                                                                                                \
    static inline int32_t tb_sat8_asr##n(int32_t x) { return tb_clamp(x >> (n), -128, 127); }
#endif
TB_SAT8_ASR(1)
TB_SAT8_ASR(2)
TB_SAT8_ASR(3)
TB_SAT8_ASR(4)
TB_SAT8_ASR(5)
TB_SAT8_ASR(6)
TB_SAT8_ASR(7)
TB_SAT8_ASR(8)
TB_SAT8_ASR(9)
TB_SAT8_ASR(10)
TB_SAT8_ASR(11)
TB_SAT8_ASR(12)
TB_SAT8_ASR(13)
TB_SAT8_ASR(14)
TB_SAT8_ASR(15)
TB_SAT8_ASR(16)
TB_SAT8_ASR(17)
TB_SAT8_ASR(18)
TB_SAT8_ASR(19)
TB_SAT8_ASR(20)
TB_SAT8_ASR(21)
TB_SAT8_ASR(22)
TB_SAT8_ASR(23)
TB_SAT8_ASR(24)
TB_SAT8_ASR(25)
TB_SAT8_ASR(26)
TB_SAT8_ASR(27)
TB_SAT8_ASR(28)
TB_SAT8_ASR(29)
TB_SAT8_ASR(30)
#undef TB_SAT8_ASR

/* One int16 lane requantized where the whole accumulator fits the lane (the emitter proves |acc| <= 32767, bias
 * included): SMLAWB / SMLAWT take the lane itself, so with t = S - 16 and R = 2^(t-1) + z_out * 2^t
 *   floor((acc * M + 2^(S-1)) / 2^S) + z_out = (floor(acc * M / 2^16) + R) >> t          (nested floors)
 * and tb_sat8_asr<t> finishes it: three instructions a lane with the store. |acc * M / 2^16| < 2^30 and the
 * emitter takes |R| < 2^30, so the sum fits int32; t in [1, 30], S in [17, 46]. */
static inline int32_t tb_smlawb(int32_t m, uint32_t x, int32_t r)
{
#if TB_HAVE_DSP
    int32_t v;
    __asm__("smlawb %0, %1, %2, %3" : "=r"(v) : "r"(m), "r"(x), "r"(r));
    return v;
#else
    return (int32_t)((uint32_t)(int32_t)(((int64_t)m * tb_lo(x)) >> 16) + (uint32_t)r);
#endif
}

static inline int32_t tb_smlawt(int32_t m, uint32_t x, int32_t r)
{
#if TB_HAVE_DSP
    int32_t v;
    __asm__("smlawt %0, %1, %2, %3" : "=r"(v) : "r"(m), "r"(x), "r"(r));
    return v;
#else
    return (int32_t)((uint32_t)(int32_t)(((int64_t)m * tb_hi(x)) >> 16) + (uint32_t)r);
#endif
}

/* S >= 33 without the fold (|r| too large): (hi32(P) + 2^(S-33)) >> (S-32), then + z_out and the clamp. */
static inline int32_t tb_rq_z(int32_t acc, int32_t m, int32_t r, int32_t sh, int32_t z, int32_t lo, int32_t hi)
{
    return tb_clamp((tb_smmla(acc, m, r) >> sh) + z, lo, hi);
}

#endif

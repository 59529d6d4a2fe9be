/* tern_requantize: the integer contract's requantization (docs/arithmetic.md), in both bodies.
 * Also home of the scratch buffer every _dsp body shares. */
#include "tern_kernels_internal.h"

uint32_t tern_scratch[TERN_SCRATCH_BYTES / 4] __attribute__((aligned(8)));

int32_t tern_requantize_ref(int32_t acc, int32_t m, int32_t s, int32_t z_out, int32_t lo, int32_t hi)
{
    return tk_requantize(acc, m, s, z_out, lo, hi);
}

/* SMMLA + shift + SSAT for S >= 33 (bit-exact, see tk_rq in tern_kernels_internal.h), the int64 formula below. */
int32_t tern_requantize_dsp(int32_t acc, int32_t m, int32_t s, int32_t z_out, int32_t lo, int32_t hi)
{
    tk_rq r;
    tk_rq_prepare(&r, m, s);
    return tk_rq_apply(acc, &r, z_out, lo, hi);
}

int32_t tern_requantize(int32_t acc, int32_t m, int32_t s, int32_t z_out, int32_t lo, int32_t hi)
{
#if TERN_KERNELS_DSP
    return tern_requantize_dsp(acc, m, s, z_out, lo, hi);
#else
    return tern_requantize_ref(acc, m, s, z_out, lo, hi);
#endif
}

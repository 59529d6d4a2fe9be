/* The out-of-line part of the baked ternary layers' helpers (tern_baked.h): the portable SADD16 and SSUB16 that
 * tb_sadd16 and tb_ssub16 call off the DSP extension, with the instructions' lane semantics (each halfword wraps). */
#include "tern_baked.h"

uint32_t tern_baked_sadd16(uint32_t a, uint32_t b)
{
    return tb_pack((uint32_t)(tb_lo(a) + tb_lo(b)), (uint32_t)(tb_hi(a) + tb_hi(b)));
}

uint32_t tern_baked_ssub16(uint32_t a, uint32_t b)
{
    return tb_pack((uint32_t)(tb_lo(a) - tb_lo(b)), (uint32_t)(tb_hi(a) - tb_hi(b)));
}

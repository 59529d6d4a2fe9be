/* tern_maxpool_s8: max pooling on int8 codes, no padding (C#: MaxPoolS8). The result is clamped to
 * [act_min, act_max], which fuses a following ReLU; scale and zero point pass through unchanged. */
#include "tern_kernels_internal.h"

tern_status tern_maxpool_s8_ref(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 0, input, output);
    if (st != TERN_OK) return st;
    const int32_t iw = p->in_w, ch = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++)
            for (int32_t c = 0; c < ch; c++) {
                int32_t m = -128;
                for (int32_t ky = 0; ky < p->kernel_h; ky++)
                    for (int32_t kx = 0; kx < p->kernel_w; kx++) {
                        int32_t v = input[((oy * p->stride_h + ky) * iw + ox * p->stride_w + kx) * ch + c];
                        if (v > m) m = v;
                    }
                m = m < p->act_min ? p->act_min : m > p->act_max ? p->act_max : m;
                output[(oy * p->out_w + ox) * ch + c] = (int8_t)m;
            }
    return TERN_OK;
}

/* The DSP body: four channels per word; SSUB8 + SEL give the bytewise signed max of two words (two
 * instructions per tap for four channels), and the clamp is one more max and min against splatted bounds. */
tern_status tern_maxpool_s8_dsp(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 0, input, output);
    if (st != TERN_OK) return st;
    const int32_t iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, groups = ch / 4;
    const int32_t lo = p->act_min, hi = p->act_max;
    const uint32_t lo4 = tk_splat8(lo), hi4 = tk_splat8(hi);
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int8_t *corner = input + ((oy * p->stride_h) * iw + ox * p->stride_w) * ch;
            for (int32_t g = 0; g < groups; g++) {
                uint32_t m = lo4; /* max(max over window, lo) = max over window and lo */
                for (int32_t ky = 0; ky < kh; ky++) {
                    const int8_t *x = corner + ky * iw * ch + 4 * g;
                    for (int32_t kx = 0; kx < kw; kx++, x += ch) m = tk_max_s8x4(m, tk_load32(x));
                }
                tk_store32(o + 4 * g, tk_min_s8x4(m, hi4));
            }
            for (int32_t c = groups * 4; c < ch; c++) {
                int32_t m = lo;
                for (int32_t ky = 0; ky < kh; ky++)
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t v = corner[(ky * iw + kx) * ch + c];
                        if (v > m) m = v;
                    }
                o[c] = (int8_t)(m > hi ? hi : m);
            }
        }
    return TERN_OK;
}

tern_status tern_maxpool_s8(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
#if TERN_KERNELS_DSP
    return tern_maxpool_s8_dsp(p, input, output);
#else
    return tern_maxpool_s8_ref(p, input, output);
#endif
}

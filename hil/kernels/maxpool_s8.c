/* tern_maxpool_s8: max pooling on int8 codes (C#: MaxPoolS8). A padded position of a window holds input_zero
 * (real zero) and takes part in the maximum. The result is clamped to [act_min, act_max], which fuses a following
 * ReLU; scale and zero point pass through unchanged. */
#include "tern_kernels_internal.h"

tern_status tern_maxpool_s8_ref(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 0, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++)
            for (int32_t c = 0; c < ch; c++) {
                int32_t m = -128;
                for (int32_t ky = 0; ky < p->kernel_h; ky++)
                    for (int32_t kx = 0; kx < p->kernel_w; kx++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky, ix = ox * p->stride_w - p->pad_left + kx;
                        const int32_t v = iy >= 0 && iy < ih && ix >= 0 && ix < iw ? input[(iy * iw + ix) * ch + c]
                                                                                   : p->input_zero;
                        if (v > m) m = v;
                    }
                m = m < p->act_min ? p->act_min : m > p->act_max ? p->act_max : m;
                output[(oy * p->out_w + ox) * ch + c] = (int8_t)m;
            }
    return TERN_OK;
}

/* One window of the DSP body: the max over rows x cols taps from corner (rows apart by row_step bytes) and the
 * floor m0 (lo, or max(lo, input_zero) for a window over the padding), then min with hi. Four channels per word;
 * SSUB8 + SEL give the bytewise signed max of two words (two instructions per tap for four channels). */
static inline __attribute__((always_inline)) void max_window(const int8_t *corner, int32_t row_step, int32_t ch,
                                                             int32_t rows, int32_t cols, int32_t m0, int32_t hi,
                                                             int8_t *o)
{
    const int32_t groups = ch / 4;
    const uint32_t m04 = tk_splat8(m0), hi4 = tk_splat8(hi);
    for (int32_t g = 0; g < groups; g++) {
        uint32_t m = m04;
        for (int32_t ky = 0; ky < rows; ky++) {
            const int8_t *x = corner + ky * row_step + 4 * g;
            for (int32_t kx = 0; kx < cols; kx++, x += ch) m = tk_max_s8x4(m, tk_load32(x));
        }
        tk_store32(o + 4 * g, tk_min_s8x4(m, hi4));
    }
    for (int32_t c = groups * 4; c < ch; c++) {
        int32_t m = m0;
        for (int32_t ky = 0; ky < rows; ky++)
            for (int32_t kx = 0; kx < cols; kx++) {
                int32_t v = corner[ky * row_step + kx * ch + c];
                if (v > m) m = v;
            }
        o[c] = (int8_t)(m > hi ? hi : m);
    }
}

/* The DSP body. Without padding every window is whole (max(max over window, lo), then the clamp at hi). With
 * padding each window is clipped to the input, and one that lost taps to the padding starts from
 * max(lo, input_zero) instead: the padded positions' real zero enters the maximum once. */
tern_status tern_maxpool_s8_dsp(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 0, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w;
    const int32_t lo = p->act_min, hi = p->act_max, row_step = iw * ch;
    int8_t *o = output;
    if ((p->pad_top | p->pad_left | p->pad_bottom | p->pad_right) == 0) {
        for (int32_t oy = 0; oy < p->out_h; oy++)
            for (int32_t ox = 0; ox < p->out_w; ox++, o += ch)
                max_window(input + ((oy * p->stride_h) * iw + ox * p->stride_w) * ch, row_step, ch, kh, kw, lo, hi, o);
        return TERN_OK;
    }
    const int32_t floor_padded = p->input_zero > lo ? p->input_zero : lo;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + kh > ih ? ih - iy0 : kh;
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + kw > iw ? iw - ix0 : kw;
            const int whole = ky0 == 0 && ky1 == kh && kx0 == 0 && kx1 == kw;
            max_window(input + ((iy0 + ky0) * iw + ix0 + kx0) * ch, row_step, ch, ky1 - ky0, kx1 - kx0,
                       whole ? lo : floor_padded, hi, o);
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

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

/* The DSP bodies: four channels per word; SSUB8 + SEL give the bytewise signed max of two words (two
 * instructions per tap for four channels), and the clamp is one more max and min against splatted bounds.
 * Both run after tk_check_pool, so every window (clipped or not) has at least one row and one column: the
 * window loops test at the bottom and walk pointers. */

/* A layer without padding: every window is whole, max(max over window, lo) = max over window and lo. */
static __attribute__((noinline)) void maxpool_whole(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, groups = ch / 4;
    const int32_t lo = p->act_min, hi = p->act_max, row_step = iw * ch;
    const uint32_t lo4 = tk_splat8(lo), hi4 = tk_splat8(hi);
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int8_t *corner = input + ((oy * p->stride_h) * iw + ox * p->stride_w) * ch;
            for (int32_t g = 0; g < groups; g++) {
                uint32_t m = lo4;
                const int8_t *row = corner + 4 * g, *const end = row + kh * row_step;
                do {
                    const int8_t *x = row, *const stop = row + kw * ch;
                    do m = tk_max_s8x4(m, tk_load32(x)), x += ch;
                    while (x != stop);
                    row += row_step;
                } while (row != end);
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
}

/* A padded layer: each window is clipped to the input (kernel rows [ky0, ky1), columns [kx0, kx1)) and maxed over
 * its in-bounds taps; a window that lost taps to the padding starts from max(lo, input_zero) instead of lo, so the
 * padded positions' real zero enters the maximum once. */
static __attribute__((noinline)) void maxpool_padded(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, groups = ch / 4;
    const int32_t lo = p->act_min, hi = p->act_max, row_step = iw * ch;
    const int32_t padded_start = p->input_zero > lo ? p->input_zero : lo;
    const uint32_t hi4 = tk_splat8(hi);
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = tk_first_tap(iy0), ky1 = tk_end_tap(iy0, kh, ih);
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = tk_first_tap(ix0), kx1 = tk_end_tap(ix0, kw, iw);
            const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
            const int32_t start = rows == kh && cols == kw ? lo : padded_start;
            const uint32_t start4 = tk_splat8(start);
            const int8_t *corner = input + ((iy0 + ky0) * iw + ix0 + kx0) * ch;
            for (int32_t g = 0; g < groups; g++) {
                uint32_t m = start4;
                const int8_t *row = corner + 4 * g, *const end = row + rows * row_step;
                do {
                    const int8_t *x = row, *const stop = row + cols * ch;
                    do m = tk_max_s8x4(m, tk_load32(x)), x += ch;
                    while (x != stop);
                    row += row_step;
                } while (row != end);
                tk_store32(o + 4 * g, tk_min_s8x4(m, hi4));
            }
            for (int32_t c = groups * 4; c < ch; c++) {
                int32_t m = start;
                for (int32_t ky = 0; ky < rows; ky++)
                    for (int32_t kx = 0; kx < cols; kx++) {
                        int32_t v = corner[(ky * iw + kx) * ch + c];
                        if (v > m) m = v;
                    }
                o[c] = (int8_t)(m > hi ? hi : m);
            }
        }
    }
}

tern_status tern_maxpool_s8_dsp(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 0, input, output);
    if (st != TERN_OK) return st;
    if (TK_PADDED(p))
        maxpool_padded(p, input, output);
    else
        maxpool_whole(p, input, output);
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

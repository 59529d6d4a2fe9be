/* tern_avgpool_s8: average pooling and global average pooling on int8 codes (C#: AvgPoolS8).
 * acc = sum (q_in - z_in) over the window, then requantize with the layer's single (M, S), which approximates
 * s_in / (s_out * window): no division. A padded position holds real zero: it adds nothing to acc but counts in
 * the window (count_include_pad). */
#include "tern_kernels_internal.h"

tern_status tern_avgpool_s8_ref(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 1, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++)
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->kernel_h; ky++)
                    for (int32_t kx = 0; kx < p->kernel_w; kx++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky, ix = ox * p->stride_w - p->pad_left + kx;
                        if (iy >= 0 && iy < ih && ix >= 0 && ix < iw)
                            acc += input[(iy * iw + ix) * ch + c] - p->input_zero;
                    }
                output[(oy * p->out_w + ox) * ch + c] =
                    (int8_t)tk_requantize(acc, p->multiplier, p->shift, p->output_zero, p->act_min, p->act_max);
            }
    return TERN_OK;
}

/* The DSP bodies: four channels per word; SXTAB16 and SXTAB16 ROR #8 add the sign-extended codes into two int16
 * lanes each (four adds in two instructions). Raw codes are summed and the zero point removed once
 * (sum (q - z) = sum q - offset, offset = taps summed * z); the int16 lanes are exact up to a 256-tap window
 * (|sum| <= 32768), larger windows (big global pools) sum in int32 per channel. Both run after tk_check_pool, so
 * every window (clipped or not) has at least one row and one column: the window loops test at the bottom and walk
 * pointers. */

/* A layer without padding: every window is whole. */
static __attribute__((noinline)) void avgpool_whole(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, row_step = iw * ch;
    const int32_t offset = kh * kw * p->input_zero, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    const int32_t groups = kh * kw <= 256 ? ch / 4 : 0;
    tk_rq rq;
    tk_rq_prepare(&rq, p->multiplier, p->shift);
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int8_t *corner = input + ((oy * p->stride_h) * iw + ox * p->stride_w) * ch;
            for (int32_t g = 0; g < groups; g++) {
                uint32_t s02 = 0, s13 = 0;
                const int8_t *row = corner + 4 * g, *const end = row + kh * row_step;
                do {
                    const int8_t *x = row, *const stop = row + kw * ch;
                    do {
                        const uint32_t v = tk_load32(x);
                        s02 = tk_sxtab16(s02, v);
                        s13 = tk_sxtab16_ror8(s13, v);
                        x += ch;
                    } while (x != stop);
                    row += row_step;
                } while (row != end);
                const int32_t c = 4 * g;
                o[c] = (int8_t)tk_rq_apply(tk_lane_lo(s02) - offset, &rq, zo, lo, hi);
                o[c + 1] = (int8_t)tk_rq_apply(tk_lane_lo(s13) - offset, &rq, zo, lo, hi);
                o[c + 2] = (int8_t)tk_rq_apply(tk_lane_hi(s02) - offset, &rq, zo, lo, hi);
                o[c + 3] = (int8_t)tk_rq_apply(tk_lane_hi(s13) - offset, &rq, zo, lo, hi);
            }
            for (int32_t c = groups * 4; c < ch; c++) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < kh; ky++)
                    for (int32_t kx = 0; kx < kw; kx++) acc += corner[(ky * iw + kx) * ch + c];
                o[c] = (int8_t)tk_rq_apply(acc - offset, &rq, zo, lo, hi);
            }
        }
}

/* A single channel without padding (a spectrogram's input pooled): a window row is kw adjacent codes, summed four
 * per word (two SXTAB16, as above, then the four lanes added) and the last kw % 4 one by one. The lanes hold at
 * most kh * kw / 4 codes each, exact for windows up to 256 taps. */
static __attribute__((noinline)) void avgpool_whole_single(const tern_pool_params *p, const int8_t *input,
                                                           int8_t *output)
{
    const int32_t iw = p->in_w, kh = p->kernel_h, kw = p->kernel_w, words = kw / 4, rest = kw % 4;
    const int32_t offset = kh * kw * p->input_zero, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    tk_rq rq;
    tk_rq_prepare(&rq, p->multiplier, p->shift);
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int8_t *row = input + (oy * p->stride_h) * iw + ox * p->stride_w, *const end = row + kh * iw;
            uint32_t s02 = 0, s13 = 0;
            int32_t acc = 0;
            do {
                const int8_t *x = row;
                for (int32_t k = 0; k < words; k++, x += 4) {
                    const uint32_t v = tk_load32(x);
                    s02 = tk_sxtab16(s02, v);
                    s13 = tk_sxtab16_ror8(s13, v);
                }
                for (int32_t k = 0; k < rest; k++) acc += x[k];
                row += iw;
            } while (row != end);
            acc += tk_lane_lo(s02) + tk_lane_hi(s02) + tk_lane_lo(s13) + tk_lane_hi(s13);
            *o++ = (int8_t)tk_rq_apply(acc - offset, &rq, zo, lo, hi);
        }
}

/* A padded layer: each window is clipped to the input (kernel rows [ky0, ky1), columns [kx0, kx1)) and summed
 * over its in-bounds taps; the offset removes the zero point once per tap summed, so a padded position adds
 * exactly 0, and the multiplier still divides by the whole window. */
static __attribute__((noinline)) void avgpool_padded(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, row_step = iw * ch;
    const int32_t zi = p->input_zero, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    const int32_t groups = kh * kw <= 256 ? ch / 4 : 0;
    tk_rq rq;
    tk_rq_prepare(&rq, p->multiplier, p->shift);
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + kh > ih ? ih - iy0 : kh;
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + kw > iw ? iw - ix0 : kw;
            const int32_t rows = ky1 - ky0, cols = kx1 - kx0, offset = rows * cols * zi;
            const int8_t *corner = input + ((iy0 + ky0) * iw + ix0 + kx0) * ch;
            for (int32_t g = 0; g < groups; g++) {
                uint32_t s02 = 0, s13 = 0;
                const int8_t *row = corner + 4 * g, *const end = row + rows * row_step;
                do {
                    const int8_t *x = row, *const stop = row + cols * ch;
                    do {
                        const uint32_t v = tk_load32(x);
                        s02 = tk_sxtab16(s02, v);
                        s13 = tk_sxtab16_ror8(s13, v);
                        x += ch;
                    } while (x != stop);
                    row += row_step;
                } while (row != end);
                const int32_t c = 4 * g;
                o[c] = (int8_t)tk_rq_apply(tk_lane_lo(s02) - offset, &rq, zo, lo, hi);
                o[c + 1] = (int8_t)tk_rq_apply(tk_lane_lo(s13) - offset, &rq, zo, lo, hi);
                o[c + 2] = (int8_t)tk_rq_apply(tk_lane_hi(s02) - offset, &rq, zo, lo, hi);
                o[c + 3] = (int8_t)tk_rq_apply(tk_lane_hi(s13) - offset, &rq, zo, lo, hi);
            }
            for (int32_t c = groups * 4; c < ch; c++) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < rows; ky++)
                    for (int32_t kx = 0; kx < cols; kx++) acc += corner[(ky * iw + kx) * ch + c];
                o[c] = (int8_t)tk_rq_apply(acc - offset, &rq, zo, lo, hi);
            }
        }
    }
}

tern_status tern_avgpool_s8_dsp(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 1, input, output);
    if (st != TERN_OK) return st;
    if (TK_PADDED(p))
        avgpool_padded(p, input, output);
    else if (p->in_c == 1 && p->kernel_h * p->kernel_w <= 256)
        avgpool_whole_single(p, input, output);
    else
        avgpool_whole(p, input, output);
    return TERN_OK;
}

tern_status tern_avgpool_s8(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
#if TERN_KERNELS_DSP
    return tern_avgpool_s8_dsp(p, input, output);
#else
    return tern_avgpool_s8_ref(p, input, output);
#endif
}

/* tern_depthwise_s8: depthwise convolution (multiplier 1) with int8 weights (C#: DepthwiseS8).
 * acc[c] = bias[c] + sum (q_in[c] - z_in) * w[c][ky][kx] over in-bounds taps, then requantize. */
#include "tern_kernels_internal.h"

/* The portable body: plain C, no scratch. Per output pixel the window is clipped to the input once (padding taps
 * are skipped), and channels go four at a time, adjacent in HWC: per tap four loads, four subtractions of z_in,
 * four weight loads and four multiply-accumulates, with no bounds test inside. */
tern_status tern_depthwise_s8_ref(const tern_conv_params *p, const int8_t *weights, const int8_t *input,
                                  int8_t *output)
{
    tern_status st = tk_check_conv(p, 1, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    const int32_t taps = kh * kw, row_step = iw * ch, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    /* the parameters in locals: the byte stores below may alias *p as far as the compiler knows */
    const int32_t *const bias = p->bias, *const mult = p->multiplier;
    const uint8_t *const shift = p->shift;
    const int32_t out_h = p->out_h, out_w = p->out_w, sh = p->stride_h, sw = p->stride_w;
    const int32_t pt = p->pad_top, pl = p->pad_left;
    int8_t *o = output;
    for (int32_t oy = 0; oy < out_h; oy++) {
        const int32_t iy0 = oy * sh - pt;
        const int32_t ky0 = tk_first_tap(iy0), ky1 = tk_end_tap(iy0, kh, ih);
        for (int32_t ox = 0; ox < out_w; ox++, o += ch) {
            const int32_t ix0 = ox * sw - pl;
            const int32_t kx0 = tk_first_tap(ix0), kx1 = tk_end_tap(ix0, kw, iw);
            const int8_t *x = input + (iy0 * iw + ix0) * ch; /* the window's corner (maybe outside the input) */
            int32_t c = 0;
            for (; c + 4 <= ch; c += 4) {
                const int8_t *w0 = weights + c * taps, *w1 = w0 + taps, *w2 = w1 + taps, *w3 = w2 + taps;
                int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = x + ky * row_step + c;
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const int8_t *v = xr + kx * ch;
                        const int32_t t = ky * kw + kx;
                        a0 += (v[0] - zi) * w0[t];
                        a1 += (v[1] - zi) * w1[t];
                        a2 += (v[2] - zi) * w2[t];
                        a3 += (v[3] - zi) * w3[t];
                    }
                }
                o[c] = (int8_t)tk_requantize_portable(a0, mult[c], shift[c], zo, lo, hi);
                o[c + 1] = (int8_t)tk_requantize_portable(a1, mult[c + 1], shift[c + 1], zo, lo, hi);
                o[c + 2] = (int8_t)tk_requantize_portable(a2, mult[c + 2], shift[c + 2], zo, lo, hi);
                o[c + 3] = (int8_t)tk_requantize_portable(a3, mult[c + 3], shift[c + 3], zo, lo, hi);
            }
            for (; c < ch; c++) {
                const int8_t *w = weights + c * taps;
                int32_t acc = bias[c];
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++) acc += (x[ky * row_step + kx * ch + c] - zi) * w[ky * kw + kx];
                o[c] = (int8_t)tk_requantize_portable(acc, mult[c], shift[c], zo, lo, hi);
            }
        }
    }
    return TERN_OK;
}

/* The DSP body. Channels are adjacent in HWC, so one word load brings four channels of one tap; SXTB16 and
 * SXTB16 ROR #8 split it into (c0, c2) and (c1, c3), and SMLABB/SMLATT multiply-accumulate each lane into
 * its channel's accumulator against weights pre-arranged per call as the matching int16 pairs.
 * Interior pixels (window fully inside the image) fold the input zero point into the bias once per call
 * (bias - z_in * sum w) and run raw codes; border pixels take the plain per-tap path, so the hot loop has
 * neither padding tests nor zero-point subtractions. Per tap and four channels: one input load, one double
 * weight load, two SXTB16, four MACs; a 3x3 window is unrolled (the common case), others loop. Requantization
 * is tk_rqz (SMMLA, ASR, SSAT or the clamp); a layer with a shift outside its range runs the portable body. */

/* Four channels of an interior window, accumulated onto a[0..3]; w walks the taps of this group. */
static inline __attribute__((always_inline)) void dw_s8_group(const int8_t *corner, const uint32_t *w,
                                                              int32_t row_step, int32_t ch,
                                                              int32_t kh, int32_t kw, int32_t a[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
#pragma GCC unroll 3
    for (int32_t ky = 0; ky < kh; ky++) {
        const int8_t *x = corner + ky * row_step;
#pragma GCC unroll 3
        for (int32_t kx = 0; kx < kw; kx++, w += 2) {
            const uint32_t v = tk_load32(x + kx * ch), v02 = tk_sxtb16(v), v13 = tk_sxtb16_ror8(v);
            const uint32_t w02 = w[0], w13 = w[1];
            a0 = tk_smlabb(v02, w02, a0);
            a2 = tk_smlatt(v02, w02, a2);
            a1 = tk_smlabb(v13, w13, a1);
            a3 = tk_smlatt(v13, w13, a3);
        }
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
}

/* n bytes of z (a border window's outside taps) and n bytes copied (its inside ones), a word at a time */
static void dw_fill(int8_t *d, int32_t n, int32_t z)
{
    const uint32_t z4 = 0x01010101u * (uint8_t)z;
    int32_t j = 0;
    for (; j + 4 <= n; j += 4) tk_store32(d + j, z4);
    for (; j < n; j++) d[j] = (int8_t)z;
}

static void dw_copy(int8_t *d, const int8_t *s, int32_t n)
{
    int32_t j = 0;
    for (; j + 4 <= n; j += 4) tk_store32(d + j, tk_load32(s + j));
    for (; j < n; j++) d[j] = s[j];
}

/* The pixel loop, instantiated with the window (3x3 as constants, or kh x kw) and `full` (the layer clamps to
 * [-128, 127]) as constants. */
static inline __attribute__((always_inline)) void dw_s8_pixels(const tern_conv_params *p, const int8_t *weights,
                                                               const int8_t *input, int8_t *output,
                                                               const uint32_t *wt, const tk_rqz *rq, int8_t *patch,
                                                               const int32_t kh, const int32_t kw, const int full)
{
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, zi = p->input_zero, taps = kh * kw;
    const int32_t groups = ch / 4, lo = p->act_min, hi = p->act_max, row_step = iw * ch;
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int rows_inside = iy0 >= 0 && iy0 + kh <= ih;
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int8_t *corner = input + (iy0 * iw + ix0) * ch;
            int32_t step = row_step;
            if (!(rows_inside && ix0 >= 0 && ix0 + kw <= iw)) {
                /* border: the window copied into the patch as a kh x kw image, z_in outside the input, which the
                 * folded bias cancels; then the same code as inside */
                const int32_t kx0 = tk_first_tap(ix0), kx1 = tk_end_tap(ix0, kw, iw);
                for (int32_t ky = 0; ky < kh; ky++) {
                    const int32_t iy = iy0 + ky;
                    int8_t *d = patch + ky * kw * ch;
                    if (iy < 0 || iy >= ih) {
                        dw_fill(d, kw * ch, zi);
                        continue;
                    }
                    dw_fill(d, kx0 * ch, zi);
                    dw_copy(d + kx0 * ch, input + (iy * iw + ix0 + kx0) * ch, (kx1 - kx0) * ch);
                    dw_fill(d + kx1 * ch, (kw - kx1) * ch, zi);
                }
                corner = patch;
                step = kw * ch;
            }
            for (int32_t g = 0; g < groups; g++) {
                const int32_t c = 4 * g;
                int32_t a[4] = {rq[c].acc0, rq[c + 1].acc0, rq[c + 2].acc0, rq[c + 3].acc0};
                dw_s8_group(corner + c, wt + g * taps * 2, step, ch, kh, kw, a);
                o[c] = (int8_t)tk_rqz_apply(a[0], &rq[c], lo, hi, full);
                o[c + 1] = (int8_t)tk_rqz_apply(a[1], &rq[c + 1], lo, hi, full);
                o[c + 2] = (int8_t)tk_rqz_apply(a[2], &rq[c + 2], lo, hi, full);
                o[c + 3] = (int8_t)tk_rqz_apply(a[3], &rq[c + 3], lo, hi, full);
            }
            for (int32_t c = groups * 4; c < ch; c++) {
                int32_t acc = rq[c].acc0;
                const int8_t *w = weights + c * taps;
                for (int32_t ky = 0; ky < kh; ky++)
                    for (int32_t kx = 0; kx < kw; kx++) acc += corner[ky * step + kx * ch + c] * *w++;
                o[c] = (int8_t)tk_rqz_apply(acc, &rq[c], lo, hi, full);
            }
        }
    }
}

tern_status tern_depthwise_s8_dsp(const tern_conv_params *p, const int8_t *weights, const int8_t *input,
                                  int8_t *output)
{
    tern_status st = tk_check_conv(p, 1, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    const int32_t taps = kh * kw, groups = ch / 4;
    const uint32_t need = (uint32_t)taps * (uint32_t)groups * 8u + (uint32_t)ch * sizeof(tk_rqz) + (uint32_t)(taps * ch) + 4u;
    if (need > TERN_SCRATCH_BYTES) return tern_depthwise_s8_ref(p, weights, input, output);
    uint32_t *wt = tern_scratch; /* [group][tap] (c0, c2), (c1, c3) */
    tk_rqz *rq = (tk_rqz *)(wt + (uint32_t)taps * (uint32_t)groups * 2u); /* acc0: bias - z_in * sum w */
    int8_t *patch = (int8_t *)(rq + ch); /* a border window, with a word of slack for the last word load */
    for (int32_t c = 0; c < ch; c++) {
        const int8_t *w = weights + c * taps;
        int32_t sum = 0;
        for (int32_t t = 0; t < taps; t++) sum += w[t];
        if (!tk_rqz_prepare(&rq[c], (int32_t)((uint32_t)p->bias[c] - (uint32_t)(zi * sum)), p->multiplier[c],
                            p->shift[c], p->output_zero))
            return tern_depthwise_s8_ref(p, weights, input, output);
    }
    for (int32_t g = 0; g < groups; g++)
        for (int32_t t = 0; t < taps; t++) {
            const int8_t *w = weights + 4 * g * taps + t;
            wt[(g * taps + t) * 2] = tk_pack16(w[0], w[2 * taps]);
            wt[(g * taps + t) * 2 + 1] = tk_pack16(w[taps], w[3 * taps]);
        }
    /* two copies: the common 3x3 window clamped to the whole range, and any other (the clamp is exact for both) */
    if (kh == 3 && kw == 3 && p->act_min == -128 && p->act_max == 127)
        dw_s8_pixels(p, weights, input, output, wt, rq, patch, 3, 3, 1);
    else
        dw_s8_pixels(p, weights, input, output, wt, rq, patch, kh, kw, 0);
    return TERN_OK;
}

tern_status tern_depthwise_s8(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output)
{
#if TERN_KERNELS_DSP
    return tern_depthwise_s8_dsp(p, weights, input, output);
#else
    return tern_depthwise_s8_ref(p, weights, input, output);
#endif
}

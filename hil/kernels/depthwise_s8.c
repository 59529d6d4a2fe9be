/* tern_depthwise_s8: depthwise convolution (multiplier 1) with int8 weights (C#: DepthwiseS8).
 * acc[c] = bias[c] + sum (q_in[c] - z_in) * w[c][ky][kx] over in-bounds taps, then requantize. */
#include "tern_kernels_internal.h"

tern_status tern_depthwise_s8_ref(const tern_conv_params *p, const int8_t *weights, const int8_t *input,
                                  int8_t *output)
{
    tern_status st = tk_check_conv(p, 1, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++)
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = p->bias[c];
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    if (iy < 0 || iy >= ih) continue;
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (ix < 0 || ix >= iw) continue;
                        acc += (input[(iy * iw + ix) * ch + c] - zi) * weights[c * kh * kw + ky * kw + kx];
                    }
                }
                output[(oy * p->out_w + ox) * ch + c] =
                    (int8_t)tk_requantize(acc, p->multiplier[c], p->shift[c], p->output_zero, p->act_min, p->act_max);
            }
    return TERN_OK;
}

/* The DSP body. Channels are adjacent in HWC, so one word load brings four channels of one tap; SXTB16 and
 * SXTB16 ROR #8 split it into (c0, c2) and (c1, c3), and SMLABB/SMLATT multiply-accumulate each lane into
 * its channel's accumulator against weights pre-arranged per call as the matching int16 pairs.
 * Interior pixels (window fully inside the image) fold the input zero point into the bias once per call
 * (bias - z_in * sum w) and run raw codes; border pixels take the plain per-tap path, so the hot loop has
 * neither padding tests nor zero-point subtractions. Per tap and four channels: one input load, one double
 * weight load, two SXTB16, four MACs. */
tern_status tern_depthwise_s8_dsp(const tern_conv_params *p, const int8_t *weights, const int8_t *input,
                                  int8_t *output)
{
    tern_status st = tk_check_conv(p, 1, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    const int32_t taps = kh * kw, groups = ch / 4, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    const uint32_t need = (uint32_t)taps * (uint32_t)groups * 8u + (uint32_t)ch * (4u + sizeof(tk_rq));
    if (need > TERN_SCRATCH_BYTES) return tern_depthwise_s8_ref(p, weights, input, output);
    uint32_t *wt = tern_scratch;                                   /* [tap][group] (c0, c2), (c1, c3) */
    int32_t *fold = (int32_t *)(wt + (uint32_t)taps * (uint32_t)groups * 2u); /* bias - z_in * sum w */
    tk_rq *rq = (tk_rq *)(fold + ch);
    for (int32_t c = 0; c < ch; c++) {
        const int8_t *w = weights + c * taps;
        int32_t sum = 0;
        for (int32_t t = 0; t < taps; t++) sum += w[t];
        fold[c] = (int32_t)((uint32_t)p->bias[c] - (uint32_t)(zi * sum));
        tk_rq_prepare(&rq[c], p->multiplier[c], p->shift[c]);
    }
    for (int32_t t = 0; t < taps; t++)
        for (int32_t g = 0; g < groups; g++) {
            const int8_t *w = weights + 4 * g * taps + t;
            wt[(t * groups + g) * 2] = tk_pack16(w[0], w[2 * taps]);
            wt[(t * groups + g) * 2 + 1] = tk_pack16(w[taps], w[3 * taps]);
        }
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int rows_inside = iy0 >= 0 && iy0 + kh <= ih;
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            if (rows_inside && ix0 >= 0 && ix0 + kw <= iw) {
                const int8_t *corner = input + (iy0 * iw + ix0) * ch;
                for (int32_t g = 0; g < groups; g++) {
                    const int32_t c = 4 * g;
                    int32_t a0 = fold[c], a1 = fold[c + 1], a2 = fold[c + 2], a3 = fold[c + 3];
                    const uint32_t *w = wt + g * 2;
                    for (int32_t ky = 0; ky < kh; ky++) {
                        const int8_t *x = corner + ky * iw * ch + c;
                        for (int32_t kx = 0; kx < kw; kx++, x += ch, w += groups * 2) {
                            const uint32_t v = tk_load32(x), v02 = tk_sxtb16(v), v13 = tk_sxtb16_ror8(v);
                            const uint32_t w02 = w[0], w13 = w[1];
                            a0 = tk_smlabb(v02, w02, a0);
                            a2 = tk_smlatt(v02, w02, a2);
                            a1 = tk_smlabb(v13, w13, a1);
                            a3 = tk_smlatt(v13, w13, a3);
                        }
                    }
                    o[c] = (int8_t)tk_rq_apply(a0, &rq[c], zo, lo, hi);
                    o[c + 1] = (int8_t)tk_rq_apply(a1, &rq[c + 1], zo, lo, hi);
                    o[c + 2] = (int8_t)tk_rq_apply(a2, &rq[c + 2], zo, lo, hi);
                    o[c + 3] = (int8_t)tk_rq_apply(a3, &rq[c + 3], zo, lo, hi);
                }
                for (int32_t c = groups * 4; c < ch; c++) {
                    int32_t acc = fold[c];
                    const int8_t *w = weights + c * taps;
                    for (int32_t ky = 0; ky < kh; ky++)
                        for (int32_t kx = 0; kx < kw; kx++) acc += corner[(ky * iw + kx) * ch + c] * *w++;
                    o[c] = (int8_t)tk_rq_apply(acc, &rq[c], zo, lo, hi);
                }
                continue;
            }
            /* border: only the in-bounds taps, zero point subtracted per tap */
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + kh > ih ? ih - iy0 : kh;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + kw > iw ? iw - ix0 : kw;
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = p->bias[c];
                const int8_t *w = weights + c * taps;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++)
                        acc += (input[((iy0 + ky) * iw + ix0 + kx) * ch + c] - zi) * w[ky * kw + kx];
                o[c] = (int8_t)tk_rq_apply(acc, &rq[c], zo, lo, hi);
            }
        }
    }
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

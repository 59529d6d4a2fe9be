/* tern_conv_s8: Conv, Pointwise and Dense with int8 weights (C#: ConvS8).
 * acc = bias[oc] + sum (q_in - z_in) * w[oc][ky][kx][ic] over in-bounds taps, then requantize. */
#include "tern_kernels_internal.h"

tern_status tern_conv_s8_ref(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_conv(p, 0, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, kh = p->kernel_h, kw = p->kernel_w;
    const int32_t fan_in = kh * kw * ic, zi = p->input_zero;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++)
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                int32_t acc = p->bias[oc];
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    if (iy < 0 || iy >= ih) continue;
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (ix < 0 || ix >= iw) continue;
                        for (int32_t c = 0; c < ic; c++)
                            acc += (input[(iy * iw + ix) * ic + c] - zi) * weights[oc * fan_in + (ky * kw + kx) * ic + c];
                    }
                }
                output[(oy * p->out_w + ox) * p->out_c + oc] =
                    (int8_t)tk_requantize(acc, p->multiplier[oc], p->shift[oc], p->output_zero, p->act_min, p->act_max);
            }
    return TERN_OK;
}

/* The DSP body. Per output pixel the patch is gathered once as int16 (q_in - z_in; 0 where the window hangs
 * over the padding, so padding costs nothing in the inner loop), and each group of four patch values is
 * stored in the order (x0, x2), (x1, x3): exactly the lanes SXTB16 and SXTB16 ROR #8 produce from four int8
 * weights loaded as one word. The inner loop then takes two output channels at a time: per four taps
 * and two channels, two weight loads, one double load of the patch, four SXTB16 and four SMLAD (two MACs
 * each). Weights stay int8 in flash; the scratch holds only the patch and the prepared multipliers.
 * On a host the instructions are emulated (tern_kernels_internal.h): the same structure, tested natively. */
tern_status tern_conv_s8_dsp(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_conv(p, 0, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, kh = p->kernel_h, kw = p->kernel_w;
    const int32_t fan_in = kh * kw * ic, groups = fan_in / 4, tail = fan_in % 4, zi = p->input_zero;
    const int32_t out_c = p->out_c, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    const uint32_t patch_bytes = ((uint32_t)fan_in * 2u + 7u) & ~7u;
    if (patch_bytes + (uint32_t)out_c * sizeof(tk_rq) > TERN_SCRATCH_BYTES)
        return tern_conv_s8_ref(p, weights, input, output);
    uint8_t *patch = (uint8_t *)tern_scratch; /* int16 values, accessed through tk_load16/tk_store16 */
    tk_rq *rq = (tk_rq *)((uint8_t *)tern_scratch + patch_bytes);
    for (int32_t oc = 0; oc < out_c; oc++) tk_rq_prepare(&rq[oc], p->multiplier[oc], p->shift[oc]);
    const int32_t row_len = kw * ic;
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            /* gather in natural order */
            uint8_t *d = patch;
            for (int32_t ky = 0; ky < kh; ky++, d += row_len * 2) {
                const int32_t iy = iy0 + ky;
                if (iy < 0 || iy >= ih) {
                    memset(d, 0, (size_t)row_len * 2u);
                    continue;
                }
                const int8_t *src = input + iy * iw * ic; /* the image row; the window starts at ix0 */
                if (ix0 >= 0 && ix0 + kw <= iw) {
                    for (int32_t j = 0; j < row_len; j++) tk_store16(d + j * 2, src[ix0 * ic + j] - zi);
                    continue;
                }
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx;
                    uint8_t *dd = d + kx * ic * 2;
                    if (ix < 0 || ix >= iw)
                        memset(dd, 0, (size_t)ic * 2u);
                    else
                        for (int32_t c = 0; c < ic; c++) tk_store16(dd + c * 2, src[ix * ic + c] - zi);
                }
            }
            /* (x0, x1), (x2, x3) -> (x0, x2), (x1, x3) in every full group of four */
            uint8_t *pw = patch;
            for (int32_t g = 0; g < groups; g++, pw += 8) {
                const uint32_t a = tk_load32(pw), b = tk_load32(pw + 4);
                tk_store32(pw, (a & 0xFFFFu) | (b << 16));
                tk_store32(pw + 4, (a >> 16) | (b & 0xFFFF0000u));
            }
            const uint8_t *ptail = patch + groups * 8;
            int32_t oc = 0;
            for (; oc + 2 <= out_c; oc += 2) {
                const int8_t *w0 = weights + oc * fan_in, *w1 = w0 + fan_in;
                const uint8_t *x = patch;
                int32_t a0 = p->bias[oc], a1 = p->bias[oc + 1];
                for (int32_t g = 0; g < groups; g++, x += 8, w0 += 4, w1 += 4) {
                    const uint32_t x02 = tk_load32(x), x13 = tk_load32(x + 4), u0 = tk_load32(w0), u1 = tk_load32(w1);
                    a0 = tk_smlad(tk_sxtb16(u0), x02, a0);
                    a0 = tk_smlad(tk_sxtb16_ror8(u0), x13, a0);
                    a1 = tk_smlad(tk_sxtb16(u1), x02, a1);
                    a1 = tk_smlad(tk_sxtb16_ror8(u1), x13, a1);
                }
                for (int32_t t = 0; t < tail; t++) {
                    const int32_t v = tk_load16(ptail + t * 2);
                    a0 += v * w0[t];
                    a1 += v * w1[t];
                }
                o[oc] = (int8_t)tk_rq_apply(a0, &rq[oc], zo, lo, hi);
                o[oc + 1] = (int8_t)tk_rq_apply(a1, &rq[oc + 1], zo, lo, hi);
            }
            if (oc < out_c) {
                const int8_t *w0 = weights + oc * fan_in;
                const uint8_t *x = patch;
                int32_t a0 = p->bias[oc];
                for (int32_t g = 0; g < groups; g++, x += 8, w0 += 4) {
                    const uint32_t u0 = tk_load32(w0);
                    a0 = tk_smlad(tk_sxtb16(u0), tk_load32(x), a0);
                    a0 = tk_smlad(tk_sxtb16_ror8(u0), tk_load32(x + 4), a0);
                }
                for (int32_t t = 0; t < tail; t++) a0 += tk_load16(ptail + t * 2) * w0[t];
                o[oc] = (int8_t)tk_rq_apply(a0, &rq[oc], zo, lo, hi);
            }
            o += out_c;
        }
    }
    return TERN_OK;
}

tern_status tern_conv_s8(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output)
{
#if TERN_KERNELS_DSP
    return tern_conv_s8_dsp(p, weights, input, output);
#else
    return tern_conv_s8_ref(p, weights, input, output);
#endif
}

/* tern_depthwise_t2: depthwise convolution (multiplier 1) with ternary weights packed 2 bits per weight
 * (C#: DepthwiseT2; layout in docs/arithmetic.md). No multiplies:
 * acc[c] = bias[c] + sum_{t=+1} (q_in - z_in) - sum_{t=-1} (q_in - z_in) over in-bounds taps. */
#include "tern_kernels_internal.h"

/* weight j of a packed row: 0b00 = 0, 0b01 = +1, 0b10 = -1 (0b11 was rejected by tk_check_packed) */
static inline uint32_t code_at(const uint8_t *row, int32_t j) { return (row[j >> 2] >> (2 * (j & 3))) & 3u; }

tern_status tern_depthwise_t2_ref(const tern_conv_params *p, const uint8_t *packed, const int8_t *input,
                                  int8_t *output)
{
    tern_status st = tk_check_conv(p, 1, packed, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    const int32_t row_bytes = (kh * kw + 3) / 4;
    st = tk_check_packed(packed, (uint32_t)(ch * row_bytes));
    if (st != TERN_OK) return st;
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
                        uint32_t code = code_at(packed + c * row_bytes, ky * kw + kx);
                        int32_t x = input[(iy * iw + ix) * ch + c] - zi;
                        if (code == 1u) acc += x;
                        else if (code == 2u) acc -= x;
                    }
                }
                output[(oy * p->out_w + ox) * ch + c] =
                    (int8_t)tk_requantize(acc, p->multiplier[c], p->shift[c], p->output_zero, p->act_min, p->act_max);
            }
    return TERN_OK;
}

/* The DSP body, add/subtract only. Per call the 2-bit codes are decoded once into halfword masks laid out
 * per (tap, group of four channels): plus and minus masks for the lanes (c0, c2) and (c1, c3). Per tap and
 * four channels: one word load of the raw codes, SXTB16 and SXTB16 ROR #8, then AND + SADD16 for the +1
 * lanes and AND + SSUB16 for the -1 lanes: two channels per instruction, no multiply. The int16 lanes hold
 * sums of raw codes, |sum| <= 128 * taps, exact for up to 255 taps (larger kernels run the reference).
 * Interior pixels fold the zero point (bias - z_in * (n_plus - n_minus)); border pixels take the plain path. */
tern_status tern_depthwise_t2_dsp(const tern_conv_params *p, const uint8_t *packed, const int8_t *input,
                                  int8_t *output)
{
    tern_status st = tk_check_conv(p, 1, packed, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    const int32_t taps = kh * kw, row_bytes = (taps + 3) / 4, groups = ch / 4;
    const int32_t zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    st = tk_check_packed(packed, (uint32_t)(ch * row_bytes));
    if (st != TERN_OK) return st;
    const uint32_t need = (uint32_t)taps * (uint32_t)groups * 16u + (uint32_t)ch * (4u + sizeof(tk_rq));
    if (taps > 255 || need > TERN_SCRATCH_BYTES) return tern_depthwise_t2_ref(p, packed, input, output);
    uint32_t *masks = tern_scratch; /* [tap][group]: plus02, plus13, minus02, minus13 */
    int32_t *fold = (int32_t *)(masks + (uint32_t)taps * (uint32_t)groups * 4u);
    tk_rq *rq = (tk_rq *)(fold + ch);
    for (int32_t c = 0; c < ch; c++) {
        int32_t net = 0;
        for (int32_t t = 0; t < taps; t++) {
            uint32_t code = code_at(packed + c * row_bytes, t);
            net += code == 1u ? 1 : code == 2u ? -1 : 0;
        }
        fold[c] = (int32_t)((uint32_t)p->bias[c] - (uint32_t)(zi * net));
        tk_rq_prepare(&rq[c], p->multiplier[c], p->shift[c]);
    }
    for (int32_t t = 0; t < taps; t++)
        for (int32_t g = 0; g < groups; g++) {
            uint32_t *m = masks + (t * groups + g) * 4;
            m[0] = m[1] = m[2] = m[3] = 0;
            for (int32_t k = 0; k < 4; k++) {
                /* channel 4g + k sits in word k & 1 (lanes c0, c2 | c1, c3), halfword k >> 1 */
                const uint32_t code = code_at(packed + (4 * g + k) * row_bytes, t);
                const uint32_t lane = 0xFFFFu << (16 * (k >> 1));
                if (code == 1u) m[k & 1] |= lane;
                if (code == 2u) m[2 + (k & 1)] |= lane;
            }
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
                    uint32_t s02 = 0, s13 = 0;
                    const uint32_t *m = masks + g * 4;
                    for (int32_t ky = 0; ky < kh; ky++) {
                        const int8_t *x = corner + ky * iw * ch + c;
                        for (int32_t kx = 0; kx < kw; kx++, x += ch, m += groups * 4) {
                            const uint32_t v = tk_load32(x), v02 = tk_sxtb16(v), v13 = tk_sxtb16_ror8(v);
                            s02 = tk_ssub16(tk_sadd16(s02, v02 & m[0]), v02 & m[2]);
                            s13 = tk_ssub16(tk_sadd16(s13, v13 & m[1]), v13 & m[3]);
                        }
                    }
                    o[c] = (int8_t)tk_rq_apply(fold[c] + tk_lane_lo(s02), &rq[c], zo, lo, hi);
                    o[c + 1] = (int8_t)tk_rq_apply(fold[c + 1] + tk_lane_lo(s13), &rq[c + 1], zo, lo, hi);
                    o[c + 2] = (int8_t)tk_rq_apply(fold[c + 2] + tk_lane_hi(s02), &rq[c + 2], zo, lo, hi);
                    o[c + 3] = (int8_t)tk_rq_apply(fold[c + 3] + tk_lane_hi(s13), &rq[c + 3], zo, lo, hi);
                }
                for (int32_t c = groups * 4; c < ch; c++) {
                    int32_t acc = fold[c];
                    for (int32_t t = 0; t < taps; t++) {
                        const uint32_t code = code_at(packed + c * row_bytes, t);
                        const int32_t x = corner[((t / kw) * iw + t % kw) * ch + c];
                        if (code == 1u) acc += x;
                        else if (code == 2u) acc -= x;
                    }
                    o[c] = (int8_t)tk_rq_apply(acc, &rq[c], zo, lo, hi);
                }
                continue;
            }
            const int32_t ky0 = tk_first_tap(iy0), ky1 = tk_end_tap(iy0, kh, ih);
            const int32_t kx0 = tk_first_tap(ix0), kx1 = tk_end_tap(ix0, kw, iw);
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = p->bias[c];
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const uint32_t code = code_at(packed + c * row_bytes, ky * kw + kx);
                        const int32_t x = input[((iy0 + ky) * iw + ix0 + kx) * ch + c] - zi;
                        if (code == 1u) acc += x;
                        else if (code == 2u) acc -= x;
                    }
                o[c] = (int8_t)tk_rq_apply(acc, &rq[c], zo, lo, hi);
            }
        }
    }
    return TERN_OK;
}

tern_status tern_depthwise_t2(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output)
{
#if TERN_KERNELS_DSP
    return tern_depthwise_t2_dsp(p, packed, input, output);
#else
    return tern_depthwise_t2_ref(p, packed, input, output);
#endif
}

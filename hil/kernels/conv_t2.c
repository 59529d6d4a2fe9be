/* tern_conv_t2: Conv, Pointwise and Dense with ternary weights packed 2 bits per weight (C#: ConvT2; layout
 * in docs/arithmetic.md). No multiplies:
 * acc[oc] = bias[oc] + sum_{t=+1} (q_in - z_in) - sum_{t=-1} (q_in - z_in) over in-bounds taps. */
#include "tern_kernels_internal.h"

static inline uint32_t code_at(const uint8_t *row, int32_t j) { return (row[j >> 2] >> (2 * (j & 3))) & 3u; }

tern_status tern_conv_t2_ref(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_conv(p, 0, packed, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    const int32_t row_bytes = (kh * kw * ic + 3) / 4;
    st = tk_check_packed(packed, (uint32_t)(p->out_c * row_bytes));
    if (st != TERN_OK) return st;
    for (int32_t oy = 0; oy < p->out_h; oy++)
        for (int32_t ox = 0; ox < p->out_w; ox++)
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const uint8_t *row = packed + oc * row_bytes;
                int32_t acc = p->bias[oc];
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    if (iy < 0 || iy >= ih) continue;
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (ix < 0 || ix >= iw) continue;
                        for (int32_t c = 0; c < ic; c++) {
                            uint32_t code = code_at(row, (ky * kw + kx) * ic + c);
                            int32_t x = input[(iy * iw + ix) * ic + c] - zi;
                            if (code == 1u) acc += x;
                            else if (code == 2u) acc -= x;
                        }
                    }
                }
                output[(oy * p->out_w + ox) * p->out_c + oc] =
                    (int8_t)tk_requantize(acc, p->multiplier[oc], p->shift[oc], p->output_zero, p->act_min, p->act_max);
            }
    return TERN_OK;
}

/* Byte masks of one packed byte (four weights): 0xFF in the lanes whose code is +1 (or -1). */
#define T2_LANE(b, i, code) ((((b) >> (2 * (i))) & 3u) == (code) ? 0xFFu << (8 * (i)) : 0u)
#define T2_MASK(b, code) (T2_LANE(b, 0, code) | T2_LANE(b, 1, code) | T2_LANE(b, 2, code) | T2_LANE(b, 3, code))
#define T2_M4(b, code) T2_MASK(b, code), T2_MASK(b + 1u, code), T2_MASK(b + 2u, code), T2_MASK(b + 3u, code)
#define T2_M16(b, code) T2_M4(b, code), T2_M4(b + 4u, code), T2_M4(b + 8u, code), T2_M4(b + 12u, code)
#define T2_M64(b, code) T2_M16(b, code), T2_M16(b + 16u, code), T2_M16(b + 32u, code), T2_M16(b + 48u, code)
#define T2_M256(code) T2_M64(0u, code), T2_M64(64u, code), T2_M64(128u, code), T2_M64(192u, code)

static const uint32_t plus_masks[256] = {T2_M256(1u)};
static const uint32_t minus_masks[256] = {T2_M256(2u)};

/* The DSP body, add-only (the weights stay packed as data). The patch is gathered once per output pixel as
 * unsigned bytes u = q_in + 128 (padding and the row's tail hold z_in + 128, i.e. a real zero). One packed
 * byte covers four patch bytes: its +1 and -1 byte masks (two table loads) select the lanes, and USADA8
 * against zero adds the four selected bytes into a 32-bit sum. So
 *   acc = bias + sum_{+1} u - sum_{-1} u - (z_in + 128) * (n_plus - n_minus)
 * where the last term (counted over the whole padded row, which makes padding codes harmless) is folded
 * into the bias once per call. Per four weights and two output channels: one patch load, two code loads,
 * four mask loads, four AND, four USADA8. */
tern_status tern_conv_t2_dsp(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_conv(p, 0, packed, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, kh = p->kernel_h, kw = p->kernel_w, zi = p->input_zero;
    const int32_t fan_in = kh * kw * ic, row_bytes = (fan_in + 3) / 4, out_c = p->out_c;
    const int32_t zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    st = tk_check_packed(packed, (uint32_t)(out_c * row_bytes));
    if (st != TERN_OK) return st;
    const uint32_t patch_bytes = ((uint32_t)row_bytes * 4u + 7u) & ~7u;
    if (patch_bytes + (uint32_t)out_c * (4u + sizeof(tk_rq)) > TERN_SCRATCH_BYTES)
        return tern_conv_t2_ref(p, packed, input, output);
    uint8_t *patch = (uint8_t *)tern_scratch;
    int32_t *fold = (int32_t *)(tern_scratch + patch_bytes / 4u);
    tk_rq *rq = (tk_rq *)(fold + out_c);
    const uint8_t zu = (uint8_t)(zi + 128);
    for (int32_t oc = 0; oc < out_c; oc++) {
        const uint8_t *row = packed + oc * row_bytes;
        uint32_t np = 0, nm = 0;
        for (int32_t b = 0; b < row_bytes; b++) {
            np = tk_usada8(plus_masks[row[b]], 0, np);
            nm = tk_usada8(minus_masks[row[b]], 0, nm);
        }
        const int32_t net = (int32_t)(np / 255u) - (int32_t)(nm / 255u);
        fold[oc] = (int32_t)((uint32_t)p->bias[oc] - (uint32_t)((zi + 128) * net));
        tk_rq_prepare(&rq[oc], p->multiplier[oc], p->shift[oc]);
    }
    memset(patch + fan_in, zu, (size_t)(row_bytes * 4 - fan_in));
    const int32_t row_len = kw * ic;
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++, o += out_c) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int cols_inside = ix0 >= 0 && ix0 + kw <= iw;
            uint8_t *d = patch;
            for (int32_t ky = 0; ky < kh; ky++, d += row_len) {
                const int32_t iy = iy0 + ky;
                if (iy < 0 || iy >= ih) {
                    memset(d, zu, (size_t)row_len);
                    continue;
                }
                const int8_t *src = input + iy * iw * ic; /* the image row; the window starts at ix0 */
                if (cols_inside) {
                    int32_t j = 0;
                    for (; j + 4 <= row_len; j += 4) tk_store32(d + j, tk_load32(src + ix0 * ic + j) ^ 0x80808080u);
                    for (; j < row_len; j++) d[j] = (uint8_t)(src[ix0 * ic + j] + 128);
                    continue;
                }
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx;
                    if (ix < 0 || ix >= iw)
                        memset(d + kx * ic, zu, (size_t)ic);
                    else
                        for (int32_t c = 0; c < ic; c++) d[kx * ic + c] = (uint8_t)(src[ix * ic + c] + 128);
                }
            }
            int32_t oc = 0;
            for (; oc + 2 <= out_c; oc += 2) {
                const uint8_t *r0 = packed + oc * row_bytes, *r1 = r0 + row_bytes, *x = patch;
                uint32_t p0 = 0, m0 = 0, p1 = 0, m1 = 0;
                for (int32_t b = 0; b < row_bytes; b++, x += 4) {
                    const uint32_t u = tk_load32(x), c0 = r0[b], c1 = r1[b];
                    p0 = tk_usada8(u & plus_masks[c0], 0, p0);
                    m0 = tk_usada8(u & minus_masks[c0], 0, m0);
                    p1 = tk_usada8(u & plus_masks[c1], 0, p1);
                    m1 = tk_usada8(u & minus_masks[c1], 0, m1);
                }
                o[oc] = (int8_t)tk_rq_apply((int32_t)((uint32_t)fold[oc] + p0 - m0), &rq[oc], zo, lo, hi);
                o[oc + 1] = (int8_t)tk_rq_apply((int32_t)((uint32_t)fold[oc + 1] + p1 - m1), &rq[oc + 1], zo, lo, hi);
            }
            if (oc < out_c) {
                const uint8_t *r0 = packed + oc * row_bytes, *x = patch;
                uint32_t p0 = 0, m0 = 0;
                for (int32_t b = 0; b < row_bytes; b++, x += 4) {
                    const uint32_t u = tk_load32(x), c0 = r0[b];
                    p0 = tk_usada8(u & plus_masks[c0], 0, p0);
                    m0 = tk_usada8(u & minus_masks[c0], 0, m0);
                }
                o[oc] = (int8_t)tk_rq_apply((int32_t)((uint32_t)fold[oc] + p0 - m0), &rq[oc], zo, lo, hi);
            }
        }
    }
    return TERN_OK;
}

tern_status tern_conv_t2(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output)
{
#if TERN_KERNELS_DSP
    return tern_conv_t2_dsp(p, packed, input, output);
#else
    return tern_conv_t2_ref(p, packed, input, output);
#endif
}

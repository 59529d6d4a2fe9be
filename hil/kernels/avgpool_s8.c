/* tern_avgpool_s8: average pooling and global average pooling on int8 codes (C#: AvgPoolS8).
 * acc = sum (q_in - z_in) over the window, then requantize with the layer's single (M, S), which approximates
 * s_in / (s_out * window): no division. A padded position holds real zero: it adds nothing to acc but counts in
 * the window (count_include_pad). */
#include "tern_kernels_internal.h"

/* The portable body: plain C, no scratch. Per output pixel the window is clipped to the input once; raw codes are
 * summed four channels at a time and the zero point removed once per output (z_in times the taps summed). */
tern_status tern_avgpool_s8_ref(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_pool(p, 1, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, row_step = iw * ch;
    const int32_t m = p->multiplier, s = p->shift, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = tk_first_tap(iy0), ky1 = tk_end_tap(iy0, kh, ih);
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = tk_first_tap(ix0), kx1 = tk_end_tap(ix0, kw, iw);
            const int32_t offset = (ky1 - ky0) * (kx1 - kx0) * p->input_zero;
            const int8_t *x = input + ((iy0 + ky0) * iw + ix0 + kx0) * ch; /* the clipped window's corner */
            const int32_t cols = (kx1 - kx0) * ch;
            int32_t c = 0;
            for (; c + 4 <= ch; c += 4) {
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                const int8_t *row = x + c;
                for (int32_t ky = ky0; ky < ky1; ky++, row += row_step)
                    for (int32_t j = 0; j < cols; j += ch) {
                        a0 += row[j];
                        a1 += row[j + 1];
                        a2 += row[j + 2];
                        a3 += row[j + 3];
                    }
                o[c] = (int8_t)tk_requantize_portable(a0 - offset, m, s, zo, lo, hi);
                o[c + 1] = (int8_t)tk_requantize_portable(a1 - offset, m, s, zo, lo, hi);
                o[c + 2] = (int8_t)tk_requantize_portable(a2 - offset, m, s, zo, lo, hi);
                o[c + 3] = (int8_t)tk_requantize_portable(a3 - offset, m, s, zo, lo, hi);
            }
            for (; c < ch; c++) {
                int32_t acc = 0;
                const int8_t *row = x + c;
                for (int32_t ky = ky0; ky < ky1; ky++, row += row_step)
                    for (int32_t j = 0; j < cols; j += ch) acc += row[j];
                o[c] = (int8_t)tk_requantize_portable(acc - offset, m, s, zo, lo, hi);
            }
        }
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

/* The lanes' form of the requantization (see avgpool_lanes): M, R = 2^(t-1) + z_out * 2^t and t = S - 16. */
typedef struct {
    int32_t m, r, t, lo, hi;
} tk_lane_rq;

static inline void tk_lane_out(int8_t *o, uint32_t s02, uint32_t s13, const tk_lane_rq *q)
{
    const int32_t v0 = tk_smlawb(q->m, s02, q->r) >> q->t, v1 = tk_smlawb(q->m, s13, q->r) >> q->t;
    const int32_t v2 = tk_smlawt(q->m, s02, q->r) >> q->t, v3 = tk_smlawt(q->m, s13, q->r) >> q->t;
    o[0] = (int8_t)(v0 < q->lo ? q->lo : v0 > q->hi ? q->hi : v0);
    o[1] = (int8_t)(v1 < q->lo ? q->lo : v1 > q->hi ? q->hi : v1);
    o[2] = (int8_t)(v2 < q->lo ? q->lo : v2 > q->hi ? q->hi : v2);
    o[3] = (int8_t)(v3 < q->lo ? q->lo : v3 > q->hi ? q->hi : v3);
}

/* One pass of avgpool_lanes over `words` words of channels (4 * words channels) of one window; words is a constant
 * at each call, so the accumulators stay in registers: per tap `words` loads and 2 * words SXTAB16. */
static inline __attribute__((always_inline)) void avgpool_pass(const int8_t *corner, int32_t kh, int32_t kw,
                                                               int32_t ch, int32_t row_step, uint32_t start,
                                                               const tk_lane_rq *q, int8_t *o, const int words)
{
    uint32_t s[8];
#pragma GCC unroll 8
    for (int w = 0; w < 2 * words; w++) s[w] = start;
    const int8_t *row = corner;
    for (int32_t ky = 0; ky < kh; ky++, row += row_step) {
        const int8_t *x = row, *const stop = row + kw * ch;
        do {
#pragma GCC unroll 4
            for (int w = 0; w < words; w++) {
                const uint32_t v = tk_load32(x + 4 * w);
                s[2 * w] = tk_sxtab16(s[2 * w], v);
                s[2 * w + 1] = tk_sxtab16_ror8(s[2 * w + 1], v);
            }
            x += ch;
        } while (x != stop);
    }
    /* not unrolled: the requantization is written once (flash), the sums leave their registers for it */
#pragma GCC unroll 1
    for (int w = 0; w < words; w++) tk_lane_out(o + 4 * w, s[2 * w], s[2 * w + 1], q);
}

/* A layer without padding, channels a multiple of four and windows of at most 128 taps, summed in int16 lanes and
 * requantized in them: each lane starts at -offset, so it ends holding sum (q - z_in) itself (|sum| <= 255 * 128 <
 * 32768), and SMLAWB / SMLAWT requantize it in place: with t = S - 16 and R = 2^(t-1) + z_out * 2^t,
 * (floor(acc * M / 2^16) + R) >> t = floor((acc * M + 2^(S-1)) / 2^S) + z_out (nested floors, as in tern_baked.h);
 * |acc * M / 2^16| < 2^30 and |R| < 2^30 keep the sum in int32. Up to 16 channels a pass, each tap's words loaded
 * once. Returns 0, having written nothing, where these conditions do not hold. */
static __attribute__((noinline)) int avgpool_lanes(const tern_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t iw = p->in_w, ch = p->in_c, kh = p->kernel_h, kw = p->kernel_w, row_step = iw * ch;
    const int32_t taps = kh * kw, t = (int32_t)p->shift - 16;
    if (ch % 4 != 0 || taps > 128 || t < 1 || t > 31) return 0;
    const int64_t r64 = ((int64_t)1 << (t - 1)) + (int64_t)p->output_zero * ((int64_t)1 << t);
    if (r64 <= -((int64_t)1 << 30) || r64 >= ((int64_t)1 << 30)) return 0;
    const tk_lane_rq q = {p->multiplier, (int32_t)r64, t, p->act_min, p->act_max};
    const int32_t offset = taps * p->input_zero;
    const uint32_t start = tk_pack16(-offset, -offset);
    const int32_t step_x = p->stride_w * ch, step_y = p->stride_h * row_step;
    int8_t *o = output;
    const int8_t *line = input;
    for (int32_t oy = 0; oy < p->out_h; oy++, line += step_y) {
        const int8_t *corner = line;
        for (int32_t ox = 0; ox < p->out_w; ox++, corner += step_x) {
            int32_t c = 0;
            for (; c + 16 <= ch; c += 16, o += 16) avgpool_pass(corner + c, kh, kw, ch, row_step, start, &q, o, 4);
            for (; c < ch; c += 4, o += 4) avgpool_pass(corner + c, kh, kw, ch, row_step, start, &q, o, 1);
        }
    }
    return 1;
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

/* One channel, windows two codes wide at a stride of two, no padding (a 2 x 2 input pool): two outputs per word,
 * both row sums in the lanes of one register (SXTAB16 adds codes 0 and 2, SXTAB16 ROR #8 codes 1 and 3), exact
 * while kh * 2 * 128 < 2^15; an odd last column from its two codes. */
static __attribute__((noinline)) void avgpool_single_pairs(const tern_pool_params *p, const int8_t *input,
                                                           int8_t *output)
{
    const int32_t iw = p->in_w, kh = p->kernel_h, out_w = p->out_w, row_step = p->stride_h * iw;
    const int32_t offset = kh * 2 * p->input_zero, zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    tk_rq rq;
    tk_rq_prepare(&rq, p->multiplier, p->shift);
    int8_t *o = output;
    const int8_t *line = input;
    for (int32_t oy = 0; oy < p->out_h; oy++, line += row_step) {
        const int8_t *corner = line;
        for (int32_t n = out_w / 2; n > 0; n--, corner += 4) {
            const int8_t *row = corner, *const end = row + kh * iw;
            uint32_t s = 0;
            do {
                const uint32_t v = tk_load32(row);
                s = tk_sxtab16_ror8(tk_sxtab16(s, v), v);
                row += iw;
            } while (row != end);
            *o++ = (int8_t)tk_rq_apply(tk_lane_lo(s) - offset, &rq, zo, lo, hi);
            *o++ = (int8_t)tk_rq_apply(tk_lane_hi(s) - offset, &rq, zo, lo, hi);
        }
        if (out_w & 1) { /* the last column alone: its word could run past the input */
            int32_t acc = 0;
            for (int32_t ky = 0; ky < kh; ky++) acc += corner[ky * iw] + corner[ky * iw + 1];
            *o++ = (int8_t)tk_rq_apply(acc - offset, &rq, zo, lo, hi);
        }
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
        const int32_t ky0 = tk_first_tap(iy0), ky1 = tk_end_tap(iy0, kh, ih);
        for (int32_t ox = 0; ox < p->out_w; ox++, o += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = tk_first_tap(ix0), kx1 = tk_end_tap(ix0, kw, iw);
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
    else if (p->in_c == 1 && p->kernel_w == 2 && p->stride_w == 2 && p->kernel_h < 128)
        avgpool_single_pairs(p, input, output);
    else if (p->in_c == 1 && p->kernel_h * p->kernel_w <= 256)
        avgpool_whole_single(p, input, output);
    else if (!avgpool_lanes(p, input, output))
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

/* tern_conv_s8: Conv, Pointwise and Dense with int8 weights (C#: ConvS8).
 * acc = bias[oc] + sum (q_in - z_in) * w[oc][ky][kx][ic] over in-bounds taps, then requantize. */
#include "tern_kernels_internal.h"

/* The portable body: plain C, no scratch, written for what a compiler makes of it on a core without DSP
 * instructions. Per output pixel the window is clipped to the input once (padding taps are skipped, so they add
 * nothing), and output channels go four at a time: each input byte is loaded and has z_in subtracted once for
 * the four, then one load and one multiply-accumulate per weight. Requantization in plain C
 * (tk_requantize_portable: the top word of an int64 product). */
tern_status tern_conv_s8_ref(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_conv(p, 0, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, kh = p->kernel_h, kw = p->kernel_w, out_c = p->out_c;
    const int32_t row_len = kw * ic, row_step = iw * ic, fan_in = kh * row_len, zi = p->input_zero;
    const int32_t zo = p->output_zero, lo = p->act_min, hi = p->act_max;
    /* the parameters in locals: the byte stores below may alias *p as far as the compiler knows */
    const int32_t *const bias = p->bias, *const mult = p->multiplier;
    const uint8_t *const shift = p->shift;
    const int32_t out_h = p->out_h, out_w = p->out_w, sh = p->stride_h, sw = p->stride_w;
    const int32_t pt = p->pad_top, pl = p->pad_left;
    int8_t *o = output;
    for (int32_t oy = 0; oy < out_h; oy++) {
        const int32_t iy0 = oy * sh - pt;
        const int32_t ky0 = tk_first_tap(iy0), ky1 = tk_end_tap(iy0, kh, ih);
        for (int32_t ox = 0; ox < out_w; ox++, o += out_c) {
            const int32_t ix0 = ox * sw - pl;
            const int32_t j0 = tk_first_tap(ix0) * ic, j1 = tk_end_tap(ix0, kw, iw) * ic;
            /* row ky of the window starts at x + ky * row_step (only [j0, j1) of it is read) */
            const int8_t *x = input + (iy0 * iw + ix0) * ic;
            int32_t oc = 0;
            for (; oc + 4 <= out_c; oc += 4) {
                const int8_t *w = weights + oc * fan_in;
                int32_t a0 = bias[oc], a1 = bias[oc + 1], a2 = bias[oc + 2], a3 = bias[oc + 3];
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = x + ky * row_step, *w0 = w + ky * row_len;
                    const int8_t *w1 = w0 + fan_in, *w2 = w1 + fan_in, *w3 = w2 + fan_in;
                    for (int32_t j = j0; j < j1; j++) {
                        const int32_t v = xr[j] - zi;
                        a0 += v * w0[j];
                        a1 += v * w1[j];
                        a2 += v * w2[j];
                        a3 += v * w3[j];
                    }
                }
                o[oc] = (int8_t)tk_requantize_portable(a0, mult[oc], shift[oc], zo, lo, hi);
                o[oc + 1] = (int8_t)tk_requantize_portable(a1, mult[oc + 1], shift[oc + 1], zo, lo, hi);
                o[oc + 2] = (int8_t)tk_requantize_portable(a2, mult[oc + 2], shift[oc + 2], zo, lo, hi);
                o[oc + 3] = (int8_t)tk_requantize_portable(a3, mult[oc + 3], shift[oc + 3], zo, lo, hi);
            }
            for (; oc < out_c; oc++) {
                const int8_t *w = weights + oc * fan_in;
                int32_t acc = bias[oc];
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = x + ky * row_step, *wr = w + ky * row_len;
                    for (int32_t j = j0; j < j1; j++) acc += (xr[j] - zi) * wr[j];
                }
                o[oc] = (int8_t)tk_requantize_portable(acc, mult[oc], shift[oc], zo, lo, hi);
            }
        }
    }
    return TERN_OK;
}

/* The DSP body. Where the layer has more than one output pixel, the weights are expanded once per call into the
 * scratch as int16 pairs (w0, w2), (w1, w3) per four taps, interleaved by blocks of four output channels, each
 * kernel row padded to whole words when that costs no more groups of four, and each channel's accumulator starts
 * at bias - z_in * sum w. Then per output pixel the window is widened once into the matching pairs of raw codes,
 * SXTB16 and SXTB16 ROR #8 per word, straight from the input for interior windows of padded rows (a row's extra
 * bytes meet zero weights; z_in in the padding is cancelled by the start), and the inner loop is, per four taps
 * and four channels: one double load of the patch, four double loads of weights from one stream, eight SMLAD.
 * A one-pixel layer (Dense) streams its int8 weights from flash instead (one load and two SXTB16 per four
 * weights: each is used once) against pairs (x - z_in) (two SSUB16 more per four codes). Requantization is tk_rqz
 * (SMMLA, ASR, SSAT or the clamp); a layer with a shift outside its range runs the portable body. On a host the
 * instructions are emulated (tern_kernels_internal.h): the same structure. */

/* The window of output pixel (iy0, ix0) as bytes in fan-in order (ky, kx, c), row ky at ky * pitch, byte by byte:
 * positions outside the image hold z_in. For the windows the pixel loop does not copy a word at a time (border, end of the input). */
static void conv_s8_gather(const tern_conv_params *p, const int8_t *input, int32_t iy0, int32_t ix0, int32_t pitch,
                           uint8_t *bytes)
{
    const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, kh = p->kernel_h, kw = p->kernel_w;
    const int32_t row_len = kw * ic;
    const uint8_t zu = (uint8_t)p->input_zero;
    const int cols_inside = ix0 >= 0 && ix0 + kw <= iw;
    uint8_t *d = bytes;
    for (int32_t ky = 0; ky < kh; ky++, d += pitch) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= ih) {
            memset(d, zu, (size_t)row_len);
            continue;
        }
        if (cols_inside) {
            const int8_t *src = input + (iy * iw + ix0) * ic;
            for (int32_t j = 0; j < row_len; j++) d[j] = (uint8_t)src[j];
            continue;
        }
        for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t ix = ix0 + kx;
            if (ix < 0 || ix >= iw)
                memset(d + kx * ic, zu, (size_t)ic);
            else
                for (int32_t c = 0; c < ic; c++) d[kx * ic + c] = (uint8_t)input[(iy * iw + ix) * ic + c];
        }
    }
}

/* groups of four bytes -> int16 pairs (x0 - z, x2 - z), (x1 - z, x3 - z); zz holds z_in in both halfwords */
static inline void conv_s8_widen(const uint8_t *bytes, int32_t groups, uint32_t zz, uint32_t *patch)
{
    for (int32_t g = 0; g < groups; g++, patch += 2) {
        const uint32_t v = tk_load32(bytes + 4 * g);
        patch[0] = tk_ssub16(tk_sxtb16(v), zz);
        patch[1] = tk_ssub16(tk_sxtb16_ror8(v), zz);
    }
}

/* One pixel's outputs from expanded weights: blocks of four channels, then the rest one at a time. */
static inline __attribute__((always_inline)) void conv_s8_expanded(const uint32_t *patch, const uint32_t *w,
                                                                   const int32_t *acc0, const tk_rqz *rq,
                                                                   int32_t groups, int32_t out_c, int32_t lo,
                                                                   int32_t hi, int8_t *o, const int full)
{
    const uint32_t *patch_end = patch + 2 * groups;
    int32_t oc = 0;
    for (; oc + 4 <= out_c; oc += 4, rq += 4, o += 4, acc0 += 4) {
#if TK_HAVE_DSP
        /* the loop below, register-allocated by hand (gcc spilled two accumulators inside it, and moved the four
         * starting values between registers): two double loads start the accumulators; per group five double
         * loads, eight SMLAD, compare and branch; groups >= 1 always */
        const uint32_t *x = patch;
        int32_t a0, a1, a2, a3;
        uint32_t x02, x13, u, v;
        __asm__ volatile("ldrd %[a0], %[a1], [%[b]]\n\t"
                         "ldrd %[a2], %[a3], [%[b], #8]\n"
                         "1:\n\t"
                         "ldrd %[x02], %[x13], [%[x]], #8\n\t"
                         "ldrd %[u], %[v], [%[w]], #8\n\t"
                         "smlad %[a0], %[u], %[x02], %[a0]\n\t"
                         "smlad %[a0], %[v], %[x13], %[a0]\n\t"
                         "ldrd %[u], %[v], [%[w]], #8\n\t"
                         "smlad %[a1], %[u], %[x02], %[a1]\n\t"
                         "smlad %[a1], %[v], %[x13], %[a1]\n\t"
                         "ldrd %[u], %[v], [%[w]], #8\n\t"
                         "smlad %[a2], %[u], %[x02], %[a2]\n\t"
                         "smlad %[a2], %[v], %[x13], %[a2]\n\t"
                         "ldrd %[u], %[v], [%[w]], #8\n\t"
                         "smlad %[a3], %[u], %[x02], %[a3]\n\t"
                         "smlad %[a3], %[v], %[x13], %[a3]\n\t"
                         "cmp %[x], %[end]\n\t"
                         "bne 1b"
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x] "+r"(x), [w] "+r"(w),
                           [x02] "=&r"(x02), [x13] "=&r"(x13), [u] "=&r"(u), [v] "=&r"(v)
                         : [end] "r"(patch_end), [b] "r"(acc0)
                         : "cc", "memory");
#else
        int32_t a0 = acc0[0], a1 = acc0[1], a2 = acc0[2], a3 = acc0[3];
        for (const uint32_t *x = patch; x < patch_end; x += 2, w += 8) {
            const uint32_t x02 = x[0], x13 = x[1];
            a0 = tk_smlad(w[0], x02, a0);
            a0 = tk_smlad(w[1], x13, a0);
            a1 = tk_smlad(w[2], x02, a1);
            a1 = tk_smlad(w[3], x13, a1);
            a2 = tk_smlad(w[4], x02, a2);
            a2 = tk_smlad(w[5], x13, a2);
            a3 = tk_smlad(w[6], x02, a3);
            a3 = tk_smlad(w[7], x13, a3);
        }
#endif
        o[0] = (int8_t)tk_rqz_apply(a0, &rq[0], lo, hi, full);
        o[1] = (int8_t)tk_rqz_apply(a1, &rq[1], lo, hi, full);
        o[2] = (int8_t)tk_rqz_apply(a2, &rq[2], lo, hi, full);
        o[3] = (int8_t)tk_rqz_apply(a3, &rq[3], lo, hi, full);
    }
    for (; oc < out_c; oc++, rq++, o++, acc0++) {
        const uint32_t *x = patch;
        int32_t a0 = acc0[0];
        for (int32_t g = 0; g < groups; g++, x += 2, w += 2) {
            a0 = tk_smlad(w[0], x[0], a0);
            a0 = tk_smlad(w[1], x[1], a0);
        }
        o[0] = (int8_t)tk_rqz_apply(a0, &rq[0], lo, hi, full);
    }
}

/* What a run of pixels shares (conv_s8_run). */
typedef struct {
    const uint32_t *wt;
    const int32_t *acc0; /* per channel: bias - z_in * sum w (the patches hold raw codes) */
    const tk_rqz *rq;
    uint32_t *patch;
    int32_t groups, out_c, lo, hi, kh, pitch, row_step, step;
} conv_s8_run_args;

/* n output pixels of one row from expanded weights, their windows at src, src + step, ... in rows at a pitch
 * of whole words, each widened straight from the input (the bytes past a row's end meet zero weights); or, with
 * src NULL, one pixel whose patch is already widened. One call per run keeps the per-pixel work to the widening
 * and the channels. */
static inline __attribute__((always_inline)) void conv_s8_run(const conv_s8_run_args *a, const int8_t *src, int32_t n,
                                                              int8_t *o, const int full)
{
    /* locals, not a->: the patch stores could alias *a as far as the compiler knows, and it would reload them */
    uint32_t *const patch = a->patch;
    const uint32_t *const wt = a->wt;
    const int32_t *const acc0 = a->acc0;
    const tk_rqz *const rq = a->rq;
    const int32_t words = a->pitch / 4, kh = a->kh, row_step = a->row_step, step = a->step;
    const int32_t groups = a->groups, out_c = a->out_c, lo = a->lo, hi = a->hi;
    for (; n > 0; n--, o += out_c) {
        if (src) {
            /* raw codes sign-extended (z_in is in acc0); a row of one word (a 3x3 window on one channel) unrolled */
            const int8_t *r = src;
            uint32_t *d = patch;
            if (words == 1)
                for (int32_t ky = 0; ky < kh; ky++, r += row_step, d += 2) {
                    const uint32_t v = tk_load32(r);
                    d[0] = tk_sxtb16(v);
                    d[1] = tk_sxtb16_ror8(v);
                }
            else
                for (int32_t ky = 0; ky < kh; ky++, r += row_step)
                    for (int32_t j = 0; j < words; j++, d += 2) {
                        const uint32_t v = tk_load32(r + 4 * j);
                        d[0] = tk_sxtb16(v);
                        d[1] = tk_sxtb16_ror8(v);
                    }
            src += step;
        }
        conv_s8_expanded(patch, wt, acc0, rq, groups, out_c, lo, hi, o, full);
    }
}

static void __attribute__((noinline)) conv_s8_run_full(const conv_s8_run_args *a, const int8_t *src, int32_t n,
                                                       int8_t *o)
{
    conv_s8_run(a, src, n, o, 1);
}

static void __attribute__((noinline)) conv_s8_run_clamp(const conv_s8_run_args *a, const int8_t *src, int32_t n,
                                                        int8_t *o)
{
    conv_s8_run(a, src, n, o, 0);
}

/* One pixel's outputs from the int8 weights in place: full groups of four on SMLAD, the rest one by one (a
 * one-pixel layer: its requantization is not worth a second copy for the whole-range clamp). */
static void conv_s8_streamed(const uint32_t *patch, const uint8_t *bytes, const int8_t *weights, const tk_rqz *rq,
                             int32_t fan_in, int32_t zi, int32_t out_c, int32_t lo, int32_t hi, int8_t *o)
{
    const int32_t full_groups = fan_in / 4, tail = fan_in % 4;
    const uint8_t *rest = bytes + 4 * full_groups;
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *w0 = weights + oc * fan_in, *w1 = w0 + fan_in;
        const uint32_t *x = patch;
        int32_t a0 = rq[oc].acc0, a1 = rq[oc + 1].acc0;
        for (int32_t g = 0; g < full_groups; g++, x += 2, w0 += 4, w1 += 4) {
            const uint32_t x02 = x[0], x13 = x[1], u0 = tk_load32(w0), u1 = tk_load32(w1);
            a0 = tk_smlad(tk_sxtb16(u0), x02, a0);
            a0 = tk_smlad(tk_sxtb16_ror8(u0), x13, a0);
            a1 = tk_smlad(tk_sxtb16(u1), x02, a1);
            a1 = tk_smlad(tk_sxtb16_ror8(u1), x13, a1);
        }
        for (int32_t t = 0; t < tail; t++) {
            const int32_t v = (int8_t)rest[t] - zi;
            a0 += v * w0[t];
            a1 += v * w1[t];
        }
        o[oc] = (int8_t)tk_rqz_apply(a0, &rq[oc], lo, hi, 0);
        o[oc + 1] = (int8_t)tk_rqz_apply(a1, &rq[oc + 1], lo, hi, 0);
    }
    if (oc < out_c) {
        const int8_t *w0 = weights + oc * fan_in;
        const uint32_t *x = patch;
        int32_t a0 = rq[oc].acc0;
        for (int32_t g = 0; g < full_groups; g++, x += 2, w0 += 4) {
            const uint32_t u0 = tk_load32(w0);
            a0 = tk_smlad(tk_sxtb16(u0), x[0], a0);
            a0 = tk_smlad(tk_sxtb16_ror8(u0), x[1], a0);
        }
        for (int32_t t = 0; t < tail; t++) a0 += ((int8_t)rest[t] - zi) * w0[t];
        o[oc] = (int8_t)tk_rqz_apply(a0, &rq[oc], lo, hi, 0);
    }
}

/* The pixel loop; `full`: the layer clamps to [-128, 127] (its expanded outputs take the SSAT copy). */
static void conv_s8_pixels(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output,
                           const tk_rqz *rq, uint32_t *patch, uint8_t *bytes, const uint32_t *wt,
                           const int32_t *acc0, int32_t pitch, int full)
{
    const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, kh = p->kernel_h, kw = p->kernel_w, out_c = p->out_c;
    const int32_t fan_in = kh * kw * ic, groups = (kh * pitch + 3) / 4, zi = p->input_zero, lo = p->act_min;
    const int32_t hi = p->act_max, row_len = kw * ic, row_step = iw * ic, in_bytes = ih * iw * ic;
    const int32_t sw = p->stride_w, pl = p->pad_left, out_w = p->out_w;
    const uint32_t zz = tk_pack16(zi, zi);
    const conv_s8_run_args args = {wt, acc0, rq, patch, groups, out_c, lo, hi, kh, pitch, row_step, sw * ic};
    void (*const run)(const conv_s8_run_args *, const int8_t *, int32_t, int8_t *) =
        full ? conv_s8_run_full : conv_s8_run_clamp;
    /* the word-wise reads of an interior window end this far past its corner */
    const int32_t reach = (kh - 1) * row_step + ((row_len + 3) & ~3);
    /* rows whose windows widen straight from the input: whole words (expanded weights follow the pitch) */
    const int direct = wt && (pitch != row_len || row_len % 4 == 0);
    /* output columns whose windows lie inside the input's width: [ox_lo, ox_hi) */
    const int32_t ox_lo = (pl + sw - 1) / sw, ox_hi_w = iw - kw + pl >= 0 ? (iw - kw + pl) / sw + 1 : 0;
    int8_t *o = output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t run_lo = 0, run_hi = 0; /* the row's run of interior windows, [run_lo, run_hi) */
        if (direct && iy0 >= 0 && iy0 + kh <= ih) {
            /* also every word read inside the input: corner + reach <= in_bytes */
            const int32_t room = in_bytes - reach - (iy0 * iw - pl) * ic;
            const int32_t ox_hi_r = room >= 0 ? room / (sw * ic) + 1 : 0;
            run_lo = ox_lo;
            run_hi = ox_hi_w < ox_hi_r ? ox_hi_w : ox_hi_r;
            if (run_hi > out_w) run_hi = out_w;
            if (run_hi < run_lo) run_hi = run_lo;
        }
        for (int32_t ox = 0; ox < out_w; ox++, o += out_c) {
            if (ox == run_lo && run_hi > run_lo) {
                run(&args, input + (iy0 * iw + ox * sw - pl) * ic, run_hi - run_lo, o);
                o += (run_hi - run_lo - 1) * out_c;
                ox = run_hi - 1;
                continue;
            }
            const int32_t ix0 = ox * sw - pl, corner = (iy0 * iw + ix0) * ic;
            if (iy0 >= 0 && iy0 + kh <= ih && ix0 >= 0 && ix0 + kw <= iw && corner + reach <= in_bytes &&
                pitch == row_len) {
                /* packed rows: each copied a word at a time (a copy may run past its row; the next row, or the
                 * slack behind the bytes, takes the extra bytes) */
                const int8_t *src = input + corner;
                uint8_t *d = bytes;
                for (int32_t ky = 0; ky < kh; ky++, src += row_step, d += row_len)
                    for (int32_t j = 0; j < row_len; j += 4) tk_store32(d + j, tk_load32(src + j));
            } else
                conv_s8_gather(p, input, iy0, ix0, pitch, bytes);
            conv_s8_widen(bytes, groups, wt ? 0u : zz, patch); /* expanded weights: z_in is in acc0 */
            if (wt)
                run(&args, NULL, 1, o);
            else
                conv_s8_streamed(patch, bytes, weights, rq, fan_in, zi, out_c, lo, hi, o);
        }
    }
}

tern_status tern_conv_s8_dsp(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output)
{
    tern_status st = tk_check_conv(p, 0, weights, input, output);
    if (st != TERN_OK) return st;
    const int32_t out_c = p->out_c, kh = p->kernel_h, row_len = p->kernel_w * p->in_c, fan_in = kh * row_len;
    /* The patch layout: rows packed one after another (pitch = row length), or each row padded to whole words
     * (pitch rounded up), which lets interior windows skip the byte copy; padded where that costs no more
     * groups of four (expanded weights only: they follow the layout, the int8 weights in flash do not). */
    const int32_t wide = (row_len + 3) & ~3, padded = kh * wide <= ((fan_in + 3) & ~3);
    const int32_t expandable = p->out_h * p->out_w > 1, pitch = expandable && padded ? wide : row_len;
    const int32_t groups = (kh * pitch + 3) / 4;
    /* scratch: rq[out_c], patch (groups pairs), bytes (groups words + slack), expanded weights, acc0[out_c] */
    const uint32_t rq_bytes = (uint32_t)out_c * sizeof(tk_rqz);
    const uint32_t patch_bytes = (uint32_t)groups * 8u, bytes_bytes = (uint32_t)groups * 4u + 8u;
    const uint32_t wt_bytes = (uint32_t)out_c * (uint32_t)groups * 8u;
    const uint32_t base = rq_bytes + patch_bytes + bytes_bytes;
    if (base > TERN_SCRATCH_BYTES) return tern_conv_s8_ref(p, weights, input, output);
    tk_rqz *rq = (tk_rqz *)tern_scratch;
    for (int32_t oc = 0; oc < out_c; oc++)
        if (!tk_rqz_prepare(&rq[oc], p->bias[oc], p->multiplier[oc], p->shift[oc], p->output_zero))
            return tern_conv_s8_ref(p, weights, input, output);
    uint32_t *patch = (uint32_t *)((uint8_t *)tern_scratch + rq_bytes);
    uint8_t *bytes = (uint8_t *)patch + patch_bytes;
    uint32_t *wt = NULL;
    int32_t *acc0 = NULL;
    if (expandable && base + wt_bytes + (uint32_t)out_c * 4u <= TERN_SCRATCH_BYTES) {
        /* blocks of four channels interleaved per group: (c0 w02, c0 w13, c1 w02, ..., c3 w13); then one by one.
         * Position k of the patch holds tap (k / pitch, k % pitch): a zero weight past a row's end. */
        wt = (uint32_t *)(bytes + bytes_bytes);
        uint32_t *d = wt;
        for (int32_t oc = 0; oc < out_c;) {
            const int32_t block = out_c - oc >= 4 ? 4 : 1;
            for (int32_t g = 0; g < groups; g++)
                for (int32_t b = 0; b < block; b++, d += 2) {
                    const int8_t *w = weights + (oc + b) * fan_in;
                    int32_t v[4];
                    for (int32_t i = 0; i < 4; i++) {
                        const int32_t k = 4 * g + i, ky = k / pitch, j = k % pitch;
                        v[i] = ky < kh && j < row_len ? w[ky * row_len + j] : 0;
                    }
                    d[0] = tk_pack16(v[0], v[2]);
                    d[1] = tk_pack16(v[1], v[3]);
                }
            oc += block;
        }
        /* the accumulators start at bias - z_in * sum w, so the patches hold raw codes (padding: z_in, cancelled) */
        acc0 = (int32_t *)(wt + out_c * groups * 2);
        for (int32_t oc = 0; oc < out_c; oc++) {
            int32_t sum = 0;
            for (int32_t k = 0; k < fan_in; k++) sum += weights[oc * fan_in + k];
            acc0[oc] = (int32_t)((uint32_t)p->bias[oc] - (uint32_t)(p->input_zero * sum));
        }
    } else if (pitch != row_len)
        return tern_conv_s8_ref(p, weights, input, output); /* padded rows need the expanded weights: no room */
    conv_s8_pixels(p, weights, input, output, rq, patch, bytes, wt, acc0, pitch,
                   p->act_min == -128 && p->act_max == 127);
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

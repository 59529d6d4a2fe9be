/* Tern feature-map encoder, bit-exact with the F# Codec.encode. See tern_codec.h and docs/codec.md. Every tie-break
 * below is the F# one; the comments name the F# function each part mirrors. */
#include "tern_codec.h"

#include <string.h>

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>
#define TERN_CODEC_USADA8 1
/* Four codes biased to unsigned (x ^ 0x80 keeps every difference), from any alignment. */
static uint32_t load_biased(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v ^ 0x80808080u;
}
#else
#define TERN_CODEC_USADA8 0
#endif

/* ---- small helpers ---- */

int32_t tern_codec_div_round(int32_t a, int32_t step)
{
    return a >= 0 ? (a + step / 2) / step : -((-a + step / 2) / step);
}

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* ceil(log2 alphabet), 0 for an alphabet of one (CodecEntropy.bitsFor). */
static uint32_t bits_for(uint32_t alphabet)
{
    uint32_t w = 0;
    while ((1ul << w) < alphabet) w++;
    return w;
}

static size_t align4(size_t n) { return (n + 3u) & ~(size_t)3u; }

/* ---- CRC-32 (IEEE, reflected 0xEDB88320), four bits at a time: 64 bytes of table instead of 1 KB ---- */

static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

static uint32_t crc32(const uint8_t *data, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < len; i++) {
        c ^= data[i];
        c = crc_nibble[c & 15u] ^ (c >> 4);
        c = crc_nibble[c & 15u] ^ (c >> 4);
    }
    return c ^ 0xFFFFFFFFu;
}

/* ---- MSB-first bit writer (BitWriter): pending bits right-aligned, flushed 32 at a time ---- */

typedef struct {
    uint8_t *out;
    size_t cap, len;
    uint64_t acc;
    uint32_t pending;
    int overflow;
} bit_writer_t;

static void put_byte(bit_writer_t *w, uint8_t b)
{
    if (w->len < w->cap)
        w->out[w->len++] = b;
    else
        w->overflow = 1;
}

/* Writes the low `width` bits of value (width <= 32), most significant first. */
static void bw_write(bit_writer_t *w, uint32_t value, uint32_t width)
{
    if (width == 0) return;
    w->acc = (w->acc << width) | ((uint64_t)value & ((1ull << width) - 1u));
    w->pending += width;
    if (w->pending >= 32) {
        uint32_t word;
        w->pending -= 32;
        word = (uint32_t)(w->acc >> w->pending);
        put_byte(w, (uint8_t)(word >> 24));
        put_byte(w, (uint8_t)(word >> 16));
        put_byte(w, (uint8_t)(word >> 8));
        put_byte(w, (uint8_t)word);
        w->acc &= (1ull << w->pending) - 1u;
    }
}

/* Pads to the byte boundary and flushes every pending byte. */
static void bw_finish(bit_writer_t *w)
{
    uint32_t pad = (8u - w->pending % 8u) % 8u, k, n;
    bw_write(w, 0, pad);
    n = w->pending / 8u;
    for (k = 0; k < n; k++) put_byte(w, (uint8_t)(w->acc >> (w->pending - 8u * (k + 1u))));
    w->pending = 0;
    w->acc = 0;
}

/* ---- Huffman code lengths (CodecEntropy.huffmanLengths) ---- */

typedef struct {
    uint32_t *counts;  /* [alphabet] */
    uint8_t *lengths;  /* [alphabet] */
    uint16_t *codes;   /* [alphabet] */
    uint16_t *leaves;  /* [alphabet]: used symbols by (count, symbol) ascending */
    uint16_t *order;   /* [alphabet]: used symbols by (count descending, symbol ascending) */
    uint32_t *weight;  /* [2 alphabet] */
    uint16_t *parent;  /* [2 alphabet] */
    uint16_t *depth;   /* [2 alphabet] */
    uint16_t *hist;    /* [alphabet + 16] */
} huff_scratch_t;

static size_t huff_scratch_bytes(uint32_t a)
{
    return align4(4u * a) + align4(a) + align4(2u * a) * 3u + align4(8u * a) + align4(4u * a) * 2u +
           align4(2u * (a + 16u));
}

static void huff_scratch_init(huff_scratch_t *h, uint8_t *p, uint32_t a)
{
    h->counts = (uint32_t *)(void *)p; p += align4(4u * a);
    h->lengths = p; p += align4(a);
    h->codes = (uint16_t *)(void *)p; p += align4(2u * a);
    h->leaves = (uint16_t *)(void *)p; p += align4(2u * a);
    h->order = (uint16_t *)(void *)p; p += align4(2u * a);
    h->weight = (uint32_t *)(void *)p; p += align4(8u * a);
    h->parent = (uint16_t *)(void *)p; p += align4(4u * a);
    h->depth = (uint16_t *)(void *)p; p += align4(4u * a);
    h->hist = (uint16_t *)(void *)p;
}

/* (count, symbol) ascending when ascending != 0, else (count descending, symbol ascending). Insertion sort: the
 * lists are short (at most one alphabet) and the keys are distinct, so the order is total. */
static void sort_symbols(uint16_t *xs, uint32_t n, const uint32_t *counts, int ascending)
{
    uint32_t i;
    for (i = 1; i < n; i++) {
        uint16_t x = xs[i];
        uint32_t j = i;
        while (j > 0) {
            uint16_t y = xs[j - 1];
            int before = ascending ? (counts[x] < counts[y] || (counts[x] == counts[y] && x < y))
                                   : (counts[x] > counts[y] || (counts[x] == counts[y] && x < y));
            if (!before) break;
            xs[j] = y;
            j--;
        }
        xs[j] = x;
    }
}

static void huffman_lengths(huff_scratch_t *h, uint32_t a)
{
    const uint32_t *counts = h->counts;
    uint32_t n = 0, s, i, len;
    memset(h->lengths, 0, a);
    for (s = 0; s < a; s++)
        if (counts[s] > 0) h->leaves[n++] = (uint16_t)s;
    if (n == 0) return;
    if (n == 1) {
        h->lengths[h->leaves[0]] = 1;
        return;
    }
    memcpy(h->order, h->leaves, 2u * n);
    sort_symbols(h->leaves, n, counts, 1);
    {
        /* Nodes 0..n-1 are leaves in sorted order, n.. internal nodes in creation order (two queues). */
        uint32_t total = 2u * n - 1u, next_leaf = 0, next_internal = n, created = n, longest = 0, top;
        for (i = 0; i < n; i++) h->weight[i] = counts[h->leaves[i]];
        while (created < total) {
            uint32_t pick[2], k;
            for (k = 0; k < 2; k++) {
                if (next_leaf < n && (next_internal >= created || h->weight[next_leaf] <= h->weight[next_internal]))
                    pick[k] = next_leaf++;
                else
                    pick[k] = next_internal++;
            }
            h->weight[created] = h->weight[pick[0]] + h->weight[pick[1]];
            h->parent[pick[0]] = (uint16_t)created;
            h->parent[pick[1]] = (uint16_t)created;
            created++;
        }
        h->depth[total - 1u] = 0;
        for (i = total - 1u; i-- > 0;) h->depth[i] = (uint16_t)(h->depth[h->parent[i]] + 1u);
        for (i = 0; i < n; i++)
            if (h->depth[i] > longest) longest = h->depth[i];
        top = longest > TERN_CODEC_MAX_CODE_LENGTH ? longest : TERN_CODEC_MAX_CODE_LENGTH;
        memset(h->hist, 0, 2u * (top + 1u));
        for (i = 0; i < n; i++) h->hist[h->depth[i]]++;
        /* JPEG Annex K.3: move pairs of the longest codes up; the Kraft sum stays 1. */
        for (i = longest; i > TERN_CODEC_MAX_CODE_LENGTH; i--) {
            while (h->hist[i] > 0) {
                uint32_t j = i - 2u;
                while (h->hist[j] == 0) j--;
                h->hist[i] -= 2u;
                h->hist[i - 1u] += 1u;
                h->hist[j + 1u] += 2u;
                h->hist[j] -= 1u;
            }
        }
        sort_symbols(h->order, n, counts, 0);
        s = 0;
        for (len = 1; len <= TERN_CODEC_MAX_CODE_LENGTH; len++)
            for (i = 0; i < h->hist[len]; i++) h->lengths[h->order[s++]] = (uint8_t)len;
    }
}

void tern_codec_huffman_lengths(const uint32_t *counts, uint32_t alphabet, uint8_t *lengths)
{
    static uint8_t scratch_bytes[4u * TERN_CODEC_MAX_ALPHABET * 8u + 64u]; /* host tests only */
    huff_scratch_t h;
    if (alphabet > TERN_CODEC_MAX_ALPHABET || huff_scratch_bytes(alphabet) > sizeof scratch_bytes) return;
    huff_scratch_init(&h, scratch_bytes, alphabet);
    memcpy(h.counts, counts, 4u * alphabet);
    huffman_lengths(&h, alphabet);
    memcpy(lengths, h.lengths, alphabet);
}

/* Canonical codes (CodecEntropy.canonicalCodes): symbols in (length, symbol) order get consecutive codes. */
static void canonical_codes(const uint8_t *lengths, uint16_t *codes, uint32_t a)
{
    uint32_t code = 0, previous = 0, len, s;
    for (len = 1; len <= TERN_CODEC_MAX_CODE_LENGTH; len++)
        for (s = 0; s < a; s++)
            if (lengths[s] == len) {
                code <<= (len - previous);
                previous = len;
                codes[s] = (uint16_t)code;
                code++;
            }
}

/* ---- section coders (CodecEntropy.write) ---- */

static void write_section(bit_writer_t *w, uint8_t coder, uint32_t alphabet, uint32_t zero, const uint16_t *sym,
                          uint32_t n, huff_scratch_t *h)
{
    uint32_t width = bits_for(alphabet), i;
    switch (coder) {
    case TERN_ENT_FIXED:
        for (i = 0; i < n; i++) bw_write(w, sym[i], width);
        break;
    case TERN_ENT_ZVC:
        for (i = 0; i < n; i++) bw_write(w, sym[i] != zero, 1);
        for (i = 0; i < n; i++)
            if (sym[i] != zero) bw_write(w, sym[i], width);
        break;
    case TERN_ENT_HUFFMAN:
        memset(h->counts, 0, 4u * alphabet);
        for (i = 0; i < n; i++) h->counts[sym[i]]++;
        huffman_lengths(h, alphabet);
        canonical_codes(h->lengths, h->codes, alphabet);
        for (i = 0; i < alphabet; i++) bw_write(w, h->lengths[i], 4);
        for (i = 0; i < n; i++) bw_write(w, h->codes[sym[i]], h->lengths[sym[i]]);
        break;
    default: { /* RLE: the run width with the fewest bits over the maximal runs, the smallest on a tie */
        uint64_t bits[16];
        uint32_t r, best = 1, start;
        memset(bits, 0, sizeof bits);
        for (start = 0; start < n;) {
            uint32_t end = start + 1;
            while (end < n && sym[end] == sym[start]) end++;
            for (r = 1; r <= 15; r++) bits[r] += (uint64_t)((end - start + (1u << r) - 1u) >> r) * (width + r);
            start = end;
        }
        for (r = 2; r <= 15; r++)
            if (bits[r] < bits[best]) best = r;
        bw_write(w, best, 4);
        for (start = 0; start < n;) {
            uint32_t end = start + 1, left;
            while (end < n && sym[end] == sym[start]) end++;
            for (left = end - start; left > 0;) {
                uint32_t run = left < (1u << best) ? left : (1u << best);
                bw_write(w, sym[start], width);
                bw_write(w, run - 1u, best);
                left -= run;
            }
            start = end;
        }
        break;
    }
    }
}

/* ---- motion (CodecMotion) ---- */

typedef struct {
    const int8_t *cur, *ref;
    uint32_t h, w, c, block, range;
    uint8_t search, cost;
} motion_t;

/* ---- block costs (the C# BlockSadS8 / BlockSsdS8): two int8 blocks of `rows` rows of `row_length` codes, rows
 * `stride` codes apart. The _ref bodies are the plain loops (Scalar); the plain names are what block_cost runs. ---- */

uint64_t tern_block_sad_s8_ref(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows)
{
    uint64_t total = 0;
    uint32_t y, i;
    for (y = 0; y < rows; y++)
        for (i = 0; i < row_length; i++) {
            int32_t d = (int32_t)a[(size_t)y * stride + i] - (int32_t)b[(size_t)y * stride + i];
            total += (uint32_t)(d < 0 ? -d : d);
        }
    return total;
}

uint64_t tern_block_ssd_s8_ref(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows)
{
    uint64_t total = 0;
    uint32_t y, i;
    for (y = 0; y < rows; y++)
        for (i = 0; i < row_length; i++) {
            int32_t d = (int32_t)a[(size_t)y * stride + i] - (int32_t)b[(size_t)y * stride + i];
            total += (uint32_t)(d * d);
        }
    return total;
}

static inline uint64_t block_sad(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row, uint32_t rows)
{
    uint64_t total = 0;
    uint32_t y, i;
#if TERN_CODEC_USADA8
    if (row <= (1u << 24)) {
        /* USADA8: four absolute differences and their sum in one instruction (Cortex-M4 DSP); a row's sum fits
         * 32 bits (at most 255 per code). */
        for (y = 0; y < rows; y++, a += stride, b += stride) {
            uint32_t acc = 0;
            const int8_t *pa = a, *pb = b, *stop = a + (row & ~7u);
            for (; pa < stop; pa += 8, pb += 8) {
                acc = __usada8(load_biased(pa), load_biased(pb), acc);
                acc = __usada8(load_biased(pa + 4), load_biased(pb + 4), acc);
            }
            for (i = row & ~7u; i < row; i++) {
                int32_t d = (int32_t)a[i] - (int32_t)b[i];
                acc += (uint32_t)(d < 0 ? -d : d);
            }
            total += acc;
        }
        return total;
    }
#endif
    for (y = 0; y < rows; y++, a += stride, b += stride) {
        /* 32-bit partial sums (at most 255 per code) flushed before they could wrap. */
        for (i = 0; i < row;) {
            uint32_t end = row - i > (1u << 24) ? i + (1u << 24) : row, acc = 0;
            for (; i < end; i++) {
                int32_t d = (int32_t)a[i] - (int32_t)b[i];
                acc += (uint32_t)(d < 0 ? -d : d);
            }
            total += acc;
        }
    }
    return total;
}

static inline uint64_t block_ssd(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row, uint32_t rows)
{
    uint64_t total = 0;
    uint32_t y, i;
    for (y = 0; y < rows; y++, a += stride, b += stride)
        for (i = 0; i < row; i++) {
            int32_t d = (int32_t)a[i] - (int32_t)b[i];
            total += (uint32_t)(d * d);
        }
    return total;
}

uint64_t tern_block_sad_s8(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows)
{
    return block_sad(a, b, stride, row_length, rows);
}

uint64_t tern_block_ssd_s8(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows)
{
    return block_ssd(a, b, stride, row_length, rows);
}

/* Cost of predicting the bh x bw block at (by, bx) of cur from ref displaced by (dy, dx): SAD (also for MAD) or SSD. */
static uint64_t block_cost(const motion_t *m, uint32_t by, uint32_t bx, uint32_t bh, uint32_t bw, int32_t dy,
                           int32_t dx)
{
    uint32_t stride = m->w * m->c, row = bw * m->c;
    const int8_t *a = m->cur + ((size_t)by * m->w + bx) * m->c;
    const int8_t *b = m->ref + ((size_t)((int32_t)by + dy) * m->w + (uint32_t)((int32_t)bx + dx)) * m->c;
    return m->cost == TERN_COST_MSE ? block_ssd(a, b, stride, row, bh) : block_sad(a, b, stride, row, bh);
}

static int is_valid(const motion_t *m, uint32_t by, uint32_t bx, uint32_t bh, uint32_t bw, int32_t dy, int32_t dx)
{
    int32_t r = (int32_t)m->range;
    return dy >= -r && dy <= r && dx >= -r && dx <= r && (int32_t)by + dy >= 0 && (int32_t)bx + dx >= 0 &&
           (int32_t)by + dy + (int32_t)bh <= (int32_t)m->h && (int32_t)bx + dx + (int32_t)bw <= (int32_t)m->w;
}

/* One block's vector (CodecMotion.searchBlock): (0,0) first; a candidate wins only at a strictly lower cost. */
static void search_block(const motion_t *m, uint32_t by, uint32_t bx, int8_t *vec)
{
    uint32_t bh = m->block < m->h - by ? m->block : m->h - by;
    uint32_t bw = m->block < m->w - bx ? m->block : m->w - bx;
    int32_t best_y = 0, best_x = 0, r = (int32_t)m->range;
    uint64_t best = block_cost(m, by, bx, bh, bw, 0, 0);
    if (m->search == TERN_SEARCH_FULL) {
        int32_t dy, dx;
        for (dy = -r; dy <= r; dy++)
            for (dx = -r; dx <= r; dx++) {
                uint64_t c;
                if ((dy == 0 && dx == 0) || !is_valid(m, by, bx, bh, bw, dy, dx)) continue;
                c = block_cost(m, by, bx, bh, bw, dy, dx);
                if (c < best) {
                    best = c;
                    best_y = dy;
                    best_x = dx;
                }
            }
    } else {
        int32_t s = 1;
        while (s * 2 <= r) s *= 2;
        for (; s >= 1; s /= 2) {
            int32_t cy = best_y, cx = best_x, ky, kx;
            for (ky = -1; ky <= 1; ky++)
                for (kx = -1; kx <= 1; kx++) {
                    int32_t dy = cy + s * ky, dx = cx + s * kx;
                    uint64_t c;
                    if ((ky == 0 && kx == 0) || !is_valid(m, by, bx, bh, bw, dy, dx)) continue;
                    c = block_cost(m, by, bx, bh, bw, dy, dx);
                    if (c < best) {
                        best = c;
                        best_y = dy;
                        best_x = dx;
                    }
                }
        }
    }
    vec[0] = (int8_t)best_y;
    vec[1] = (int8_t)best_x;
}

/* The prediction (CodecMotion.compensate): each block copied, all channels, from the reference displaced. */
static void compensate(const motion_t *m, const int8_t *vectors, int8_t *out)
{
    uint32_t rows = (m->h + m->block - 1u) / m->block, cols = (m->w + m->block - 1u) / m->block, r, k, y;
    for (r = 0; r < rows; r++)
        for (k = 0; k < cols; k++) {
            uint32_t by = r * m->block, bx = k * m->block;
            uint32_t bh = m->block < m->h - by ? m->block : m->h - by;
            uint32_t bw = m->block < m->w - bx ? m->block : m->w - bx;
            int32_t dy = vectors[2u * (r * cols + k)], dx = vectors[2u * (r * cols + k) + 1u];
            for (y = 0; y < bh; y++)
                memcpy(out + ((size_t)(by + y) * m->w + bx) * m->c,
                       m->ref + ((size_t)((int32_t)(by + y) + dy) * m->w + (uint32_t)((int32_t)bx + dx)) * m->c,
                       (size_t)bw * m->c);
        }
}

/* ---- options, sizes ---- */

tern_codec_options_t tern_codec_defaults(uint8_t bits, uint8_t prediction, uint8_t entropy)
{
    tern_codec_options_t o;
    o.bits = bits;
    o.quant = TERN_QSRC_FROM_INT8;
    o.prediction = prediction;
    o.entropy = entropy;
    o.residual = 0;
    o.block = 4;
    o.range = 7;
    o.search = TERN_SEARCH_THREE_STEP;
    o.cost = TERN_COST_SAD;
    return o;
}

uint32_t tern_codec_group_size(uint8_t prediction)
{
    return prediction == TERN_PRED_BI ? 3u : (prediction == TERN_PRED_UNI ? 2u : 1u);
}

tern_codec_status_t tern_codec_check(const tern_codec_options_t *o, tern_codec_shape_t shape, uint32_t frames)
{
    int predicted = o->prediction != TERN_PRED_INTRA;
    if (o->bits < 2 || o->bits > 8 || o->quant > 2 || o->prediction > 2 || o->entropy > 3 || o->residual > 1)
        return TERN_CODEC_BAD_OPTIONS;
    if (shape.h < 1 || shape.w < 1 || shape.c < 1) return TERN_CODEC_BAD_SHAPE;
    if (frames < 1 || frames > TERN_CODEC_MAX_FRAMES) return TERN_CODEC_BAD_FRAMES;
    if ((uint64_t)shape.h * shape.w * shape.c * frames > TERN_CODEC_MAX_ELEMENTS) return TERN_CODEC_BAD_SHAPE;
    if (predicted && frames != tern_codec_group_size(o->prediction)) return TERN_CODEC_BAD_FRAMES;
    if (predicted && (o->block < 1 || o->range < 1 || o->range > 127 || o->search > 1 || o->cost > 2))
        return TERN_CODEC_BAD_OPTIONS;
    if (!predicted && o->residual) return TERN_CODEC_BAD_OPTIONS;
    return TERN_CODEC_OK;
}

/* The sizes every part of the work buffer and the stream depend on. */
typedef struct {
    uint32_t size, frames, predicted_frames, blocks, anchor_alphabet, vector_alphabet, residual_alphabet;
    uint32_t anchor_count, vector_count, residual_count, max_alphabet, max_count;
} layout_t;

static void layout(const tern_codec_options_t *o, tern_codec_shape_t shape, uint32_t frames, layout_t *l)
{
    int predicted = o->prediction != TERN_PRED_INTRA;
    uint32_t qmin = o->quant == TERN_QSRC_MINMAX_SYMMETRIC ? (1u << (o->bits - 1u)) - 1u : 1u << (o->bits - 1u);
    memset(l, 0, sizeof *l);
    l->size = (uint32_t)shape.h * shape.w * shape.c;
    l->frames = frames;
    l->anchor_alphabet = qmin + (1u << (o->bits - 1u));
    l->anchor_count = predicted ? l->size : l->size * frames;
    l->max_alphabet = l->anchor_alphabet;
    l->max_count = l->anchor_count;
    if (predicted) {
        l->predicted_frames = frames - 1u;
        l->blocks = ((shape.h + o->block - 1u) / o->block) * ((shape.w + o->block - 1u) / o->block);
        l->vector_alphabet = 2u * o->range + 1u;
        l->vector_count = 2u * l->blocks * l->predicted_frames;
        if (l->vector_alphabet > l->max_alphabet) l->max_alphabet = l->vector_alphabet;
        if (l->vector_count > l->max_count) l->max_count = l->vector_count;
        if (o->residual) {
            l->residual_alphabet = (1u << (o->bits + 1u)) + 1u;
            l->residual_count = l->size * l->predicted_frames;
            if (l->residual_alphabet > l->max_alphabet) l->max_alphabet = l->residual_alphabet;
            if (l->residual_count > l->max_count) l->max_count = l->residual_count;
        }
    }
}

size_t tern_codec_work_bytes(const tern_codec_options_t *o, tern_codec_shape_t shape, uint32_t frames)
{
    layout_t l;
    size_t n;
    if (tern_codec_check(o, shape, frames) != TERN_CODEC_OK) return 0;
    layout(o, shape, frames, &l);
    n = align4(2u * (size_t)l.max_count);
    if (o->entropy == TERN_ENT_HUFFMAN) n += huff_scratch_bytes(l.max_alphabet);
    if (l.predicted_frames) {
        n += align4(l.size) + align4(2u * (size_t)l.blocks * l.predicted_frames);
        if (o->residual) n += align4(l.size);
    }
    return n;
}

/* Upper bound of one section's bits: a table, then at most 15 bits (Huffman) or w + 15 bits (RLE, ZVC) a symbol. */
static uint64_t section_bound(uint32_t count, uint32_t alphabet)
{
    return count == 0 && alphabet == 0 ? 0 : 4ull * alphabet + 4u + (uint64_t)count * (bits_for(alphabet) + 15u);
}

size_t tern_codec_max_stream_bytes(const tern_codec_options_t *o, tern_codec_shape_t shape, uint32_t frames)
{
    layout_t l;
    uint64_t bits;
    if (tern_codec_check(o, shape, frames) != TERN_CODEC_OK) return 0;
    layout(o, shape, frames, &l);
    bits = section_bound(l.anchor_count, l.anchor_alphabet) + section_bound(l.vector_count, l.vector_alphabet) +
           section_bound(l.residual_count, l.residual_alphabet);
    return (size_t)(TERN_CODEC_HEADER_BYTES + TERN_CODEC_CRC_BYTES + (bits + 7u) / 8u);
}

/* ---- the encoder (Codec.encode) ---- */

tern_codec_status_t tern_codec_encode(const tern_codec_options_t *o, int zero_point, tern_codec_shape_t shape,
                                      const int8_t *const *frames, uint32_t frame_count, void *work, size_t work_bytes,
                                      uint8_t *out, size_t out_cap, size_t *out_len)
{
    tern_codec_status_t status = tern_codec_check(o, shape, frame_count);
    int predicted = o->prediction != TERN_PRED_INTRA, symmetric = 0;
    uint32_t anchor = o->prediction == TERN_PRED_BI ? 1u : 0u, i, j, f;
    int32_t step, zero, qmin, qmax, center = zero_point;
    uint8_t to_symbol[256];
    int8_t to_code[256];
    layout_t l;
    uint8_t *p = (uint8_t *)work;
    uint16_t *sym;
    int8_t *rebuilt = 0, *pred = 0, *vectors = 0;
    huff_scratch_t huff;
    bit_writer_t w;
    motion_t m;
    uint32_t crc;

    *out_len = 0;
    if (status != TERN_CODEC_OK) return status;
    if (zero_point < -128 || zero_point > 127) return TERN_CODEC_BAD_ZERO_POINT;
    if (work_bytes < tern_codec_work_bytes(o, shape, frame_count)) return TERN_CODEC_NO_WORK;
    layout(o, shape, frame_count, &l);
    if (!predicted) anchor = 0;

    sym = (uint16_t *)(void *)p;
    p += align4(2u * (size_t)l.max_count);
    if (o->entropy == TERN_ENT_HUFFMAN) {
        huff_scratch_init(&huff, p, l.max_alphabet);
        p += huff_scratch_bytes(l.max_alphabet);
    }
    if (predicted) {
        rebuilt = (int8_t *)p;
        p += align4(l.size);
        vectors = (int8_t *)p;
        p += align4(2u * (size_t)l.blocks * l.predicted_frames);
        if (o->residual) pred = (int8_t *)p;
    }

    /* Quantizer (CodecQuant.choose): min-max sources observe the anchor, or every frame of an intra stream. */
    qmax = (1 << (o->bits - 1)) - 1;
    qmin = -(1 << (o->bits - 1));
    if (o->quant == TERN_QSRC_FROM_INT8) {
        step = 1 << (8 - o->bits);
        zero = tern_codec_div_round(zero_point, step);
        if (zero > qmax) zero = qmax;
    } else {
        int32_t lo = 127, hi = -128;
        uint32_t first = predicted ? anchor : 0, last = predicted ? anchor : frame_count - 1u;
        for (f = first; f <= last; f++)
            for (i = 0; i < l.size; i++) {
                if (frames[f][i] < lo) lo = frames[f][i];
                if (frames[f][i] > hi) hi = frames[f][i];
            }
        if (o->quant == TERN_QSRC_MINMAX_AFFINE) {
            int32_t levels = (1 << o->bits) - 1;
            if (zero_point < lo) lo = zero_point;
            if (zero_point > hi) hi = zero_point;
            step = (hi - lo + levels - 1) / levels;
            if (step < 1) step = 1;
            zero = qmin + tern_codec_div_round(zero_point - lo, step);
        } else {
            int32_t levels = (1 << (o->bits - 1)) - 1, a = lo - zero_point, b = hi - zero_point, mx;
            a = a < 0 ? -a : a;
            b = b < 0 ? -b : b;
            mx = a > b ? a : b;
            step = (mx + levels - 1) / levels;
            if (step < 1) step = 1;
            zero = 0;
            symmetric = 1;
            qmin = -qmax;
        }
    }
    for (i = 0; i < 256; i++)
        to_symbol[i] = (uint8_t)(clamp_i32(tern_codec_div_round((int32_t)i - 128 - center, step) + zero, qmin, qmax) - qmin);
    for (i = 0; i < l.anchor_alphabet; i++)
        to_code[i] = (int8_t)clamp_i32(center + step * ((int32_t)i + qmin - zero), -128, 127);

    /* Header; the length is patched at the end. */
    w.out = out;
    w.cap = out_cap;
    w.len = 0;
    w.acc = 0;
    w.pending = 0;
    w.overflow = 0;
    bw_write(&w, 0x54, 8);
    bw_write(&w, 0x43, 8);
    bw_write(&w, TERN_CODEC_VERSION, 8);
    bw_write(&w, ((uint32_t)predicted << 6) | ((uint32_t)o->entropy << 4) | ((uint32_t)o->residual << 3) |
                     ((uint32_t)symmetric << 2), 8);
    bw_write(&w, 0, 32);
    bw_write(&w, shape.h, 16);
    bw_write(&w, shape.w, 16);
    bw_write(&w, shape.c, 16);
    bw_write(&w, o->bits, 8);
    bw_write(&w, (uint32_t)step, 8);
    bw_write(&w, (uint8_t)(int8_t)center, 8);
    bw_write(&w, (uint8_t)(int8_t)zero, 8);
    bw_write(&w, frame_count, 8);
    bw_write(&w, anchor, 8);
    bw_write(&w, predicted ? o->block : 0u, 8);
    bw_write(&w, predicted ? o->range : 0u, 8);

    /* Anchor section: the anchor's symbols, or every frame's of an intra stream. */
    {
        uint32_t n = 0;
        for (f = 0; f < frame_count; f++) {
            const int8_t *x = frames[f];
            if (predicted && f != anchor) continue;
            for (i = 0; i < l.size; i++) sym[n++] = to_symbol[(uint8_t)(x[i] + 128)];
        }
        write_section(&w, o->entropy, l.anchor_alphabet, (uint32_t)(zero - qmin), sym, n, &huff);
    }

    if (predicted) {
        uint32_t rows = (shape.h + o->block - 1u) / o->block, cols = (shape.w + o->block - 1u) / o->block, r, k;
        for (i = 0; i < l.size; i++) rebuilt[i] = to_code[sym[i]];
        m.ref = rebuilt;
        m.h = shape.h;
        m.w = shape.w;
        m.c = shape.c;
        m.block = o->block;
        m.range = o->range;
        m.search = o->search;
        m.cost = o->cost;
        /* Vectors of each predicted frame in frame order, blocks in raster order; searched on the rebuilt anchor. */
        for (f = 0, j = 0; f < frame_count; f++) {
            if (f == anchor) continue;
            m.cur = frames[f];
            for (r = 0; r < rows; r++)
                for (k = 0; k < cols; k++)
                    search_block(&m, r * o->block, k * o->block, vectors + 2u * (j * l.blocks + r * cols + k));
            j++;
        }
        for (i = 0; i < l.vector_count; i++) sym[i] = (uint16_t)(vectors[i] + (int32_t)o->range);
        write_section(&w, o->entropy, l.vector_alphabet, o->range, sym, l.vector_count, &huff);

        if (o->residual) {
            int32_t half = 1 << o->bits;
            for (f = 0, j = 0; f < frame_count; f++) {
                const int8_t *cur = frames[f];
                if (f == anchor) continue;
                compensate(&m, vectors + 2u * j * l.blocks, pred);
                for (i = 0; i < l.size; i++) {
                    int32_t d = tern_codec_div_round((int32_t)cur[i] - (int32_t)pred[i], step);
                    sym[j * l.size + i] = (uint16_t)(clamp_i32(d, -half, half) + half);
                }
                j++;
            }
            write_section(&w, o->entropy, l.residual_alphabet, (uint32_t)half, sym, l.residual_count, &huff);
        }
    }

    bw_finish(&w);
    if (w.overflow || out_cap - w.len < TERN_CODEC_CRC_BYTES) return TERN_CODEC_NO_ROOM;
    {
        uint32_t total = (uint32_t)w.len + TERN_CODEC_CRC_BYTES;
        out[4] = (uint8_t)(total >> 24);
        out[5] = (uint8_t)(total >> 16);
        out[6] = (uint8_t)(total >> 8);
        out[7] = (uint8_t)total;
        crc = crc32(out, w.len);
        out[w.len] = (uint8_t)(crc >> 24);
        out[w.len + 1] = (uint8_t)(crc >> 16);
        out[w.len + 2] = (uint8_t)(crc >> 8);
        out[w.len + 3] = (uint8_t)crc;
        *out_len = total;
    }
    return TERN_CODEC_OK;
}

/* Host test of the C encoder (hil/codec/tern_codec.c) against the F# encoder.
 *   codec_test                   every stream of tern_codec_vectors.h byte for byte, the Huffman code lengths, and
 *                                both bodies of each block cost (tern_block_sad_s8 / _ssd_s8 and their _ref)
 *   codec_test --harness IN OUT  encodes the records of IN (written by CCodecTests.fs) and writes the streams to OUT
 * Built with -DTERN_TEST_BOARD and the board files it runs the vectors alone on a board (messages by semihosting),
 * where tern_block_sad_s8 is the USADA8 body.
 * A record of IN: 9 option bytes (tern_codec_options_t order), i8 zero point, u16 H, W, C (little-endian), u8 frames,
 * then frames x H x W x C int8 codes. A record of OUT: i32 status (little-endian), u32 n, n stream bytes.
 * Work and output buffers are allocated at their exact sizes so that ASan catches any access past them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern_codec.h"
#include "tern_codec_vectors.h"

#ifdef TERN_TEST_BOARD
#include "semihost.h"
#include "tern_board.h"
static void out(const char *s) { semihost_write(s); }
#else
static void out(const char *s) { fputs(s, stdout); }
#endif

/* printf through out(); 64-bit values go through u64_text (newlib-nano's printf has no %llu). */
static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *format, ...)
{
    char line[256];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    out(line);
}

static const char *u64_text(uint64_t v, char text[21])
{
    int n = 20;
    text[n] = 0;
    do {
        text[--n] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    return text + n;
}

static int encode_exact(const tern_codec_options_t *o, int zero_point, tern_codec_shape_t shape,
                        const int8_t *const *frames, uint32_t n, uint8_t **stream, size_t *len)
{
    size_t work_bytes = tern_codec_work_bytes(o, shape, n), cap = tern_codec_max_stream_bytes(o, shape, n);
    void *work = malloc(work_bytes ? work_bytes : 1);
    int status;
    *stream = (uint8_t *)malloc(cap ? cap : 1);
    status = tern_codec_encode(o, zero_point, shape, frames, n, work, work_bytes, *stream, cap, len);
    free(work);
    return status;
}

static int run_vectors(void)
{
    uint32_t i, failures = 0;
    for (i = 0; i < TCV_CASE_COUNT; i++) {
        const tcv_case *c = &tcv_cases[i];
        const int8_t *frames[3];
        uint32_t size = (uint32_t)c->shape.h * c->shape.w * c->shape.c, f;
        uint8_t *stream;
        size_t len = 0;
        int status;
        for (f = 0; f < c->frames; f++) frames[f] = c->input + (size_t)f * size;
        status = encode_exact(&c->options, c->zero_point, c->shape, frames, c->frames, &stream, &len);
        if (status != TERN_CODEC_OK || len != c->stream_len || memcmp(stream, c->stream, len) != 0) {
            size_t k = 0;
            while (status == TERN_CODEC_OK && k < len && k < c->stream_len && stream[k] == c->stream[k]) k++;
            say("FAIL case %u (%s): status %d, %u bytes (expected %u), first difference at byte %u\n", (unsigned)i,
                c->name, status, (unsigned)len, (unsigned)c->stream_len, (unsigned)k);
            failures++;
        }
        free(stream);
    }
    say("cases: %u\n", TCV_CASE_COUNT);
    for (i = 0; i < TCV_HISTOGRAM_COUNT; i++) {
        const tcv_histogram *h = &tcv_histograms[i];
        uint8_t lengths[TERN_CODEC_MAX_ALPHABET];
        tern_codec_huffman_lengths(h->counts, h->alphabet, lengths);
        if (memcmp(lengths, h->lengths, h->alphabet) != 0) {
            say("FAIL histogram %u (%s)\n", (unsigned)i, h->name);
            failures++;
        }
    }
    say("histograms: %u\n", TCV_HISTOGRAM_COUNT);
    for (i = 0; i < TCV_BLOCK_COUNT; i++) {
        const tcv_block *b = &tcv_blocks[i];
        const uint64_t got[4] = {tern_block_sad_s8_ref(b->a, b->b, b->stride, b->row_length, b->rows),
                                 tern_block_sad_s8(b->a, b->b, b->stride, b->row_length, b->rows),
                                 tern_block_ssd_s8_ref(b->a, b->b, b->stride, b->row_length, b->rows),
                                 tern_block_ssd_s8(b->a, b->b, b->stride, b->row_length, b->rows)};
        static const char *const body[4] = {"tern_block_sad_s8_ref", "tern_block_sad_s8", "tern_block_ssd_s8_ref",
                                            "tern_block_ssd_s8"};
        char got_text[21], want_text[21];
        uint32_t k;
        for (k = 0; k < 4; k++)
            if (got[k] != (k < 2 ? b->sad : b->ssd)) {
                say("FAIL block %u (%s): %s gives %s, C# %s\n", (unsigned)i, b->name, body[k], u64_text(got[k], got_text),
                    u64_text(k < 2 ? b->sad : b->ssd, want_text));
                failures++;
            }
    }
    say("blocks: %u\n", TCV_BLOCK_COUNT);
    say("%s: %s\n", tcv_stamp, failures ? "FAILED" : "ok");
    say("failures: %u\n", (unsigned)failures);
    return failures ? 1 : 0;
}

#ifndef TERN_TEST_BOARD
static int read_exact(FILE *f, void *p, size_t n) { return n == 0 || fread(p, 1, n, f) == n; }

static void put_u32(FILE *f, uint32_t v)
{
    uint8_t b[4];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
    fwrite(b, 1, 4, f);
}

static int run_harness(const char *in_path, const char *out_path)
{
    FILE *in = fopen(in_path, "rb"), *out = fopen(out_path, "wb");
    uint8_t head[17];
    uint32_t records = 0;
    if (!in || !out) {
        printf("cannot open %s or %s\n", in_path, out_path);
        return 2;
    }
    while (read_exact(in, head, 1)) {
        tern_codec_options_t o;
        tern_codec_shape_t shape;
        const int8_t *frames[256];
        int8_t *data;
        uint8_t *stream = 0;
        size_t len = 0, size, f;
        int zero_point, status;
        uint32_t n;
        if (!read_exact(in, head + 1, sizeof head - 1)) {
            printf("truncated record %u\n", records);
            return 2;
        }
        o.bits = head[0];
        o.quant = head[1];
        o.prediction = head[2];
        o.entropy = head[3];
        o.residual = head[4];
        o.block = head[5];
        o.range = head[6];
        o.search = head[7];
        o.cost = head[8];
        zero_point = (int8_t)head[9];
        shape.h = (uint16_t)(head[10] | (head[11] << 8));
        shape.w = (uint16_t)(head[12] | (head[13] << 8));
        shape.c = (uint16_t)(head[14] | (head[15] << 8));
        n = head[16];
        size = (size_t)shape.h * shape.w * shape.c;
        data = (int8_t *)malloc(size * n + 1u);
        if (!read_exact(in, data, size * n)) {
            printf("truncated frames in record %u\n", records);
            return 2;
        }
        for (f = 0; f < n; f++) frames[f] = data + f * size;
        status = encode_exact(&o, zero_point, shape, frames, n, &stream, &len);
        put_u32(out, (uint32_t)status);
        put_u32(out, (uint32_t)len);
        fwrite(stream, 1, len, out);
        free(stream);
        free(data);
        records++;
    }
    fclose(in);
    fclose(out);
    printf("records: %u\n", records);
    return 0;
}
#endif

#ifdef TERN_TEST_BOARD
int main(void)
{
    board_init();
    return run_vectors();
}
#else
int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--harness") == 0) return run_harness(argv[2], argv[3]);
    return run_vectors();
}
#endif

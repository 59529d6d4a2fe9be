/* Native tests of hil/firmware/tern_proto.c: known vectors, shared vectors written by the C# encoder (decoded here
 * and re-encoded bit for bit), and a deterministic fuzz loop. Build with -fsanitize=address,undefined so any
 * overflow aborts. Usage: proto_test [VECTOR_FILE|-] [FUZZ_BYTES] [PROFILE_VECTOR_FILE] [COBS_VECTOR_FILE].
 * Exit 0 when every check passed. */
#include "tern_proto.h"
#include "proto_reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long checks, failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            if (failures <= 20) {                                          \
                fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                              \
                fputc('\n', stderr);                                       \
            }                                                              \
        }                                                                  \
    } while (0)

/* ---- deterministic random numbers (xorshift64*) ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static uint32_t rnd_below(uint32_t n) { return n ? rnd() % n : 0; }

/* ---- references ---- */
/* crc32_bitwise and make_packet: proto_reference.h */

/* COBS(packet) 0x00 into out (which must hold TERN_COBS_MAX(n) + 1 bytes). */
static size_t delimit(const uint8_t *packet, size_t n, uint8_t *out)
{
    size_t m = tern_cobs_encode(packet, n, out, TERN_COBS_MAX(n));
    out[m] = 0;
    return m + 1;
}

/* ---- feeding the receiver ---- */
typedef struct {
    tern_frame_decoder_status_t status;
    tern_packet_t pkt;
    tern_reject_t why;
    uint8_t body[TERN_MAX_BODY];
    size_t at; /* index of the byte that produced it */
} result_t;

#define MAX_RESULTS 64
static result_t results[MAX_RESULTS];

/* Pushes n bytes; records up to MAX_RESULTS frames/rejections (bodies copied out of the receiver's buffer). */
static int feed(tern_frame_decoder_t *rx, const uint8_t *data, size_t n)
{
    int count = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        tern_packet_t pkt;
        tern_reject_t why;
        tern_frame_decoder_status_t s;
        memset(&why, 0, sizeof why);
        s = tern_frame_decoder_push(rx, data[i], &pkt, &why);
        if (s == TERN_FRAME_DECODER_MORE) continue;
        CHECK(s == TERN_FRAME_DECODER_FRAME || s == TERN_FRAME_DECODER_ERROR, "status %d", (int)s);
        if (s == TERN_FRAME_DECODER_ERROR)
            CHECK(why.code >= TERN_ERR_BAD_COBS && why.code <= TERN_ERR_OVERSIZE, "reason %d", (int)why.code);
        if (count < MAX_RESULTS) {
            result_t *r = &results[count];
            r->status = s;
            r->why = why;
            r->at = i;
            if (s == TERN_FRAME_DECODER_FRAME) {
                r->pkt = pkt;
                memcpy(r->body, pkt.body, pkt.body_len);
                r->pkt.body = r->body;
            }
        }
        count++;
    }
    return count;
}

/* ---- known vectors and small cases ---- */
static void test_crc(void)
{
    static const uint8_t check[] = "123456789";
    uint8_t buf[777];
    size_t i, n;
    CHECK(tern_crc32(check, 9) == 0xCBF43926u, "crc 0x%08lX", (unsigned long)tern_crc32(check, 9));
    CHECK(tern_crc32(check, 0) == 0, "crc of nothing");
    for (i = 0; i < 256; i++) { /* a one-byte CRC reads table entry 0xFF ^ byte: this covers every entry */
        uint8_t b = (uint8_t)i;
        CHECK(tern_crc32(&b, 1) == crc32_bitwise(&b, 1), "table entry %zu", i ^ 0xFFu);
    }
    for (n = 0; n < sizeof buf; n += 37) {
        for (i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
        CHECK(tern_crc32(buf, n) == crc32_bitwise(buf, n), "length %zu", n);
        CHECK(~tern_crc32_update(tern_crc32_update(0xFFFFFFFFu, buf, n / 3), buf + n / 3, n - n / 3) ==
                  crc32_bitwise(buf, n), "split at %zu", n / 3);
    }
}

static void test_le(void)
{
    uint8_t b[4];
    tern_put_u32(b, 0x11223344u);
    CHECK(b[0] == 0x44 && b[3] == 0x11 && tern_get_u32(b) == 0x11223344u, "u32");
    tern_put_u16(b, 0xBEEF);
    CHECK(b[0] == 0xEF && b[1] == 0xBE && tern_get_u16(b) == 0xBEEF, "u16");
}

static void test_cobs(void)
{
    static uint8_t src[1200], enc[TERN_COBS_MAX(1200)], dec[1200];
    size_t n, i, m, back;
    int pattern;
    for (pattern = 0; pattern < 5; pattern++) {
        for (n = 0; n <= sizeof src; n += (n < 600 ? 1 : 97)) {
            for (i = 0; i < n; i++) {
                switch (pattern) {
                case 0: src[i] = 0; break;
                case 1: src[i] = (uint8_t)(1 + i % 255); break;
                case 2: src[i] = (uint8_t)(rnd_below(4) == 0 ? 0 : rnd()); break;
                case 3: src[i] = (uint8_t)((i + 1) % 255 == 0 ? 0 : 0xFF); break;
                default: src[i] = (uint8_t)rnd(); break;
                }
            }
            m = tern_cobs_encode(src, n, enc, sizeof enc);
            CHECK(m > 0 && m <= TERN_COBS_MAX(n), "pattern %d length %zu encoded %zu", pattern, n, m);
            CHECK(memchr(enc, 0, m) == NULL, "zero in encoding, pattern %d length %zu", pattern, n);
            CHECK(tern_cobs_decode(enc, m, dec, n, &back) == TERN_OK && back == n && (n == 0 || !memcmp(src, dec, n)),
                  "round trip pattern %d length %zu", pattern, n);
            if (n > 0) CHECK(tern_cobs_decode(enc, m, dec, n - 1, &back) == TERN_ERR_OVERSIZE, "short dst %zu", n);
            CHECK(tern_cobs_encode(src, n, enc, TERN_COBS_MAX(n) - 1) == 0, "short encode dst %zu", n);
        }
    }
    /* 254 non-zero bytes: 0xFF block, then the final (empty) block's code 0x01. */
    memset(src, 7, 254);
    m = tern_cobs_encode(src, 254, enc, sizeof enc);
    CHECK(m == 256 && enc[0] == 0xFF && enc[255] == 0x01, "254-run form, %zu bytes", m);
    /* The decoder also accepts the form without that trailing 0x01. */
    CHECK(tern_cobs_decode(enc, 255, dec, sizeof dec, &back) == TERN_OK && back == 254, "short form");
    enc[0] = 5;
    CHECK(tern_cobs_decode(enc, 3, dec, sizeof dec, &back) == TERN_ERR_BAD_COBS, "truncated block");
}

/* Decoding crafted frames: the exact reason, detail and sequence of each rejection. */
static void test_reasons(void)
{
    static uint8_t buf[TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY)];
    static uint8_t pk[TERN_OVERHEAD + TERN_MAX_BODY + 64], wire[TERN_FRAME_MAX(TERN_MAX_BODY + 64)];
    static uint8_t body[TERN_MAX_BODY + 64];
    tern_frame_decoder_t rx;
    size_t n, w;
    int k;
    tern_frame_decoder_init(&rx, buf, sizeof buf);
    for (n = 0; n < sizeof body; n++) body[n] = (uint8_t)(n * 7);

    n = make_packet(pk, 2, TERN_MSG_HELLO, 77, 0, NULL, 0);
    w = delimit(pk, n, wire);
    k = feed(&rx, wire, w);
    CHECK(k == 1 && results[0].why.code == TERN_ERR_BAD_VERSION && results[0].why.detail == 2 && results[0].why.seq == 77,
          "bad version");

    n = make_packet(pk, 1, TERN_MSG_HELLO, 78, 3, body, 2);
    w = delimit(pk, n, wire);
    k = feed(&rx, wire, w);
    CHECK(k == 1 && results[0].why.code == TERN_ERR_BAD_LENGTH && results[0].why.detail == 3 && results[0].why.seq == 78,
          "bad length");

    n = make_packet(pk, 1, TERN_MSG_HELLO, 79, 0, NULL, 0);
    pk[2] ^= 1;
    w = delimit(pk, n, wire);
    k = feed(&rx, wire, w);
    CHECK(k == 1 && results[0].why.code == TERN_ERR_BAD_CRC && results[0].why.seq == TERN_SEQ_UNKNOWN, "bad crc");

    w = delimit(pk, 9, wire);
    k = feed(&rx, wire, w);
    CHECK(k == 1 && results[0].why.code == TERN_ERR_TOO_SHORT && results[0].why.detail == 9, "too short");

    wire[0] = 0x05; wire[1] = 1; wire[2] = 0;
    k = feed(&rx, wire, 3);
    CHECK(k == 1 && results[0].why.code == TERN_ERR_BAD_COBS, "bad cobs");

    /* Oversize: rejected at the byte that would overflow, then skipped; the next frame decodes. */
    n = make_packet(pk, 1, TERN_MSG_INFER, 5, (uint16_t)(TERN_MAX_BODY + 1), body, TERN_MAX_BODY + 1);
    w = delimit(pk, n, wire);
    k = feed(&rx, wire, w);
    CHECK(k == 1 && results[0].why.code == TERN_ERR_OVERSIZE && results[0].why.detail == TERN_MAX_BODY &&
              results[0].at < w - 1, "oversize (%d results)", k);
    n = make_packet(pk, 1, TERN_MSG_INFER, 6, (uint16_t)TERN_MAX_BODY, body, TERN_MAX_BODY);
    w = delimit(pk, n, wire);
    k = feed(&rx, wire, w);
    CHECK(k == 1 && results[0].status == TERN_FRAME_DECODER_FRAME && results[0].pkt.body_len == TERN_MAX_BODY &&
              !memcmp(results[0].body, body, TERN_MAX_BODY), "largest frame after oversize");

    /* Empty frames are ignored. */
    wire[0] = 0; wire[1] = 0;
    CHECK(feed(&rx, wire, 2) == 0, "empty frames");
}

/* ---- shared vectors from the C# encoder ---- */
static int read_u32(FILE *f, uint32_t *v)
{
    uint8_t b[4];
    if (fread(b, 1, 4, f) != 4) return 0;
    *v = tern_get_u32(b);
    return 1;
}

typedef struct {
    uint8_t *out;
    size_t len, cap;
} sink_t;

static void sink_write(void *ctx, const uint8_t *data, uint32_t len)
{
    sink_t *s = (sink_t *)ctx;
    CHECK(s->len + len <= s->cap, "stream encoder overflows");
    if (s->len + len <= s->cap) {
        memcpy(s->out + s->len, data, len);
        s->len += len;
    }
}

static int test_vectors(const char *path)
{
    static uint8_t buf[TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY)];
    static uint8_t body[65536], wire[200000], again[TERN_FRAME_MAX(TERN_MAX_BODY)];
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint32_t count, i, valid = 0;
    tern_frame_decoder_t rx;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "TERNVEC1", 8) != 0 || !read_u32(f, &count)) {
        fprintf(stderr, "%s: not a TERNVEC1 file\n", path);
        fclose(f);
        return -1;
    }
    tern_frame_decoder_init(&rx, buf, sizeof buf);
    for (i = 0; i < count; i++) {
        uint8_t head[4];
        uint32_t detail, body_len, wire_len;
        uint16_t seq;
        int k;
        if (fread(head, 1, 4, f) != 4 || !read_u32(f, &detail) || !read_u32(f, &body_len) || body_len > sizeof body ||
            fread(body, 1, body_len, f) != body_len || !read_u32(f, &wire_len) || wire_len > sizeof wire ||
            fread(wire, 1, wire_len, f) != wire_len) {
            fprintf(stderr, "%s: record %lu is truncated\n", path, (unsigned long)i);
            fclose(f);
            return -1;
        }
        seq = tern_get_u16(head + 2);
        k = feed(&rx, wire, wire_len);
        if (head[0] == 0) {
            size_t m;
            sink_t s;
            tern_tx_t tx;
            uint32_t at = 0;
            valid++;
            CHECK(k == 1 && results[0].status == TERN_FRAME_DECODER_FRAME, "vector %lu: expected a frame", (unsigned long)i);
            if (k != 1 || results[0].status != TERN_FRAME_DECODER_FRAME) continue;
            CHECK(results[0].pkt.type == head[1] && results[0].pkt.seq == seq && results[0].pkt.body_len == body_len &&
                      !memcmp(results[0].body, body, body_len), "vector %lu: fields differ", (unsigned long)i);
            /* Re-encoded bit for bit, whole and streamed in random pieces. */
            m = tern_frame_encode(head[1], seq, body, (uint16_t)body_len, again, sizeof again);
            CHECK(m == wire_len && !memcmp(again, wire, m), "vector %lu: re-encoding differs", (unsigned long)i);
            s.out = again;
            s.len = 0;
            s.cap = sizeof again;
            tern_tx_begin(&tx, sink_write, &s, head[1], seq, (uint16_t)body_len);
            while (at < body_len) {
                uint32_t piece = 1 + rnd_below(body_len - at);
                tern_tx_put(&tx, body + at, piece);
                at += piece;
            }
            CHECK(tern_tx_end(&tx) == 0, "vector %lu: stream length", (unsigned long)i);
            CHECK(s.len == wire_len && !memcmp(again, wire, s.len), "vector %lu: streamed encoding differs", (unsigned long)i);
        } else {
            CHECK(k == 1 && results[0].status == TERN_FRAME_DECODER_ERROR && results[0].why.code == (tern_error_t)head[0] &&
                      results[0].why.detail == detail && results[0].why.seq == seq,
                  "vector %lu: expected error %d detail %lu seq %u, got %d results, first %d/%d detail %lu seq %u",
                  (unsigned long)i, head[0], (unsigned long)detail, seq, k, k ? (int)results[0].status : -1,
                  k ? (int)results[0].why.code : -1, k ? (unsigned long)results[0].why.detail : 0ul,
                  k ? results[0].why.seq : 0u);
        }
    }
    fclose(f);
    printf("vectors: %lu (%lu valid)\n", (unsigned long)count, (unsigned long)valid);
    return (int)count;
}

/* ---- PROFILE bodies ---- */
/* Every PROFILE body of 2 bytes (all 65536), and random bodies of every other length up to 8, against the rule. */
static void test_profile_parse(void)
{
    uint8_t body[8];
    uint32_t v, detail;
    size_t len, i;
    int k;
    for (v = 0; v <= 0xFFFFu; v++) {
        uint16_t repeats = 0xBEEF;
        tern_error_t e;
        tern_put_u16(body, (uint16_t)v);
        e = tern_profile_parse(body, 2, &repeats, &detail);
        if (v >= 1 && v <= TERN_PROFILE_MAX_REPEATS)
            CHECK(e == TERN_OK && repeats == v && detail == 0, "PROFILE %lu: %d", (unsigned long)v, (int)e);
        else
            CHECK(e == TERN_ERR_BAD_REPEATS && detail == TERN_PROFILE_MAX_REPEATS && repeats == 0xBEEF,
                  "PROFILE %lu: %d detail %lu", (unsigned long)v, (int)e, (unsigned long)detail);
    }
    for (len = 0; len <= sizeof body; len++) {
        if (len == TERN_PROFILE_BODY_BYTES) continue;
        for (k = 0; k < 64; k++) {
            uint16_t repeats = 0xBEEF;
            for (i = 0; i < len; i++) body[i] = (uint8_t)rnd();
            CHECK(tern_profile_parse(body, len, &repeats, &detail) == TERN_ERR_BAD_BODY && detail == 2 && repeats == 0xBEEF,
                  "PROFILE body of %lu bytes", (unsigned long)len);
        }
    }
}

/* PROFILE cases from the C# side (TERNPRF1, little-endian): u32 count, then per case u8 kind; kind 0: u32 body
 * length, the body, u8 the C# verdict (0 or an error code), u32 its detail, u16 repeats; kind 1: u16 layers,
 * u16 repeats, u32 base ticks, then the 8 bytes the C# encoder puts before PROFILE_DATA's ticks. */
static int test_profile_vectors(const char *path)
{
    uint8_t magic[8], body[64], expected[TERN_PROFILE_DATA_PREFIX], head[TERN_PROFILE_DATA_PREFIX], kind, b[8];
    uint32_t count, i, len, detail, got_detail;
    uint16_t repeats, got;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "TERNPRF1", 8) != 0 || !read_u32(f, &count)) {
        fprintf(stderr, "%s: not a TERNPRF1 file\n", path);
        fclose(f);
        return -1;
    }
    for (i = 0; i < count; i++) {
        if (fread(&kind, 1, 1, f) != 1) break;
        if (kind == 0) {
            tern_error_t e;
            if (!read_u32(f, &len) || len > sizeof body || fread(body, 1, len, f) != len || fread(b, 1, 7, f) != 7) break;
            detail = tern_get_u32(b + 1);
            repeats = tern_get_u16(b + 5);
            got = 0;
            e = tern_profile_parse(body, len, &got, &got_detail);
            CHECK((uint8_t)e == b[0] && got_detail == detail && (e != TERN_OK || got == repeats),
                  "PROFILE case %lu (%lu bytes): C %d/%lu, C# %d/%lu", (unsigned long)i, (unsigned long)len, (int)e,
                  (unsigned long)got_detail, b[0], (unsigned long)detail);
        } else {
            if (fread(b, 1, 8, f) != 8 || fread(expected, 1, sizeof expected, f) != sizeof expected) break;
            tern_profile_data_head(head, tern_get_u16(b), tern_get_u16(b + 2), tern_get_u32(b + 4));
            CHECK(!memcmp(head, expected, sizeof head), "PROFILE_DATA case %lu: head differs", (unsigned long)i);
        }
    }
    fclose(f);
    CHECK(i == count, "%s: ends after %lu of %lu cases", path, (unsigned long)i, (unsigned long)count);
    printf("profile vectors: %lu\n", (unsigned long)count);
    return (int)count;
}

/* One-shot COBS cases from the C# side (TERNCOB1, little-endian): u32 count, then per case u32 encoded length, the
 * encoded bytes, u32 destination capacity, u8 expected code (0, TERN_ERR_BAD_COBS or TERN_ERR_OVERSIZE), u32 decoded
 * length and the decoded bytes (length 0 unless the code is 0). Blocks one byte short and one byte long, and
 * destinations exactly the size and one byte short: the C# decoder checks the same cases. */
static int test_cobs_vectors(const char *path)
{
    static uint8_t enc[2048], want[2048], dec[2048];
    uint8_t magic[8], code;
    uint32_t count, i, len, cap, want_len;
    size_t back;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "TERNCOB1", 8) != 0 || !read_u32(f, &count)) {
        fprintf(stderr, "%s: not a TERNCOB1 file\n", path);
        fclose(f);
        return -1;
    }
    for (i = 0; i < count; i++) {
        tern_error_t e;
        if (!read_u32(f, &len) || len > sizeof enc || fread(enc, 1, len, f) != len || !read_u32(f, &cap) ||
            cap > sizeof dec || fread(&code, 1, 1, f) != 1 || !read_u32(f, &want_len) || want_len > sizeof want ||
            fread(want, 1, want_len, f) != want_len)
            break;
        /* From and into heap blocks of exactly len and cap bytes, so ASan sees any access past either. */
        {
            uint8_t *src = (uint8_t *)malloc(len ? len : 1), *exact = (uint8_t *)malloc(cap ? cap : 1);
            if (!src || !exact) {
                free(src);
                free(exact);
                break;
            }
            memcpy(src, enc, len);
            e = tern_cobs_decode(src, len, exact, cap, &back);
            if (e == TERN_OK && back <= cap) memcpy(dec, exact, back);
            free(src);
            free(exact);
        }
        CHECK((uint8_t)e == code && (e != TERN_OK || (back == want_len && !memcmp(dec, want, back))),
              "COBS case %lu (%lu bytes, capacity %lu): C %d, %lu bytes; C# %d, %lu bytes", (unsigned long)i,
              (unsigned long)len, (unsigned long)cap, (int)e, (unsigned long)(e == TERN_OK ? back : 0), code,
              (unsigned long)want_len);
    }
    fclose(f);
    CHECK(i == count, "%s: ends after %lu of %lu cases", path, (unsigned long)i, (unsigned long)count);
    printf("cobs vectors: %lu\n", (unsigned long)count);
    return (int)count;
}

/* ---- fuzz ---- */
static uint8_t fz_body[TERN_MAX_BODY + 300];
static uint8_t fz_packet[TERN_OVERHEAD + TERN_MAX_BODY + 300];
static uint8_t fz_wire[TERN_FRAME_MAX(TERN_MAX_BODY + 300) + 64];

/* A random valid frame: mostly small bodies, sometimes large ones. Returns the wire length. */
static size_t random_frame(uint16_t *seq, uint8_t *type, uint16_t *len)
{
    uint32_t r = rnd_below(100);
    size_t i;
    *len = (uint16_t)(r < 70 ? rnd_below(64) : r < 97 ? rnd_below(1200) : rnd_below(TERN_MAX_BODY + 1));
    *seq = (uint16_t)rnd();
    *type = (uint8_t)rnd();
    for (i = 0; i < *len; i++) fz_body[i] = (uint8_t)(rnd_below(5) == 0 ? 0 : rnd());
    return tern_frame_encode(*type, *seq, fz_body, *len, fz_wire, sizeof fz_wire);
}

/* Feeds a valid frame to both receivers and checks it arrives (or is OVERSIZE for the small one). */
static void expect_frame(tern_frame_decoder_t *big, tern_frame_decoder_t *small, unsigned long *bytes)
{
    uint16_t seq, len;
    uint8_t type;
    size_t w = random_frame(&seq, &type, &len);
    int k = feed(big, fz_wire, w);
    CHECK(k == 1 && results[0].status == TERN_FRAME_DECODER_FRAME && results[0].pkt.seq == seq && results[0].pkt.type == type &&
              results[0].pkt.body_len == len && !memcmp(results[0].body, fz_body, len),
          "valid frame after garbage not decoded (%d results, first status %d reason %d)", k,
          k ? (int)results[0].status : -1, k ? (int)results[0].why.code : -1);
    k = feed(small, fz_wire, w);
    if (len <= tern_frame_decoder_max_body(small))
        CHECK(k == 1 && results[0].status == TERN_FRAME_DECODER_FRAME && results[0].pkt.body_len == len, "small receiver frame");
    else
        CHECK(k == 1 && results[0].status == TERN_FRAME_DECODER_ERROR && results[0].why.code == TERN_ERR_OVERSIZE &&
                  results[0].why.detail == tern_frame_decoder_max_body(small), "small receiver oversize");
    *bytes += w;
}

/* Feeds bad bytes (ending in a zero) to both receivers: nothing may decode; the big one must say why. */
static void expect_rejected(tern_frame_decoder_t *big, tern_frame_decoder_t *small, const uint8_t *data, size_t n, int must_reject,
                            const char *what, unsigned long *bytes)
{
    int k = feed(big, data, n), j, frames = 0;
    for (j = 0; j < k && j < MAX_RESULTS; j++) frames += results[j].status == TERN_FRAME_DECODER_FRAME;
    CHECK(frames == 0, "%s: a bad frame decoded", what);
    if (must_reject) CHECK(k >= 1, "%s: not rejected", what);
    k = feed(small, data, n);
    for (j = 0, frames = 0; j < k && j < MAX_RESULTS; j++) frames += results[j].status == TERN_FRAME_DECODER_FRAME;
    CHECK(frames == 0, "%s: a bad frame decoded by the small receiver", what);
    *bytes += n;
}

static void fuzz(unsigned long target)
{
    static uint8_t bad[TERN_FRAME_MAX(TERN_MAX_BODY + 300) + 700];
    uint8_t *big_buf = malloc(TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY));
    uint8_t *small_buf = malloc(TERN_FRAME_DECODER_BUFFER_BYTES(54)); /* exact size: ASan sees any overrun */
    unsigned long bytes = 0, rounds = 0, kinds[6] = {0};
    tern_frame_decoder_t big, small;
    if (!big_buf || !small_buf) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    tern_frame_decoder_init(&big, big_buf, TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY));
    tern_frame_decoder_init(&small, small_buf, TERN_FRAME_DECODER_BUFFER_BYTES(54));
    while (bytes < target) {
        uint16_t seq, len;
        uint8_t type;
        size_t w, n, i;
        /* Oversize frames are long: pick them rarely so the byte budget covers many rounds of the others. */
        static const uint8_t kind_of[20] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 5, 5, 5};
        uint32_t kind = kind_of[rnd_below(20)];
        kinds[kind]++;
        rounds++;
        switch (kind) {
        case 0: /* random bytes, zeros where they fall, then a zero */
            n = rnd_below(700);
            for (i = 0; i < n; i++) bad[i] = (uint8_t)rnd();
            bad[n++] = 0;
            expect_rejected(&big, &small, bad, n, 0, "random bytes", &bytes);
            break;
        case 1: /* truncated frame */
            w = random_frame(&seq, &type, &len);
            n = 1 + rnd_below((uint32_t)(w - 2));
            memcpy(bad, fz_wire, n);
            bad[n++] = 0;
            expect_rejected(&big, &small, bad, n, 1, "truncated frame", &bytes);
            break;
        case 2: /* 1 to 3 bit flips */
            w = random_frame(&seq, &type, &len);
            memcpy(bad, fz_wire, w);
            for (i = 0, n = 1 + rnd_below(3); i < n; i++) bad[rnd_below((uint32_t)(w - 1))] ^= (uint8_t)(1u << rnd_below(8));
            if (memcmp(bad, fz_wire, w) != 0) expect_rejected(&big, &small, bad, w, 1, "bit flips", &bytes);
            break;
        case 3: /* zero bytes in odd places */
            w = random_frame(&seq, &type, &len);
            memcpy(bad, fz_wire, w);
            for (i = 0, n = 1 + rnd_below(3); i < n; i++) bad[rnd_below((uint32_t)(w - 1))] = 0;
            expect_rejected(&big, &small, bad, w, 1, "inserted zeros", &bytes);
            break;
        case 4: /* oversize: a body longer than any receiver takes */
            len = (uint16_t)(TERN_MAX_BODY + 1 + rnd_below(300));
            for (i = 0; i < len; i++) fz_body[i] = (uint8_t)rnd();
            n = make_packet(fz_packet, 1, TERN_MSG_INFER, (uint16_t)rnd(), len, fz_body, len);
            w = delimit(fz_packet, n, bad);
            expect_rejected(&big, &small, bad, w, 1, "oversize", &bytes);
            CHECK(results[0].why.code == TERN_ERR_OVERSIZE, "oversize reason %d", (int)results[0].why.code);
            break;
        default: /* garbage without a zero merges with the next frame, which may be lost: the one after decodes */
            n = 1 + rnd_below(300);
            for (i = 0; i < n; i++) bad[i] = (uint8_t)(1 + rnd_below(255));
            feed(&big, bad, n);
            feed(&small, bad, n);
            w = random_frame(&seq, &type, &len);
            feed(&big, fz_wire, w);
            feed(&small, fz_wire, w);
            bytes += n + w;
            break;
        }
        expect_frame(&big, &small, &bytes);
    }
    printf("fuzz: %lu bytes in %lu rounds (random %lu, truncated %lu, flips %lu, zeros %lu, oversize %lu, merged %lu)\n",
           bytes, rounds, kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5]);
    free(big_buf);
    free(small_buf);
}

int main(int argc, char **argv)
{
    unsigned long fuzz_bytes = argc > 2 ? strtoul(argv[2], NULL, 10) : 8000000ul;
    test_crc();
    test_le();
    test_cobs();
    test_reasons();
    test_profile_parse();
    if (argc > 1 && strcmp(argv[1], "-") != 0 && test_vectors(argv[1]) < 0) return 2;
    if (argc > 3 && test_profile_vectors(argv[3]) < 0) return 2;
    if (argc > 4 && test_cobs_vectors(argv[4]) < 0) return 2;
    fuzz(fuzz_bytes);
    printf("%lu checks, %lu failures\n", checks, failures);
    return failures ? 1 : 0;
}

/* libFuzzer target: the device's frame decoder (hil/firmware/tern_proto.c) fed any byte stream.
 * The first input byte picks the receiver's buffer size with its low 7 bits (exactly that many bytes on the heap, so
 * ASan sees a one-byte overrun) and, with its top bit, whether the CRC of every frame that decodes to 10 or more
 * bytes is made right first (so that mutated headers get past the CRC); the rest is the stream, pushed one byte at
 * a time as the UART delivers it. Every zero-delimited
 * frame is checked against a naive reference written from docs/protocol.md (COBS, then TOO_SHORT, BAD_CRC with a
 * bitwise CRC, BAD_VERSION, BAD_LENGTH): the receiver must report exactly what the reference says, OVERSIZE once
 * and at once when the decoded bytes outgrow its buffer. The one-shot COBS decoder must agree with the same
 * reference, and every accepted frame must re-encode (tern_frame_encode, tern_cobs_encode) to the same packet.
 * Any disagreement aborts, and libFuzzer keeps the input. */
#include "tern_proto.h"
#include "../tests/proto_reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        fprintf(stderr, "frame_fuzz: " __VA_ARGS__);                                                                   \
        fputc('\n', stderr);                                                                                           \
        abort();                                                                                                       \
    } while (0)

/* Receiver sizes: the smallest, one body byte, small, around a COBS block, and the firmware's. */
static const uint32_t caps[] = {TERN_OVERHEAD, TERN_OVERHEAD + 1u,         16u,
                                64u,           254u,                       255u,
                                256u,          TERN_FRAME_DECODER_BUFFER_BYTES(300u), TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY)};

/* What a receiver must say about one frame. */
typedef struct {
    tern_frame_decoder_status_t status;
    tern_error_t code;
    uint32_t detail;
    uint16_t seq;
    uint8_t type;
    const uint8_t *body;
    uint16_t body_len;
} verdict_t;

/* COBS undone the simplest way: each block's data, then a zero if another block follows and this one is not a full
 * 0xFF block. dst holds len bytes (decoding never grows). *truncated: the last block promised more than came. */
static size_t naive_cobs(const uint8_t *src, size_t len, uint8_t *dst, int *truncated)
{
    size_t i = 0, o = 0, k;
    *truncated = 0;
    while (i < len) {
        size_t code = src[i++];
        for (k = 1; k < code; k++) {
            if (i == len) {
                *truncated = 1;
                return o;
            }
            dst[o++] = src[i++];
        }
        if (code != 0xFFu && i < len) dst[o++] = 0;
    }
    return o;
}

static verdict_t rejected(tern_error_t code, uint32_t detail, uint16_t seq)
{
    verdict_t v;
    memset(&v, 0, sizeof v);
    v.status = TERN_FRAME_DECODER_ERROR;
    v.code = code;
    v.detail = detail;
    v.seq = seq;
    return v;
}

/* The packet checks in the order docs/protocol.md gives them. */
static verdict_t naive_check(const uint8_t *p, size_t len)
{
    verdict_t v;
    uint16_t seq, body_len;
    if (len < TERN_OVERHEAD) return rejected(TERN_ERR_TOO_SHORT, (uint32_t)len, TERN_SEQ_UNKNOWN);
    if (crc32_bitwise(p, len - 4) !=
        ((uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 | (uint32_t)p[len - 2] << 16 | (uint32_t)p[len - 1] << 24))
        return rejected(TERN_ERR_BAD_CRC, 0, TERN_SEQ_UNKNOWN);
    seq = (uint16_t)(p[2] | p[3] << 8);
    if (p[0] != 1) return rejected(TERN_ERR_BAD_VERSION, p[0], seq);
    body_len = (uint16_t)(p[4] | p[5] << 8);
    if (body_len != len - TERN_OVERHEAD) return rejected(TERN_ERR_BAD_LENGTH, body_len, seq);
    memset(&v, 0, sizeof v);
    v.status = TERN_FRAME_DECODER_FRAME;
    v.type = p[1];
    v.seq = seq;
    v.body = p + 6;
    v.body_len = body_len;
    return v;
}

static void expect_same(const char *what, size_t at, tern_frame_decoder_status_t status, const tern_packet_t *pkt,
                        const tern_reject_t *why, const verdict_t *want)
{
    if (status != want->status)
        FAIL("%s at byte %zu: status %d, expected %d", what, at, (int)status, (int)want->status);
    if (status == TERN_FRAME_DECODER_ERROR && (why->code != want->code || why->detail != want->detail || why->seq != want->seq))
        FAIL("%s at byte %zu: rejected as %d (detail %u, seq %u), expected %d (detail %u, seq %u)", what, at,
             (int)why->code, (unsigned)why->detail, (unsigned)why->seq, (int)want->code, (unsigned)want->detail,
             (unsigned)want->seq);
    if (status == TERN_FRAME_DECODER_FRAME &&
        (pkt->type != want->type || pkt->seq != want->seq || pkt->body_len != want->body_len ||
         (want->body_len && memcmp(pkt->body, want->body, want->body_len) != 0)))
        FAIL("%s at byte %zu: frame type %u seq %u body %u bytes differs from the reference (type %u seq %u, %u bytes)",
             what, at, pkt->type, pkt->seq, pkt->body_len, want->type, want->seq, want->body_len);
}

/* The one-shot decoder on one frame, into exactly `cap` heap bytes. */
static void check_one_shot(const uint8_t *enc, size_t len, const uint8_t *want, size_t want_len, int truncated,
                           size_t cap)
{
    uint8_t *dst = malloc(cap ? cap : 1);
    size_t out_len = 12345;
    tern_error_t r;
    if (!dst) abort();
    r = tern_cobs_decode(enc, len, dst, cap, &out_len);
    if (truncated) {
        if (r != TERN_ERR_BAD_COBS && !(r == TERN_ERR_OVERSIZE && want_len > cap))
            FAIL("tern_cobs_decode: truncated block of a %zu-byte frame gave %d", len, (int)r);
    } else if (want_len > cap) {
        if (r != TERN_ERR_OVERSIZE) FAIL("tern_cobs_decode: %zu bytes into %zu gave %d", want_len, cap, (int)r);
    } else if (r != TERN_OK || out_len != want_len || (want_len && memcmp(dst, want, want_len) != 0)) {
        FAIL("tern_cobs_decode: %zu-byte frame gave %d and %zu bytes, expected %zu", len, (int)r, out_len, want_len);
    }
    free(dst);
}

/* An accepted packet encodes back to itself: COBS alone, and as a whole frame (exact-size buffers). */
static void check_round_trip(const uint8_t *packet, size_t len, const verdict_t *v)
{
    size_t max = TERN_FRAME_MAX(v->body_len), n, m, i;
    uint8_t *wire = malloc(max), *cobs = malloc(TERN_COBS_MAX(len)),
            *back = malloc(TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY));
    tern_frame_decoder_t rx;
    tern_packet_t pkt;
    tern_reject_t why;
    tern_frame_decoder_status_t status = TERN_FRAME_DECODER_MORE;
    int truncated;
    if (!wire || !cobs || !back) abort();
    n = tern_cobs_encode(packet, len, cobs, TERN_COBS_MAX(len));
    if (n == 0 || n > TERN_COBS_MAX(len) || memchr(cobs, 0, n)) FAIL("tern_cobs_encode of %zu bytes gave %zu", len, n);
    m = naive_cobs(cobs, n, back, &truncated);
    if (truncated || m != len || memcmp(back, packet, len) != 0)
        FAIL("COBS of a %zu-byte packet does not decode back", len);
    n = tern_frame_encode(v->type, v->seq, v->body, v->body_len, wire, max);
    if (n == 0 || wire[n - 1] != 0 || memchr(wire, 0, n - 1))
        FAIL("tern_frame_encode of a %u-byte body gave %zu", v->body_len, n);
    if (n > 1 && tern_frame_encode(v->type, v->seq, v->body, v->body_len, wire, n - 1) != 0)
        FAIL("tern_frame_encode fitted %zu wire bytes into %zu", n, n - 1);
    n = tern_frame_encode(v->type, v->seq, v->body, v->body_len, wire, n);
    tern_frame_decoder_init(&rx, back, TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY));
    for (i = 0; i < n; i++) {
        status = tern_frame_decoder_push(&rx, wire[i], &pkt, &why);
        if (status != TERN_FRAME_DECODER_MORE && i + 1 < n) FAIL("re-encoded frame ends early at byte %zu", i);
    }
    expect_same("re-encoded frame", n, status, &pkt, &why, v);
    free(wire);
    free(cobs);
    free(back);
}

/* The stream with the CRC of every frame that decodes to a packet (10 bytes or more) made right, re-encoded. */
static uint8_t *repair_crcs(const uint8_t *in, size_t n, size_t *out_n)
{
    uint8_t *out = malloc(2 * n + 16), *packet = malloc(n + 1);
    size_t start = 0, end, o = 0;
    if (!out || !packet) abort();
    while (start < n) {
        size_t len;
        int truncated;
        end = start;
        while (end < n && in[end] != 0) end++;
        len = naive_cobs(in + start, end - start, packet, &truncated);
        if (!truncated && len >= TERN_OVERHEAD) {
            tern_put_u32(packet + len - TERN_CRC_BYTES, crc32_bitwise(packet, len - TERN_CRC_BYTES));
            o += tern_cobs_encode(packet, len, out + o, TERN_COBS_MAX(len));
        } else {
            memcpy(out + o, in + start, end - start);
            o += end - start;
        }
        if (end < n) out[o++] = 0;
        start = end + 1;
    }
    free(packet);
    *out_n = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t input_size)
{
    uint32_t cap;
    uint8_t *buf, *ref, *repaired = NULL;
    const uint8_t *data;
    size_t size, at, start, end;
    tern_frame_decoder_t rx;
    if (input_size == 0) return 0;
    cap = caps[(input[0] & 0x7Fu) % (sizeof caps / sizeof caps[0])];
    if (input[0] & 0x80u) {
        repaired = repair_crcs(input + 1, input_size - 1, &size);
        data = repaired;
    } else {
        data = input + 1;
        size = input_size - 1;
    }
    buf = malloc(cap);
    ref = malloc(size ? size : 1);
    if (!buf || !ref) abort();
    tern_frame_decoder_init(&rx, buf, cap);
    if (tern_frame_decoder_max_body(&rx) != cap - TERN_OVERHEAD)
        FAIL("max body %u for a %u-byte buffer", tern_frame_decoder_max_body(&rx), cap);

    for (start = 0; start < size; start = end + 1) {
        size_t len, decoded;
        int truncated, reported = 0, delimited;
        tern_packet_t pkt;
        tern_reject_t why;
        tern_frame_decoder_status_t status;
        end = start;
        while (end < size && data[end] != 0) end++;
        delimited = end < size;
        len = end - start;
        decoded = naive_cobs(data + start, len, ref, &truncated);
        /* The frame's bytes: nothing to report, except one OVERSIZE as soon as the decoded bytes outgrow the buffer. */
        for (at = start; at < end; at++) {
            status = tern_frame_decoder_push(&rx, data[at], &pkt, &why);
            if (status == TERN_FRAME_DECODER_MORE) continue;
            if (reported || decoded <= cap)
                FAIL("report %d at byte %zu inside a frame of %zu decoded bytes (buffer %u)", (int)status, at, decoded,
                     cap);
            {
                verdict_t want = rejected(TERN_ERR_OVERSIZE, cap - TERN_OVERHEAD, TERN_SEQ_UNKNOWN);
                expect_same("oversize frame", at, status, &pkt, &why, &want);
            }
            reported = 1;
        }
        if (decoded > cap && !reported)
            FAIL("a frame of %zu decoded bytes passed a %u-byte buffer unreported", decoded, cap);
        if (len > 0) {
            check_one_shot(data + start, len, ref, decoded, truncated, decoded + 3);
            check_one_shot(data + start, len, ref, decoded, truncated, cap);
        }
        if (!delimited) break;
        status = tern_frame_decoder_push(&rx, 0, &pkt, &why);
        if (len == 0 || reported) {
            if (status != TERN_FRAME_DECODER_MORE) FAIL("report %d for an empty or skipped frame at byte %zu", (int)status, end);
        } else {
            verdict_t want = truncated ? rejected(TERN_ERR_BAD_COBS, 0, TERN_SEQ_UNKNOWN) : naive_check(ref, decoded);
            expect_same("frame", end, status, &pkt, &why, &want);
            if (status == TERN_FRAME_DECODER_FRAME) {
                if (pkt.body < buf || pkt.body + pkt.body_len > buf + cap) FAIL("body outside the receiver's buffer");
                check_round_trip(ref, decoded, &want);
            }
        }
    }
    free(buf);
    free(ref);
    free(repaired);
    return 0;
}

/* libFuzzer target: the device's message handler, i.e. the firmware's own main.c (receive loop, dispatch, every
 * on_* handler, the emitted model and, built with TERN_SPLIT_FEATURE_BYTES > 0, split mode and the codec) on a board
 * whose UART reads the fuzz input and whose counter is a plain tick.
 *
 * The input is a script of pieces, so that most frames pass the CRC and reach the handlers:
 *   tag 0x40..0x7F            (tag & 0x3F) + 1 raw bytes, sent as they are (garbage, partial frames, zeros)
 *   tag 0x80..0xBF, v, d, rest  a packet of version v whose length field is off by (int8) d, CRC valid
 *   any other tag, then type, u16 length L, L body bytes (fewer if the input ends): a valid frame
 * Valid frames carry sequence numbers 0, 1, 2, ...; a PROFILE asks for at most 4 repeats (see build_stream).
 *
 * The checks besides ASan and UBSan: a second receiver reads the same stream, and the device must answer every frame
 * it completes with exactly one valid frame, before reading the next byte, carrying the request's sequence number:
 * a rejected frame with ERROR of the same code and detail; a known request with its reply type if its body has the
 * right size, else with BAD_BODY (BAD_INPUT_SIZE) naming that size, or with another ERROR its handler may give (HELLO
 * and INFER of the input's size never fail); an unknown type with ERROR BAD_TYPE; reply bodies have the sizes
 * docs/protocol.md gives. Device state (the last input, split
 * mode) is reset before every input so that each run is reproducible on its own. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern_board.h"
#include "tern_proto.h"
#include "../tests/proto_reference.h"

#define main tern_device_main
#include "main.c"
#undef main

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        fprintf(stderr, "handler_fuzz: " __VA_ARGS__);                                                                 \
        fputc('\n', stderr);                                                                                           \
        abort();                                                                                                       \
    } while (0)

const uint8_t tern_firmware_hash[32] = {0x66, 0x75, 0x7a, 0x7a};

/* ---- the stream the UART delivers ---- */

static uint8_t *stream;
static size_t stream_len, stream_cap, stream_at;
static jmp_buf stream_done;

static void emit(const uint8_t *p, size_t n)
{
    if (n == 0) return;
    if (stream_len + n > stream_cap) {
        size_t cap = 2 * (stream_len + n) + 64;
        uint8_t *grown = realloc(stream, cap);
        if (!grown) abort();
        stream = grown;
        stream_cap = cap;
    }
    memcpy(stream + stream_len, p, n);
    stream_len += n;
}

/* COBS(header, body, CRC) and the delimiter, with any version and length field. */
static void emit_packet(uint8_t version, uint8_t type, uint16_t seq, uint16_t length_field, const uint8_t *body,
                        size_t body_len)
{
    size_t n = TERN_OVERHEAD + body_len, w;
    uint8_t *packet = malloc(n), *wire = malloc(TERN_COBS_MAX(n) + 1);
    if (!packet || !wire) abort();
    make_packet(packet, version, type, seq, length_field, body, body_len);
    w = tern_cobs_encode(packet, n, wire, TERN_COBS_MAX(n));
    wire[w++] = 0;
    emit(wire, w);
    free(packet);
    free(wire);
}

/* The most PROFILE repeats a script asks for (see build_stream). */
#define PROFILE_REPEATS 4u

/* Turns the script into the byte stream (see the top of the file). */
static void build_stream(const uint8_t *data, size_t size)
{
    size_t at = 0;
    uint16_t seq = 0;
    stream_len = 0;
    while (at < size) {
        uint8_t tag = data[at++];
        if ((tag & 0xC0u) == 0x40u) {
            size_t n = (size_t)(tag & 0x3Fu) + 1u;
            if (n > size - at) n = size - at;
            emit(data + at, n);
            at += n;
        } else {
            uint8_t version = TERN_PROTO_VERSION, type;
            int delta = 0;
            size_t len;
            if ((tag & 0xC0u) == 0x80u) {
                if (size - at < 2) break;
                version = data[at];
                delta = (int8_t)data[at + 1];
                at += 2;
            }
            if (size - at < 3) break;
            type = data[at];
            len = tern_get_u16(data + at + 1);
            at += 3;
            if (len > size - at) len = size - at;
            if (type == TERN_MSG_PROFILE && len == TERN_PROFILE_BODY_BYTES) {
                /* PROFILE runs the model (layers + 1) * repeats times: keep the fuzzer's rate by running at most
                 * PROFILE_REPEATS; the accepted and refused repeats are tested at their edges by proto_test.c. */
                uint8_t body[TERN_PROFILE_BODY_BYTES];
                uint16_t repeats = tern_get_u16(data + at);
                if (repeats > PROFILE_REPEATS && repeats <= TERN_PROFILE_MAX_REPEATS)
                    repeats = (uint16_t)(1u + (repeats - 1u) % PROFILE_REPEATS);
                tern_put_u16(body, repeats);
                emit_packet(version, type, seq++, (uint16_t)(len + (size_t)delta), body, len);
            } else {
                emit_packet(version, type, seq++, (uint16_t)(len + (size_t)delta), data + at, len);
            }
            at += len;
        }
    }
}

/* ---- what the device must answer ---- */

static tern_frame_decoder_t shadow, replies;
static uint8_t shadow_buf[TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY)];
static uint8_t reply_buf[TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY)];
static int pending;              /* a frame completed and its reply has not come yet */
static tern_frame_decoder_status_t request; /* what the shadow receiver made of it */
static tern_packet_t request_pkt;
static tern_reject_t request_why;

static uint8_t reply_type(uint8_t request_type)
{
    switch (request_type) {
    case TERN_MSG_HELLO: return TERN_MSG_INFO;
    case TERN_MSG_INFER: return TERN_MSG_RESULT;
    case TERN_MSG_LAYER: return TERN_MSG_LAYER_DATA;
    case TERN_MSG_PROFILE: return TERN_MSG_PROFILE_DATA;
#if TERN_SPLIT_FEATURE_BYTES > 0
    case TERN_MSG_SPLIT: return TERN_MSG_SPLIT_READY;
    case TERN_MSG_INFER_SPLIT: return TERN_MSG_FEATURES;
    case TERN_MSG_STREAM: return TERN_MSG_STREAM_DATA;
#endif
    default: return TERN_MSG_ERROR;
    }
}

/* The body sizes of docs/protocol.md. */
static void check_body(const tern_packet_t *r)
{
    const uint8_t *b = r->body;
    uint32_t n = r->body_len;
    switch (r->type) {
    case TERN_MSG_ERROR:
        if (n != 5 || b[0] == TERN_OK || b[0] > TERN_ERR_BAD_REPEATS) FAIL("ERROR body of %u bytes, code %u", n, b[0]);
        break;
    case TERN_MSG_INFO: {
        /* version, board name, clock, work unit, counter rate, two hashes, arena, two shapes, layer count: then the
         * kernel set's name and MAX_BODY */
        uint32_t kernels_at = n < 2 ? 0 : 2u + b[1] + 4 + 1 + 4 + 64 + 4 + 12 + 2;
        if (n < 2 || n <= kernels_at || n != kernels_at + 1u + b[kernels_at] + 4) FAIL("INFO body of %u bytes", n);
        if (tern_get_u32(b + n - 4) != TERN_MAX_BODY) FAIL("INFO: MAX_BODY %u", tern_get_u32(b + n - 4));
        break;
    }
    case TERN_MSG_RESULT:
        if (n < 8 || tern_get_u32(b + 4) != n - 8 || n - 8 != TERN_MODEL_OUTPUT_BYTES)
            FAIL("RESULT body of %u bytes", n);
        break;
    case TERN_MSG_LAYER_DATA:
        if (n < 10 || (uint64_t)tern_get_u32(b + 6) + (n - 10) > tern_get_u32(b + 2))
            FAIL("LAYER_DATA body of %u bytes", n);
        break;
    case TERN_MSG_PROFILE_DATA:
        if (n != TERN_PROFILE_DATA_PREFIX + 4u * TERN_MODEL_LAYER_COUNT || tern_get_u16(b) != TERN_MODEL_LAYER_COUNT)
            FAIL("PROFILE_DATA body of %u bytes", n);
        break;
    case TERN_MSG_SPLIT_READY:
        if (n != 15) FAIL("SPLIT_READY body of %u bytes", n);
        break;
    case TERN_MSG_FEATURES:
        if (n < 13 || n - 13 > tern_get_u32(b + 9) || n > TERN_MAX_BODY) FAIL("FEATURES body of %u bytes", n);
        break;
    case TERN_MSG_STREAM_DATA:
        if (n < 8 || (uint64_t)tern_get_u32(b + 4) + (n - 8) > tern_get_u32(b)) FAIL("STREAM_DATA body of %u bytes", n);
        break;
    default: FAIL("reply of type 0x%02x", r->type);
    }
}

/* Whether a request's body has the size its type asks for (HELLO takes any). */
static int body_size_ok(const tern_packet_t *q)
{
    const uint32_t input = TERN_MODEL_INPUT_BYTES, n = q->body_len;
    switch (q->type) {
    case TERN_MSG_INFER: return n == input;
    case TERN_MSG_LAYER: return n == 8;
    case TERN_MSG_PROFILE: return n == TERN_PROFILE_BODY_BYTES;
    case TERN_MSG_SPLIT: return n == 18;
    case TERN_MSG_INFER_SPLIT: return n == 0 || n == input;
    case TERN_MSG_STREAM: return n == 6;
    default: return 1;
    }
}

/* Whether ERROR (code, detail) is an answer the handler may give to request q, in the order it checks: a body of the
 * wrong size gets BAD_BODY (or BAD_INPUT_SIZE) naming the right size, and only then; HELLO, and INFER of the model's
 * input size, never fail. */
static int error_fits(const tern_packet_t *q, uint8_t code, uint32_t detail)
{
    const uint32_t input = TERN_MODEL_INPUT_BYTES;
    switch (q->type) {
    case TERN_MSG_HELLO: return 0;
    case TERN_MSG_INFER: return !body_size_ok(q) && code == TERN_ERR_BAD_INPUT_SIZE && detail == input;
    case TERN_MSG_LAYER:
        if (!body_size_ok(q)) return code == TERN_ERR_BAD_BODY && detail == 8;
        return code == TERN_ERR_NO_INFERENCE || code == TERN_ERR_BAD_RANGE ||
               (code == TERN_ERR_BAD_LAYER && detail == TERN_MODEL_LAYER_COUNT &&
                tern_get_u16(q->body) >= TERN_MODEL_LAYER_COUNT);
    case TERN_MSG_PROFILE:
        if (!body_size_ok(q)) return code == TERN_ERR_BAD_BODY && detail == TERN_PROFILE_BODY_BYTES;
        if (tern_get_u16(q->body) < 1 || tern_get_u16(q->body) > TERN_PROFILE_MAX_REPEATS)
            return code == TERN_ERR_BAD_REPEATS && detail == TERN_PROFILE_MAX_REPEATS;
        return code == TERN_ERR_NO_INFERENCE;
#if TERN_SPLIT_FEATURE_BYTES > 0
    case TERN_MSG_SPLIT:
        if (!body_size_ok(q)) return code == TERN_ERR_BAD_BODY && detail == 18;
        return code == TERN_ERR_BAD_SPLIT || code == TERN_ERR_NO_ROOM;
    case TERN_MSG_INFER_SPLIT:
        if (code == TERN_ERR_NO_SPLIT) return 1;
        if (!body_size_ok(q)) return code == TERN_ERR_BAD_INPUT_SIZE && detail == input;
        return code == TERN_ERR_BAD_SPLIT || code == TERN_ERR_NO_ROOM;
    case TERN_MSG_STREAM:
        if (!body_size_ok(q)) return code == TERN_ERR_BAD_BODY && detail == 6;
        return code == TERN_ERR_NO_SPLIT || code == TERN_ERR_BAD_RANGE;
#endif
    default: return code == TERN_ERR_BAD_TYPE && detail == q->type;
    }
}

static void on_reply(const tern_packet_t *r)
{
    if (!pending) FAIL("a reply (type 0x%02x, seq %u) to no request", r->type, r->seq);
    pending = 0;
    check_body(r);
    if (request == TERN_FRAME_DECODER_ERROR) {
        if (r->type != TERN_MSG_ERROR || r->seq != request_why.seq || r->body[0] != request_why.code ||
            tern_get_u32(r->body + 1) != request_why.detail)
            FAIL("a frame rejected as %d (detail %u, seq %u) got type 0x%02x seq %u", (int)request_why.code,
                 (unsigned)request_why.detail, (unsigned)request_why.seq, r->type, r->seq);
        return;
    }
    if (r->seq != request_pkt.seq) FAIL("reply seq %u to request seq %u", r->seq, request_pkt.seq);
    if (r->type == TERN_MSG_ERROR) {
        if (!error_fits(&request_pkt, r->body[0], tern_get_u32(r->body + 1)))
            FAIL("request type 0x%02x with a %u-byte body answered with ERROR %u (detail %u)", request_pkt.type,
                 request_pkt.body_len, r->body[0], (unsigned)tern_get_u32(r->body + 1));
    } else if (r->type != reply_type(request_pkt.type) || reply_type(request_pkt.type) == TERN_MSG_ERROR) {
        FAIL("reply type 0x%02x to request type 0x%02x", r->type, request_pkt.type);
    } else if (!body_size_ok(&request_pkt)) {
        FAIL("request type 0x%02x with a body of the wrong size (%u bytes) was served", request_pkt.type,
             request_pkt.body_len);
    }
}

/* ---- the board ---- */

void board_init(void) {}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    uint32_t i;
    tern_packet_t r;
    tern_reject_t why;
    for (i = 0; i < len; i++) {
        tern_frame_decoder_status_t s = tern_frame_decoder_push(&replies, data[i], &r, &why);
        if (s == TERN_FRAME_DECODER_ERROR)
            FAIL("the device sent a bad frame: %d (detail %u)", (int)why.code, (unsigned)why.detail);
        if (s == TERN_FRAME_DECODER_FRAME) on_reply(&r);
    }
}

/* The next byte of the stream; at its end, back to LLVMFuzzerTestOneInput. Called when the device has finished
 * with the previous byte, so any frame that byte completed must have its reply by now. */
int board_uart_read(void)
{
    uint8_t b;
    if (pending) FAIL("no reply to the frame ending at stream byte %zu", stream_at - 1);
    if (stream_at == stream_len) longjmp(stream_done, 1);
    b = stream[stream_at++];
    request = tern_frame_decoder_push(&shadow, b, &request_pkt, &request_why);
    pending = request != TERN_FRAME_DECODER_MORE;
    return b;
}

static uint32_t board_ticks;
uint32_t board_counter_read(void) { return board_ticks += 40; }
uint32_t board_counter_hz(void) { return 25000000u; }
uint8_t board_work_unit(void) { return 0; }
uint32_t board_clock_hz(void) { return 25000000u; }
const char *board_name(void) { return "fuzz"; }
void board_exit(int code) { exit(code); }

/* ---- the target ---- */

/* Device state as after reset (main() initialises the receiver itself). */
static void reset_device(void)
{
    memset(last_input, 0, sizeof last_input);
    have_inference = 0;
#if TERN_SPLIT_FEATURE_BYTES > 0
    split_k = 0;
    split_pending = 0;
    split_stream_len = 0;
#endif
    board_ticks = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    build_stream(data, size);
    stream_at = 0;
    pending = 0;
    tern_frame_decoder_init(&shadow, shadow_buf, sizeof shadow_buf);
    tern_frame_decoder_init(&replies, reply_buf, sizeof reply_buf);
    reset_device();
    if (setjmp(stream_done) == 0) tern_device_main();
    if (replies.encoded != 0) FAIL("the device left a reply unfinished");
    return 0;
}

/* Tern HIL firmware: serves protocol v1 (docs/protocol.md) over the board's UART.
 * HELLO -> INFO, INFER -> RESULT (output and work ticks), LAYER -> LAYER_DATA, anything bad -> ERROR.
 * Built with TERN_SPLIT_FEATURE_BYTES > 0 it also serves split inference: SPLIT -> SPLIT_READY,
 * INFER_SPLIT -> FEATURES (layers 0..K-1, then the feature-map encoder, hil/codec), STREAM -> STREAM_DATA.
 * PROFILE -> PROFILE_DATA: the work of every prefix of layers on the last input, for per-layer costs.
 * Replies stream straight from the arena through the COBS encoder, so no transmit buffer is needed. */
#include <stdint.h>
#include <string.h>

#include "tern_board.h"
#include "tern_model.h" /* emitted with the prefix tern_model (src/Core/Emit.fs) */
#include "tern_proto.h"

/* Split mode: the largest feature map (bytes of one layer output) the split buffers hold; 0 leaves it out. */
#ifndef TERN_SPLIT_FEATURE_BYTES
#define TERN_SPLIT_FEATURE_BYTES 0
#endif

extern const uint8_t tern_firmware_hash[32];

static uint8_t rx_buffer[TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY)];
static tern_frame_decoder_t rx;
static int8_t last_input[TERN_MAX_BODY];
static int have_inference;

/* Test builds only: with TERN_CORRUPT_LAYER and TERN_CORRUPT_INDEX defined, one element of that layer's output is
 * flipped (xor 0x41) whenever INFER or LAYER runs up to it, so tests can check that the host finds a planted
 * difference at exactly that layer and element. Without them run_layers is tern_model_run_layers itself: a normal
 * build compiles to the same code. */
#if defined(TERN_CORRUPT_LAYER) && defined(TERN_CORRUPT_INDEX)
static int run_layers(const int8_t *input, int last_layer, const int8_t **output, uint32_t *output_len)
{
    int r = tern_model_run_layers(input, last_layer, output, output_len);
    if (r == 0 && last_layer == (TERN_CORRUPT_LAYER) && (uint32_t)(TERN_CORRUPT_INDEX) < *output_len)
        ((int8_t *)(uintptr_t)*output)[TERN_CORRUPT_INDEX] ^= 0x41;
    return r;
}
#else
#define run_layers tern_model_run_layers
#endif

static void uart_write(void *ctx, const uint8_t *data, uint32_t len)
{
    (void)ctx;
    board_uart_write(data, len);
}

static void reply(uint8_t type, uint16_t seq, const uint8_t *body, uint16_t len)
{
    tern_tx_t tx;
    tern_tx_begin(&tx, uart_write, 0, type, seq, len);
    tern_tx_put(&tx, body, len);
    tern_tx_end(&tx);
}

static void send_error(uint16_t seq, uint8_t code, uint32_t detail)
{
    uint8_t body[5];
    body[0] = code;
    tern_put_u32(body + 1, detail);
    reply(TERN_MSG_ERROR, seq, body, sizeof body);
}

typedef struct {
    uint16_t h, w, c;
} tern_shape_t;

/* The shapes HELLO reports, from the emitted header's sizes. */
static const tern_shape_t tern_model_input_shape = {
    .h = TERN_MODEL_INPUT_HEIGHT, .w = TERN_MODEL_INPUT_WIDTH, .c = TERN_MODEL_INPUT_CHANNELS};
static const tern_shape_t tern_model_output_shape = {
    .h = TERN_MODEL_OUTPUT_HEIGHT, .w = TERN_MODEL_OUTPUT_WIDTH, .c = TERN_MODEL_OUTPUT_CHANNELS};

static uint32_t shape_bytes(const tern_shape_t *s) { return (uint32_t)s->h * s->w * s->c; }

static uint8_t *put_shape(uint8_t *p, const tern_shape_t *s)
{
    tern_put_u16(p, s->h);
    tern_put_u16(p + 2, s->w);
    tern_put_u16(p + 4, s->c);
    return p + 6;
}

static void on_hello(uint16_t seq)
{
    uint8_t body[160];
    uint8_t *p = body;
    const char *board = board_name();
    uint8_t board_len = (uint8_t)strlen(board);
    uint8_t kernels_len = (uint8_t)strlen(tern_model_kernels);
    *p++ = TERN_PROTO_VERSION;
    *p++ = board_len;
    memcpy(p, board, board_len);
    p += board_len;
    tern_put_u32(p, board_clock_hz());
    p += 4;
    *p++ = board_work_unit();
    tern_put_u32(p, board_counter_hz());
    p += 4;
    memcpy(p, tern_firmware_hash, 32);
    p += 32;
    memcpy(p, tern_model_hash, 32);
    p += 32;
    tern_put_u32(p, TERN_MODEL_ARENA_BYTES);
    p += 4;
    p = put_shape(p, &tern_model_input_shape);
    p = put_shape(p, &tern_model_output_shape);
    tern_put_u16(p, TERN_MODEL_LAYER_COUNT);
    p += 2;
    *p++ = kernels_len;
    memcpy(p, tern_model_kernels, kernels_len);
    p += kernels_len;
    tern_put_u32(p, tern_frame_decoder_max_body(&rx));
    p += 4;
    reply(TERN_MSG_INFO, seq, body, (uint16_t)(p - body));
}

static void on_infer(uint16_t seq, const uint8_t *body, uint16_t len)
{
    uint32_t expected = shape_bytes(&tern_model_input_shape);
    if (len != expected) {
        send_error(seq, TERN_ERR_BAD_INPUT_SIZE, expected);
        return;
    }
    memcpy(last_input, body, len);
    const int8_t *out;
    uint32_t out_len;
    uint32_t t0 = board_counter_read();
    int r = run_layers(last_input, TERN_MODEL_LAYER_COUNT - 1, &out, &out_len);
    uint32_t ticks = board_counter_read() - t0;
    if (r != 0 || out_len > TERN_MAX_BODY - 8) {
        send_error(seq, TERN_ERR_BAD_LAYER, TERN_MODEL_LAYER_COUNT);
        return;
    }
    have_inference = 1;
    uint8_t head[8];
    tern_put_u32(head, ticks);
    tern_put_u32(head + 4, out_len);
    tern_tx_t tx;
    tern_tx_begin(&tx, uart_write, 0, TERN_MSG_RESULT, seq, (uint16_t)(8 + out_len));
    tern_tx_put(&tx, head, 8);
    tern_tx_put(&tx, (const uint8_t *)out, out_len);
    tern_tx_end(&tx);
}

static void on_layer(uint16_t seq, const uint8_t *body, uint16_t len)
{
    if (len != 8) {
        send_error(seq, TERN_ERR_BAD_BODY, 8);
        return;
    }
    uint16_t index = tern_get_u16(body);
    uint32_t offset = tern_get_u32(body + 2);
    uint16_t count = tern_get_u16(body + 6);
    if (!have_inference) {
        send_error(seq, TERN_ERR_NO_INFERENCE, 0);
        return;
    }
    if (index >= TERN_MODEL_LAYER_COUNT) {
        send_error(seq, TERN_ERR_BAD_LAYER, TERN_MODEL_LAYER_COUNT);
        return;
    }
    /* Layer outputs are not kept: re-run the deterministic computation up to the layer asked for. */
    const int8_t *out;
    uint32_t total;
    if (run_layers(last_input, index, &out, &total) != 0) {
        send_error(seq, TERN_ERR_BAD_LAYER, TERN_MODEL_LAYER_COUNT);
        return;
    }
    if (offset > total || count > total - offset || count > tern_frame_decoder_max_body(&rx) - 10) {
        send_error(seq, TERN_ERR_BAD_RANGE, total);
        return;
    }
    uint8_t head[10];
    tern_put_u16(head, index);
    tern_put_u32(head + 2, total);
    tern_put_u32(head + 6, offset);
    tern_tx_t tx;
    tern_tx_begin(&tx, uart_write, 0, TERN_MSG_LAYER_DATA, seq, (uint16_t)(10 + count));
    tern_tx_put(&tx, head, 10);
    tern_tx_put(&tx, (const uint8_t *)out + offset, count);
    tern_tx_end(&tx);
}

/* Work of `repeats` back-to-back runs of layers 0..last on the last input, between two counter reads (last = -1:
 * calls that return at once, the calls' own cost). Out of line and always called with run-time arguments, so every
 * prefix is timed by the very same instructions: the host's differences cancel the timing and the call, and the
 * counter's resolution (40 instructions on mps2-an386) shrinks by the repeats. */
__attribute__((noinline)) static uint32_t profile_prefix(int last, uint32_t repeats, int *failed)
{
    const int8_t *out;
    uint32_t out_len, i, t0, t1;
    int status = 0;
    t0 = board_counter_read();
    for (i = 0; i < repeats; i++) status |= tern_model_run_layers(last_input, last, &out, &out_len);
    t1 = board_counter_read();
    if (last >= 0 && status != 0) *failed = 1;
    return t1 - t0;
}

static void on_profile(uint16_t seq, const uint8_t *body, uint16_t len)
{
    uint32_t ticks[TERN_MODEL_LAYER_COUNT + 1], detail;
    uint8_t head[TERN_PROFILE_DATA_PREFIX], word[4];
    uint16_t repeats = 0;
    int last, failed = 0;
    tern_error_t bad = tern_profile_parse(body, len, &repeats, &detail);
    tern_tx_t tx;
    if (bad != TERN_OK) {
        send_error(seq, (uint8_t)bad, detail);
        return;
    }
    if (!have_inference) {
        send_error(seq, TERN_ERR_NO_INFERENCE, 0);
        return;
    }
    if (TERN_PROFILE_DATA_PREFIX + 4u * TERN_MODEL_LAYER_COUNT > tern_frame_decoder_max_body(&rx)) {
        send_error(seq, TERN_ERR_BAD_LAYER, TERN_MODEL_LAYER_COUNT);
        return;
    }
    for (last = -1; last < (int)TERN_MODEL_LAYER_COUNT; last++) ticks[last + 1] = profile_prefix(last, repeats, &failed);
    if (failed) {
        send_error(seq, TERN_ERR_BAD_LAYER, TERN_MODEL_LAYER_COUNT);
        return;
    }
    tern_profile_data_head(head, TERN_MODEL_LAYER_COUNT, repeats, ticks[0]);
    tern_tx_begin(&tx, uart_write, 0, TERN_MSG_PROFILE_DATA, seq,
                  (uint16_t)(TERN_PROFILE_DATA_PREFIX + 4u * TERN_MODEL_LAYER_COUNT));
    tern_tx_put(&tx, head, sizeof head);
    for (last = 0; last < (int)TERN_MODEL_LAYER_COUNT; last++) {
        tern_put_u32(word, ticks[last + 1]);
        tern_tx_put(&tx, word, sizeof word);
    }
    tern_tx_end(&tx);
}

#if TERN_SPLIT_FEATURE_BYTES > 0
#include "tern_codec.h"

/* Work for any codec options on a feature map of S bytes: symbols (u16) of up to 4S codes (2S for the intra
 * stream that ends a stream, 4S vector components at 1x1 blocks, 2S residual codes), the rebuilt anchor, the
 * prediction, the vectors (up to 4S bytes) and the Huffman scratch of the largest alphabet (513). */
#ifndef TERN_SPLIT_WORK_BYTES
#define TERN_SPLIT_WORK_BYTES (14u * TERN_SPLIT_FEATURE_BYTES + 16384u)
#endif
/* tern_codec_max_stream_bytes of two intra frames at 8 bits is under 6S. */
#ifndef TERN_SPLIT_STREAM_BYTES
#define TERN_SPLIT_STREAM_BYTES (6u * TERN_SPLIT_FEATURE_BYTES + 1024u)
#endif
#define TERN_SPLIT_BODY_BYTES 18u
#define TERN_FEATURES_PREFIX 13u
#define TERN_STREAM_DATA_PREFIX 8u

/* The frames of the current group are kept between requests (uni: t-1, t; bi: t-1, t, t+1): the host sends the
 * frames in stream order and the device answers with a stream after each group's last frame. */
static int8_t split_frames[3][TERN_SPLIT_FEATURE_BYTES];
static uint32_t split_work[(TERN_SPLIT_WORK_BYTES + 3u) / 4u];
static uint8_t split_stream[TERN_SPLIT_STREAM_BYTES];
static uint32_t split_stream_len;
static uint16_t split_k; /* 0: no split configured */
static tern_codec_options_t split_options;
static tern_codec_shape_t split_shape;
static int split_zero;
static uint32_t split_group, split_pending;

static tern_codec_options_t intra_of(const tern_codec_options_t *o)
{
    tern_codec_options_t intra = *o;
    intra.prediction = TERN_PRED_INTRA;
    intra.residual = 0;
    return intra;
}

static void on_split(uint16_t seq, const uint8_t *body, uint16_t len)
{
    tern_codec_options_t o, intra;
    tern_codec_shape_t shape;
    const int8_t *out;
    uint32_t out_len, group, work, stream;
    uint16_t k;
    if (len != TERN_SPLIT_BODY_BYTES) {
        send_error(seq, TERN_ERR_BAD_BODY, TERN_SPLIT_BODY_BYTES);
        return;
    }
    split_k = 0; /* a refused SPLIT leaves split mode off */
    k = tern_get_u16(body);
    shape.h = tern_get_u16(body + 2);
    shape.w = tern_get_u16(body + 4);
    shape.c = tern_get_u16(body + 6);
    o.bits = body[9];
    o.quant = body[10];
    o.prediction = body[11];
    o.entropy = body[12];
    o.residual = body[13];
    o.block = body[14];
    o.range = body[15];
    o.search = body[16];
    o.cost = body[17];
    if (k < 1 || k > TERN_MODEL_LAYER_COUNT) {
        send_error(seq, TERN_ERR_BAD_SPLIT, 0);
        return;
    }
    /* The feature map's size: run the prefix once (the input's content does not matter). */
    if (tern_model_run_layers(last_input, k - 1, &out, &out_len) != 0 || (uint32_t)shape.h * shape.w * shape.c != out_len) {
        send_error(seq, TERN_ERR_BAD_SPLIT, 2);
        return;
    }
    group = tern_codec_group_size(o.prediction);
    if (o.prediction > TERN_PRED_BI || tern_codec_check(&o, shape, group) != TERN_CODEC_OK) {
        send_error(seq, TERN_ERR_BAD_SPLIT, 9);
        return;
    }
    if (out_len > TERN_SPLIT_FEATURE_BYTES) {
        send_error(seq, TERN_ERR_NO_ROOM, out_len);
        return;
    }
    intra = intra_of(&o);
    work = (uint32_t)tern_codec_work_bytes(&o, shape, group);
    stream = (uint32_t)tern_codec_max_stream_bytes(&o, shape, group);
    if (group > 1) {
        uint32_t w2 = (uint32_t)tern_codec_work_bytes(&intra, shape, group - 1u);
        uint32_t s2 = (uint32_t)tern_codec_max_stream_bytes(&intra, shape, group - 1u);
        if (w2 > work) work = w2;
        if (s2 > stream) stream = s2;
    }
    if (work > sizeof split_work || stream > sizeof split_stream) {
        send_error(seq, TERN_ERR_NO_ROOM, work > sizeof split_work ? work : stream);
        return;
    }
    split_k = k;
    split_options = o;
    split_shape = shape;
    split_zero = (int8_t)body[8];
    split_group = group;
    split_pending = 0;
    split_stream_len = 0;
    {
        uint8_t reply_body[15];
        tern_put_u16(reply_body, k);
        tern_put_u32(reply_body + 2, out_len);
        reply_body[6] = (uint8_t)group;
        tern_put_u32(reply_body + 7, work);
        tern_put_u32(reply_body + 11, (uint32_t)sizeof split_stream);
        reply(TERN_MSG_SPLIT_READY, seq, reply_body, sizeof reply_body);
    }
}

/* Codes the first n held frames (the group, or an intra tail); returns 0, or sends ERROR and returns -1. */
static int split_encode(uint16_t seq, const tern_codec_options_t *o, uint32_t n, uint32_t *ticks)
{
    const int8_t *frames[3];
    size_t len = 0;
    uint32_t i, t0;
    tern_codec_status_t status;
    for (i = 0; i < n; i++) frames[i] = split_frames[i];
    t0 = board_counter_read();
    status = tern_codec_encode(o, split_zero, split_shape, frames, n, split_work, sizeof split_work, split_stream,
                               sizeof split_stream, &len);
    *ticks = board_counter_read() - t0;
    if (status != TERN_CODEC_OK) {
        send_error(seq, status == TERN_CODEC_NO_ROOM ? TERN_ERR_NO_ROOM : TERN_ERR_BAD_SPLIT,
                   status == TERN_CODEC_NO_ROOM ? (uint32_t)sizeof split_stream : 9u);
        return -1;
    }
    split_stream_len = (uint32_t)len;
    return 0;
}

static void send_features(uint16_t seq, uint32_t infer_ticks, uint32_t encoder_ticks, uint8_t frames)
{
    uint8_t head[TERN_FEATURES_PREFIX];
    uint32_t piece = split_stream_len;
    tern_tx_t tx;
    if (piece > TERN_MAX_BODY - TERN_FEATURES_PREFIX) piece = TERN_MAX_BODY - TERN_FEATURES_PREFIX;
    tern_put_u32(head, infer_ticks);
    tern_put_u32(head + 4, encoder_ticks);
    head[8] = frames;
    tern_put_u32(head + 9, split_stream_len);
    tern_tx_begin(&tx, uart_write, 0, TERN_MSG_FEATURES, seq, (uint16_t)(TERN_FEATURES_PREFIX + piece));
    tern_tx_put(&tx, head, TERN_FEATURES_PREFIX);
    tern_tx_put(&tx, split_stream, piece);
    tern_tx_end(&tx);
}

static void on_infer_split(uint16_t seq, const uint8_t *body, uint16_t len)
{
    uint32_t expected = shape_bytes(&tern_model_input_shape), ticks, encoder_ticks = 0, out_len, t0;
    const int8_t *out;
    uint8_t coded = 0;
    if (split_k == 0) {
        send_error(seq, TERN_ERR_NO_SPLIT, 0);
        return;
    }
    split_stream_len = 0;
    if (len == 0) {
        /* End of the stream: the frames still held form a shorter group, coded intra (Codec.encodeSequence). */
        if (split_pending > 0) {
            tern_codec_options_t intra = intra_of(&split_options);
            if (split_encode(seq, &intra, split_pending, &encoder_ticks) != 0) return;
            coded = (uint8_t)split_pending;
            split_pending = 0;
        }
        send_features(seq, 0, encoder_ticks, coded);
        return;
    }
    if (len != expected) {
        send_error(seq, TERN_ERR_BAD_INPUT_SIZE, expected);
        return;
    }
    memcpy(last_input, body, len);
    t0 = board_counter_read();
    if (tern_model_run_layers(last_input, split_k - 1, &out, &out_len) != 0) {
        send_error(seq, TERN_ERR_BAD_LAYER, TERN_MODEL_LAYER_COUNT);
        return;
    }
    ticks = board_counter_read() - t0;
    have_inference = 1;
    memcpy(split_frames[split_pending], out, out_len);
    split_pending++;
    if (split_pending == split_group) {
        if (split_encode(seq, &split_options, split_group, &encoder_ticks) != 0) {
            split_pending = 0;
            return;
        }
        coded = (uint8_t)split_group;
        split_pending = 0;
    }
    send_features(seq, ticks, encoder_ticks, coded);
}

static void on_stream(uint16_t seq, const uint8_t *body, uint16_t len)
{
    uint32_t offset;
    uint16_t count;
    uint8_t head[TERN_STREAM_DATA_PREFIX];
    tern_tx_t tx;
    if (len != 6) {
        send_error(seq, TERN_ERR_BAD_BODY, 6);
        return;
    }
    if (split_k == 0) {
        send_error(seq, TERN_ERR_NO_SPLIT, 0);
        return;
    }
    offset = tern_get_u32(body);
    count = tern_get_u16(body + 4);
    if (offset > split_stream_len || count > split_stream_len - offset || count > TERN_MAX_BODY - TERN_STREAM_DATA_PREFIX) {
        send_error(seq, TERN_ERR_BAD_RANGE, split_stream_len);
        return;
    }
    tern_put_u32(head, split_stream_len);
    tern_put_u32(head + 4, offset);
    tern_tx_begin(&tx, uart_write, 0, TERN_MSG_STREAM_DATA, seq, (uint16_t)(TERN_STREAM_DATA_PREFIX + count));
    tern_tx_put(&tx, head, TERN_STREAM_DATA_PREFIX);
    tern_tx_put(&tx, split_stream + offset, count);
    tern_tx_end(&tx);
}
#endif

int main(void)
{
    board_init();
    tern_frame_decoder_init(&rx, rx_buffer, sizeof rx_buffer);
    for (;;) {
        int byte = board_uart_read();
        if (byte < 0) continue;
        tern_packet_t packet;
        tern_reject_t why;
        tern_frame_decoder_status_t status = tern_frame_decoder_push(&rx, (uint8_t)byte, &packet, &why);
        if (status == TERN_FRAME_DECODER_MORE) continue;
        if (status == TERN_FRAME_DECODER_ERROR) {
            send_error(why.seq, (uint8_t)why.code, why.detail);
            continue;
        }
        switch (packet.type) {
        case TERN_MSG_HELLO: on_hello(packet.seq); break;
        case TERN_MSG_INFER: on_infer(packet.seq, packet.body, packet.body_len); break;
        case TERN_MSG_LAYER: on_layer(packet.seq, packet.body, packet.body_len); break;
        case TERN_MSG_PROFILE: on_profile(packet.seq, packet.body, packet.body_len); break;
#if TERN_SPLIT_FEATURE_BYTES > 0
        case TERN_MSG_SPLIT: on_split(packet.seq, packet.body, packet.body_len); break;
        case TERN_MSG_INFER_SPLIT: on_infer_split(packet.seq, packet.body, packet.body_len); break;
        case TERN_MSG_STREAM: on_stream(packet.seq, packet.body, packet.body_len); break;
#endif
        default: send_error(packet.seq, TERN_ERR_BAD_TYPE, packet.type); break;
        }
    }
}

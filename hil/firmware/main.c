/* Tern HIL firmware: serves protocol v1 (docs/protocol.md) over the board's UART.
 * HELLO -> INFO, INFER -> RESULT (output and work ticks), LAYER -> LAYER_DATA, anything bad -> ERROR. */
#include <stdint.h>
#include <string.h>

#include "tern_board.h"
#include "tern_model.h"
#include "tern_proto.h"

extern const uint8_t tern_firmware_hash[32];

/* Largest packet: header + MAX_BODY + CRC; COBS adds one byte per 254 and the delimiter. */
#define PACKET_CAP (TERN_PROTO_HEADER_BYTES + TERN_PROTO_MAX_BODY + TERN_PROTO_CRC_BYTES)
#define WIRE_CAP (PACKET_CAP + PACKET_CAP / 254 + 2)

static uint8_t rx_buffer[WIRE_CAP];
static uint8_t tx_body[TERN_PROTO_MAX_BODY];
static uint8_t tx_wire[WIRE_CAP];
static int8_t last_input[TERN_PROTO_MAX_BODY];
static uint32_t last_input_len;
static int have_inference;

static void send(uint8_t type, uint16_t seq, const uint8_t *body, uint16_t len)
{
    uint32_t n = tern_frame_encode(type, seq, body, len, tx_wire, sizeof tx_wire);
    if (n > 0) board_uart_write(tx_wire, n);
}

static void send_error(uint16_t seq, uint8_t code, uint32_t detail)
{
    uint8_t body[5];
    body[0] = code;
    tern_put_u32(body + 1, detail);
    send(TERN_MSG_ERROR, seq, body, sizeof body);
}

static uint32_t shape_bytes(const tern_shape_t *s) { return (uint32_t)s->h * s->w * s->c; }

static void on_hello(uint16_t seq)
{
    uint8_t *p = tx_body;
    const char *board = board_name();
    uint8_t board_len = (uint8_t)strlen(board);
    uint8_t kernels_len = (uint8_t)strlen(tern_model_kernels);
    *p++ = TERN_PROTO_VERSION;
    *p++ = board_len;
    memcpy(p, board, board_len);
    p += board_len;
    tern_put_u32(p, board_clock_hz()); p += 4;
    *p++ = board_work_unit();
    tern_put_u32(p, board_counter_hz()); p += 4;
    memcpy(p, tern_firmware_hash, 32); p += 32;
    memcpy(p, tern_model_hash, 32); p += 32;
    tern_put_u32(p, tern_model_arena_bytes); p += 4;
    tern_put_u16(p, tern_model_input_shape.h); p += 2;
    tern_put_u16(p, tern_model_input_shape.w); p += 2;
    tern_put_u16(p, tern_model_input_shape.c); p += 2;
    tern_put_u16(p, tern_model_output_shape.h); p += 2;
    tern_put_u16(p, tern_model_output_shape.w); p += 2;
    tern_put_u16(p, tern_model_output_shape.c); p += 2;
    tern_put_u16(p, tern_model_layer_count); p += 2;
    *p++ = kernels_len;
    memcpy(p, tern_model_kernels, kernels_len);
    p += kernels_len;
    tern_put_u32(p, TERN_PROTO_MAX_BODY); p += 4;
    send(TERN_MSG_INFO, seq, tx_body, (uint16_t)(p - tx_body));
}

static void on_infer(uint16_t seq, const uint8_t *body, uint16_t len)
{
    uint32_t expected = shape_bytes(&tern_model_input_shape);
    if (len != expected) {
        send_error(seq, TERN_ERR_BAD_INPUT_SIZE, expected);
        return;
    }
    memcpy(last_input, body, len);
    last_input_len = len;
    const int8_t *out;
    uint32_t out_len;
    uint32_t t0 = board_counter_read();
    int r = tern_model_run(last_input, tern_model_layer_count - 1, &out, &out_len);
    uint32_t ticks = board_counter_read() - t0;
    if (r != 0 || out_len + 8 > TERN_PROTO_MAX_BODY) {
        send_error(seq, TERN_ERR_BAD_LAYER, tern_model_layer_count);
        return;
    }
    have_inference = 1;
    tern_put_u32(tx_body, ticks);
    tern_put_u32(tx_body + 4, out_len);
    memcpy(tx_body + 8, out, out_len);
    send(TERN_MSG_RESULT, seq, tx_body, (uint16_t)(8 + out_len));
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
    if (index >= tern_model_layer_count) {
        send_error(seq, TERN_ERR_BAD_LAYER, tern_model_layer_count);
        return;
    }
    /* Layer outputs are not kept: re-run the deterministic computation up to the layer asked for. */
    const int8_t *out;
    uint32_t total;
    (void)last_input_len;
    if (tern_model_run(last_input, index, &out, &total) != 0) {
        send_error(seq, TERN_ERR_BAD_LAYER, tern_model_layer_count);
        return;
    }
    if (offset > total || count > total - offset || count > TERN_PROTO_MAX_BODY - 10) {
        send_error(seq, TERN_ERR_BAD_RANGE, total);
        return;
    }
    tern_put_u16(tx_body, index);
    tern_put_u32(tx_body + 2, total);
    tern_put_u32(tx_body + 6, offset);
    memcpy(tx_body + 10, out + offset, count);
    send(TERN_MSG_LAYER_DATA, seq, tx_body, (uint16_t)(10 + count));
}

int main(void)
{
    board_init();
    tern_rx rx;
    tern_rx_init(&rx, rx_buffer, sizeof rx_buffer);
    for (;;) {
        int byte = board_uart_read();
        if (byte < 0) continue;
        tern_packet packet;
        tern_rx_status status = tern_rx_push(&rx, (uint8_t)byte, &packet);
        if (status == TERN_RX_MORE) continue;
        if (status == TERN_RX_ERROR) {
            send_error(packet.seq, packet.error, packet.error_detail);
            continue;
        }
        switch (packet.type) {
        case TERN_MSG_HELLO: on_hello(packet.seq); break;
        case TERN_MSG_INFER: on_infer(packet.seq, packet.body, packet.length); break;
        case TERN_MSG_LAYER: on_layer(packet.seq, packet.body, packet.length); break;
        default: send_error(packet.seq, TERN_ERR_BAD_TYPE, packet.type); break;
        }
    }
}

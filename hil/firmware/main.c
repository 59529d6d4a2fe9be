/* Tern HIL firmware: serves protocol v1 (docs/protocol.md) over the board's UART.
 * HELLO -> INFO, INFER -> RESULT (output and work ticks), LAYER -> LAYER_DATA, anything bad -> ERROR.
 * Replies stream straight from the arena through the COBS encoder, so no transmit buffer is needed. */
#include <stdint.h>
#include <string.h>

#include "tern_board.h"
#include "tern_model.h"
#include "tern_proto.h"

extern const uint8_t tern_firmware_hash[32];

static uint8_t rx_buffer[TERN_RX_BUFFER_BYTES(TERN_MAX_BODY)];
static tern_rx_t rx;
static int8_t last_input[TERN_MAX_BODY];
static int have_inference;

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
    tern_put_u32(p, tern_model_arena_bytes);
    p += 4;
    p = put_shape(p, &tern_model_input_shape);
    p = put_shape(p, &tern_model_output_shape);
    tern_put_u16(p, tern_model_layer_count);
    p += 2;
    *p++ = kernels_len;
    memcpy(p, tern_model_kernels, kernels_len);
    p += kernels_len;
    tern_put_u32(p, tern_rx_max_body(&rx));
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
    int r = tern_model_run(last_input, tern_model_layer_count - 1, &out, &out_len);
    uint32_t ticks = board_counter_read() - t0;
    if (r != 0 || out_len > TERN_MAX_BODY - 8) {
        send_error(seq, TERN_ERR_BAD_LAYER, tern_model_layer_count);
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
    if (index >= tern_model_layer_count) {
        send_error(seq, TERN_ERR_BAD_LAYER, tern_model_layer_count);
        return;
    }
    /* Layer outputs are not kept: re-run the deterministic computation up to the layer asked for. */
    const int8_t *out;
    uint32_t total;
    if (tern_model_run(last_input, index, &out, &total) != 0) {
        send_error(seq, TERN_ERR_BAD_LAYER, tern_model_layer_count);
        return;
    }
    if (offset > total || count > total - offset || count > tern_rx_max_body(&rx) - 10) {
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

int main(void)
{
    board_init();
    tern_rx_init(&rx, rx_buffer, sizeof rx_buffer);
    for (;;) {
        int byte = board_uart_read();
        if (byte < 0) continue;
        tern_packet_t packet;
        tern_reject_t why;
        tern_rx_status_t status = tern_rx_push(&rx, (uint8_t)byte, &packet, &why);
        if (status == TERN_RX_MORE) continue;
        if (status == TERN_RX_ERROR) {
            send_error(why.seq, (uint8_t)why.code, why.detail);
            continue;
        }
        switch (packet.type) {
        case TERN_MSG_HELLO: on_hello(packet.seq); break;
        case TERN_MSG_INFER: on_infer(packet.seq, packet.body, packet.body_len); break;
        case TERN_MSG_LAYER: on_layer(packet.seq, packet.body, packet.body_len); break;
        default: send_error(packet.seq, TERN_ERR_BAD_TYPE, packet.type); break;
        }
    }
}

/* Tern wire protocol v1, device side. See tern_proto.h and docs/protocol.md. */
#include "tern_proto.h"

/* ---- CRC-32 ---- */

/* Entry i is the register value i after 8 bitwise steps of the reflected polynomial 0xEDB88320 (a step: shift right
 * one bit, xor the polynomial if the bit shifted out was 1). 1 KB of const data in flash. proto_test.c checks every
 * entry against a bitwise reference. */
static const uint32_t tern_crc_table[256] = {
    0x00000000u, 0x77073096u, 0xEE0E612Cu, 0x990951BAu, 0x076DC419u, 0x706AF48Fu,
    0xE963A535u, 0x9E6495A3u, 0x0EDB8832u, 0x79DCB8A4u, 0xE0D5E91Eu, 0x97D2D988u,
    0x09B64C2Bu, 0x7EB17CBDu, 0xE7B82D07u, 0x90BF1D91u, 0x1DB71064u, 0x6AB020F2u,
    0xF3B97148u, 0x84BE41DEu, 0x1ADAD47Du, 0x6DDDE4EBu, 0xF4D4B551u, 0x83D385C7u,
    0x136C9856u, 0x646BA8C0u, 0xFD62F97Au, 0x8A65C9ECu, 0x14015C4Fu, 0x63066CD9u,
    0xFA0F3D63u, 0x8D080DF5u, 0x3B6E20C8u, 0x4C69105Eu, 0xD56041E4u, 0xA2677172u,
    0x3C03E4D1u, 0x4B04D447u, 0xD20D85FDu, 0xA50AB56Bu, 0x35B5A8FAu, 0x42B2986Cu,
    0xDBBBC9D6u, 0xACBCF940u, 0x32D86CE3u, 0x45DF5C75u, 0xDCD60DCFu, 0xABD13D59u,
    0x26D930ACu, 0x51DE003Au, 0xC8D75180u, 0xBFD06116u, 0x21B4F4B5u, 0x56B3C423u,
    0xCFBA9599u, 0xB8BDA50Fu, 0x2802B89Eu, 0x5F058808u, 0xC60CD9B2u, 0xB10BE924u,
    0x2F6F7C87u, 0x58684C11u, 0xC1611DABu, 0xB6662D3Du, 0x76DC4190u, 0x01DB7106u,
    0x98D220BCu, 0xEFD5102Au, 0x71B18589u, 0x06B6B51Fu, 0x9FBFE4A5u, 0xE8B8D433u,
    0x7807C9A2u, 0x0F00F934u, 0x9609A88Eu, 0xE10E9818u, 0x7F6A0DBBu, 0x086D3D2Du,
    0x91646C97u, 0xE6635C01u, 0x6B6B51F4u, 0x1C6C6162u, 0x856530D8u, 0xF262004Eu,
    0x6C0695EDu, 0x1B01A57Bu, 0x8208F4C1u, 0xF50FC457u, 0x65B0D9C6u, 0x12B7E950u,
    0x8BBEB8EAu, 0xFCB9887Cu, 0x62DD1DDFu, 0x15DA2D49u, 0x8CD37CF3u, 0xFBD44C65u,
    0x4DB26158u, 0x3AB551CEu, 0xA3BC0074u, 0xD4BB30E2u, 0x4ADFA541u, 0x3DD895D7u,
    0xA4D1C46Du, 0xD3D6F4FBu, 0x4369E96Au, 0x346ED9FCu, 0xAD678846u, 0xDA60B8D0u,
    0x44042D73u, 0x33031DE5u, 0xAA0A4C5Fu, 0xDD0D7CC9u, 0x5005713Cu, 0x270241AAu,
    0xBE0B1010u, 0xC90C2086u, 0x5768B525u, 0x206F85B3u, 0xB966D409u, 0xCE61E49Fu,
    0x5EDEF90Eu, 0x29D9C998u, 0xB0D09822u, 0xC7D7A8B4u, 0x59B33D17u, 0x2EB40D81u,
    0xB7BD5C3Bu, 0xC0BA6CADu, 0xEDB88320u, 0x9ABFB3B6u, 0x03B6E20Cu, 0x74B1D29Au,
    0xEAD54739u, 0x9DD277AFu, 0x04DB2615u, 0x73DC1683u, 0xE3630B12u, 0x94643B84u,
    0x0D6D6A3Eu, 0x7A6A5AA8u, 0xE40ECF0Bu, 0x9309FF9Du, 0x0A00AE27u, 0x7D079EB1u,
    0xF00F9344u, 0x8708A3D2u, 0x1E01F268u, 0x6906C2FEu, 0xF762575Du, 0x806567CBu,
    0x196C3671u, 0x6E6B06E7u, 0xFED41B76u, 0x89D32BE0u, 0x10DA7A5Au, 0x67DD4ACCu,
    0xF9B9DF6Fu, 0x8EBEEFF9u, 0x17B7BE43u, 0x60B08ED5u, 0xD6D6A3E8u, 0xA1D1937Eu,
    0x38D8C2C4u, 0x4FDFF252u, 0xD1BB67F1u, 0xA6BC5767u, 0x3FB506DDu, 0x48B2364Bu,
    0xD80D2BDAu, 0xAF0A1B4Cu, 0x36034AF6u, 0x41047A60u, 0xDF60EFC3u, 0xA867DF55u,
    0x316E8EEFu, 0x4669BE79u, 0xCB61B38Cu, 0xBC66831Au, 0x256FD2A0u, 0x5268E236u,
    0xCC0C7795u, 0xBB0B4703u, 0x220216B9u, 0x5505262Fu, 0xC5BA3BBEu, 0xB2BD0B28u,
    0x2BB45A92u, 0x5CB36A04u, 0xC2D7FFA7u, 0xB5D0CF31u, 0x2CD99E8Bu, 0x5BDEAE1Du,
    0x9B64C2B0u, 0xEC63F226u, 0x756AA39Cu, 0x026D930Au, 0x9C0906A9u, 0xEB0E363Fu,
    0x72076785u, 0x05005713u, 0x95BF4A82u, 0xE2B87A14u, 0x7BB12BAEu, 0x0CB61B38u,
    0x92D28E9Bu, 0xE5D5BE0Du, 0x7CDCEFB7u, 0x0BDBDF21u, 0x86D3D2D4u, 0xF1D4E242u,
    0x68DDB3F8u, 0x1FDA836Eu, 0x81BE16CDu, 0xF6B9265Bu, 0x6FB077E1u, 0x18B74777u,
    0x88085AE6u, 0xFF0F6A70u, 0x66063BCAu, 0x11010B5Cu, 0x8F659EFFu, 0xF862AE69u,
    0x616BFFD3u, 0x166CCF45u, 0xA00AE278u, 0xD70DD2EEu, 0x4E048354u, 0x3903B3C2u,
    0xA7672661u, 0xD06016F7u, 0x4969474Du, 0x3E6E77DBu, 0xAED16A4Au, 0xD9D65ADCu,
    0x40DF0B66u, 0x37D83BF0u, 0xA9BCAE53u, 0xDEBB9EC5u, 0x47B2CF7Fu, 0x30B5FFE9u,
    0xBDBDF21Cu, 0xCABAC28Au, 0x53B39330u, 0x24B4A3A6u, 0xBAD03605u, 0xCDD70693u,
    0x54DE5729u, 0x23D967BFu, 0xB3667A2Eu, 0xC4614AB8u, 0x5D681B02u, 0x2A6F2B94u,
    0xB40BBE37u, 0xC30C8EA1u, 0x5A05DF1Bu, 0x2D02EF8Du
};

uint32_t tern_crc32_update(uint32_t state, const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) state = tern_crc_table[(state ^ data[i]) & 0xFFu] ^ (state >> 8);
    return state;
}

uint32_t tern_crc32(const uint8_t *data, size_t len) { return ~tern_crc32_update(0xFFFFFFFFu, data, len); }

/* ---- COBS ---- */

size_t tern_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t i, code_at = 0, o = 1;
    uint8_t code = 1;
    if (cap < TERN_COBS_MAX(len)) return 0;
    for (i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        dst[o++] = src[i];
        if (++code == 0xFFu) {
            dst[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    dst[code_at] = code;
    return o;
}

tern_error_t tern_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    size_t i = 0, o = 0, k;
    *out_len = 0;
    while (i < len) {
        uint8_t code = src[i++];
        size_t run = (size_t)code - 1u;
        if (code == 0 || run > len - i) return TERN_ERR_BAD_COBS;
        if (run > cap - o) return TERN_ERR_OVERSIZE;
        for (k = 0; k < run; k++) {
            if (src[i] == 0) return TERN_ERR_BAD_COBS;
            dst[o++] = src[i++];
        }
        if (code != 0xFFu && i < len) {
            if (o == cap) return TERN_ERR_OVERSIZE;
            dst[o++] = 0;
        }
    }
    *out_len = o;
    return TERN_OK;
}

/* ---- packets ---- */

static tern_error_t reject(tern_reject_t *why, tern_error_t code, uint32_t detail, uint16_t seq)
{
    if (why) {
        why->code = code;
        why->detail = detail;
        why->seq = seq;
    }
    return code;
}

tern_error_t tern_frame_check(const uint8_t *packet, size_t len, tern_packet_t *out, tern_reject_t *why)
{
    uint16_t seq, body_len;
    if (len < TERN_OVERHEAD) return reject(why, TERN_ERR_TOO_SHORT, (uint32_t)len, TERN_SEQ_UNKNOWN);
    /* The CRC first: until it verifies, no header field (not even the sequence) can be trusted. */
    if (tern_get_u32(packet + len - TERN_CRC_BYTES) != tern_crc32(packet, len - TERN_CRC_BYTES))
        return reject(why, TERN_ERR_BAD_CRC, 0, TERN_SEQ_UNKNOWN);
    seq = tern_get_u16(packet + 2);
    if (packet[0] != TERN_PROTO_VERSION) return reject(why, TERN_ERR_BAD_VERSION, packet[0], seq);
    body_len = tern_get_u16(packet + 4);
    if ((size_t)body_len != len - TERN_OVERHEAD) return reject(why, TERN_ERR_BAD_LENGTH, body_len, seq);
    if (out) {
        out->type = packet[1];
        out->seq = seq;
        out->body = packet + TERN_HEADER_BYTES;
        out->body_len = body_len;
    }
    return TERN_OK;
}

/* ---- incremental receiver ---- */

void tern_frame_decoder_reset(tern_frame_decoder_t *rx)
{
    rx->len = 0;
    rx->encoded = 0;
    rx->code = 0;
    rx->left = 0;
    rx->skipping = 0;
}

void tern_frame_decoder_init(tern_frame_decoder_t *rx, uint8_t *buf, uint32_t cap)
{
    rx->buf = buf;
    rx->cap = cap;
    tern_frame_decoder_reset(rx);
}

uint32_t tern_frame_decoder_max_body(const tern_frame_decoder_t *rx)
{
    return rx->cap > TERN_OVERHEAD ? rx->cap - TERN_OVERHEAD : 0;
}

static tern_frame_decoder_status_t overflow(tern_frame_decoder_t *rx, tern_reject_t *why)
{
    tern_frame_decoder_reset(rx);
    rx->skipping = 1;
    reject(why, TERN_ERR_OVERSIZE, tern_frame_decoder_max_body(rx), TERN_SEQ_UNKNOWN);
    return TERN_FRAME_DECODER_ERROR;
}

tern_frame_decoder_status_t tern_frame_decoder_push(tern_frame_decoder_t *rx, uint8_t byte, tern_packet_t *pkt,
                                                    tern_reject_t *why)
{
    if (byte == 0) {
        tern_frame_decoder_status_t status = TERN_FRAME_DECODER_MORE;
        if (rx->skipping || rx->encoded == 0) {
            /* End of a skipped frame, or an empty frame (a sender's flush): nothing to report. */
        } else if (rx->left != 0) {
            reject(why, TERN_ERR_BAD_COBS, 0, TERN_SEQ_UNKNOWN);
            status = TERN_FRAME_DECODER_ERROR;
        } else {
            status = tern_frame_check(rx->buf, rx->len, pkt, why) == TERN_OK ? TERN_FRAME_DECODER_FRAME
                                                                              : TERN_FRAME_DECODER_ERROR;
        }
        tern_frame_decoder_reset(rx);
        return status;
    }
    if (rx->skipping) return TERN_FRAME_DECODER_MORE;
    rx->encoded++;
    if (rx->left == 0) {
        /* A new block: the previous one, unless it was a full 0xFF block, stood for a zero. */
        if (rx->encoded > 1 && rx->code != 0xFFu) {
            if (rx->len >= rx->cap) return overflow(rx, why);
            rx->buf[rx->len++] = 0;
        }
        rx->code = byte;
        rx->left = (uint8_t)(byte - 1u);
        return TERN_FRAME_DECODER_MORE;
    }
    rx->left--;
    if (rx->len >= rx->cap) return overflow(rx, why);
    rx->buf[rx->len++] = byte;
    return TERN_FRAME_DECODER_MORE;
}

/* ---- frame encoder ---- */

static void tx_byte(tern_tx_t *tx, uint8_t b)
{
    if (b == 0) {
        tx->block[0] = tx->n;
        tx->write(tx->ctx, tx->block, tx->n);
        tx->n = 1;
        return;
    }
    tx->block[tx->n++] = b;
    if (tx->n == 0xFFu) {
        tx->block[0] = 0xFFu;
        tx->write(tx->ctx, tx->block, 0xFFu);
        tx->n = 1;
    }
}

static void tx_bytes(tern_tx_t *tx, const uint8_t *data, uint32_t len)
{
    uint32_t i;
    tx->crc = tern_crc32_update(tx->crc, data, len);
    for (i = 0; i < len; i++) tx_byte(tx, data[i]);
}

void tern_tx_begin(tern_tx_t *tx, tern_write_fn write, void *ctx, uint8_t type, uint16_t seq, uint16_t body_len)
{
    uint8_t header[TERN_HEADER_BYTES];
    tx->write = write;
    tx->ctx = ctx;
    tx->crc = 0xFFFFFFFFu;
    tx->remaining = body_len;
    tx->n = 1;
    header[0] = (uint8_t)TERN_PROTO_VERSION;
    header[1] = type;
    tern_put_u16(header + 2, seq);
    tern_put_u16(header + 4, body_len);
    tx_bytes(tx, header, TERN_HEADER_BYTES);
}

void tern_tx_put(tern_tx_t *tx, const uint8_t *data, uint32_t len)
{
    /* Count beyond body_len as an error at the end rather than dropping bytes silently. */
    tx->remaining = len > tx->remaining ? 0xFFFFFFFFu : tx->remaining - len;
    tx_bytes(tx, data, len);
}

int tern_tx_end(tern_tx_t *tx)
{
    uint8_t crc[TERN_CRC_BYTES];
    static const uint8_t delimiter = 0;
    uint32_t i;
    tern_put_u32(crc, ~tx->crc);
    for (i = 0; i < TERN_CRC_BYTES; i++) tx_byte(tx, crc[i]);
    tx->block[0] = tx->n;
    tx->write(tx->ctx, tx->block, tx->n);
    tx->write(tx->ctx, &delimiter, 1);
    return tx->remaining == 0 ? 0 : -1;
}

typedef struct {
    uint8_t *out;
    size_t cap, len;
    int overflow;
} mem_sink_t;

static void mem_write(void *ctx, const uint8_t *data, uint32_t len)
{
    mem_sink_t *s = (mem_sink_t *)ctx;
    uint32_t i;
    if (s->overflow || len > s->cap - s->len) {
        s->overflow = 1;
        return;
    }
    for (i = 0; i < len; i++) s->out[s->len++] = data[i];
}

size_t tern_frame_encode(uint8_t type, uint16_t seq, const uint8_t *body, uint16_t body_len, uint8_t *out, size_t cap)
{
    tern_tx_t tx;
    mem_sink_t sink;
    if (body_len > TERN_MAX_BODY) return 0;
    sink.out = out;
    sink.cap = cap;
    sink.len = 0;
    sink.overflow = 0;
    tern_tx_begin(&tx, mem_write, &sink, type, seq, body_len);
    tern_tx_put(&tx, body, body_len);
    tern_tx_end(&tx);
    return sink.overflow ? 0 : sink.len;
}

/* ---- PROFILE ---- */
tern_error_t tern_profile_parse(const uint8_t *body, size_t len, uint16_t *repeats, uint32_t *detail)
{
    uint16_t r;
    if (len != TERN_PROFILE_BODY_BYTES) {
        *detail = TERN_PROFILE_BODY_BYTES;
        return TERN_ERR_BAD_BODY;
    }
    r = tern_get_u16(body);
    if (r < 1u || r > TERN_PROFILE_MAX_REPEATS) {
        *detail = TERN_PROFILE_MAX_REPEATS;
        return TERN_ERR_BAD_REPEATS;
    }
    *repeats = r;
    *detail = 0;
    return TERN_OK;
}

void tern_profile_data_head(uint8_t *out, uint16_t layers, uint16_t repeats, uint32_t base_ticks)
{
    tern_put_u16(out, layers);
    tern_put_u16(out + 2, repeats);
    tern_put_u32(out + 4, base_ticks);
}

/* Tern wire protocol v1, device side (docs/protocol.md): CRC-32, COBS, an incremental frame receiver and a frame
 * encoder. C99, no malloc, no board dependencies: every buffer is the caller's, and nothing is written past it.
 * The host side is src/Runtime/Protocol (C#); both are tested against the same vectors. */
#ifndef TERN_PROTO_H
#define TERN_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TERN_PROTO_VERSION 1u
#define TERN_MAX_BODY 8192u     /* protocol limit; a receiver may accept less (its buffer decides) */
#define TERN_HEADER_BYTES 6u    /* version, type, u16 sequence, u16 body length */
#define TERN_CRC_BYTES 4u
#define TERN_OVERHEAD 10u       /* header + CRC: the smallest valid packet */
#define TERN_SEQ_UNKNOWN 0xFFFFu /* sequence of an ERROR about a frame whose CRC did not verify */
#define TERN_PROFILE_MAX_REPEATS 4096u /* PROFILE: the most runs of each prefix of layers */

/* Largest encoded size of n bytes, and the largest wire size of a frame with a body of n bytes. */
#define TERN_COBS_MAX(n) ((n) + (n) / 254u + 1u)
#define TERN_FRAME_MAX(body_len) (TERN_COBS_MAX(TERN_OVERHEAD + (body_len)) + 1u)
/* Receive buffer size for bodies up to max_body bytes. */
#define TERN_FRAME_DECODER_BUFFER_BYTES(max_body) (TERN_OVERHEAD + (max_body))

typedef enum {
    TERN_MSG_HELLO = 0x01,
    TERN_MSG_INFER = 0x02,
    TERN_MSG_LAYER = 0x03,
    TERN_MSG_SPLIT = 0x04,       /* configure split inference */
    TERN_MSG_INFER_SPLIT = 0x05, /* one frame of the split stream (empty: end of stream) */
    TERN_MSG_STREAM = 0x06,      /* a piece of the last coded stream */
    TERN_MSG_PROFILE = 0x07,     /* per-layer work of the last input */
    TERN_MSG_ERROR = 0x7F,
    TERN_MSG_INFO = 0x81,
    TERN_MSG_RESULT = 0x82,
    TERN_MSG_LAYER_DATA = 0x83,
    TERN_MSG_SPLIT_READY = 0x84,
    TERN_MSG_FEATURES = 0x85,
    TERN_MSG_STREAM_DATA = 0x86,
    TERN_MSG_PROFILE_DATA = 0x87
} tern_msg_type_t;

/* The ERROR codes; every failure has one. */
typedef enum {
    TERN_OK = 0,
    TERN_ERR_BAD_COBS = 1,       /* the frame ended inside a COBS block; detail 0 */
    TERN_ERR_TOO_SHORT = 2,      /* fewer than 10 packet bytes; detail: bytes seen */
    TERN_ERR_BAD_CRC = 3,        /* detail 0 */
    TERN_ERR_BAD_VERSION = 4,    /* detail: the version seen */
    TERN_ERR_BAD_LENGTH = 5,     /* detail: the length field */
    TERN_ERR_OVERSIZE = 6,       /* detail: the receiver's MAX_BODY */
    TERN_ERR_BAD_TYPE = 7,       /* detail: the type */
    TERN_ERR_BAD_INPUT_SIZE = 8, /* detail: the expected size */
    TERN_ERR_NO_INFERENCE = 9,
    TERN_ERR_BAD_LAYER = 10,     /* detail: the layer count */
    TERN_ERR_BAD_RANGE = 11,     /* detail: the layer's total bytes */
    TERN_ERR_BAD_BODY = 12,      /* detail: the expected body size */
    TERN_ERR_NO_SPLIT = 13,      /* INFER_SPLIT or STREAM before an accepted SPLIT */
    TERN_ERR_BAD_SPLIT = 14,     /* detail: byte offset of the bad SPLIT field */
    TERN_ERR_NO_ROOM = 15,       /* detail: bytes the split buffers would need */
    TERN_ERR_BAD_REPEATS = 16    /* PROFILE repeats outside 1..TERN_PROFILE_MAX_REPEATS; detail: that maximum */
} tern_error_t;

/* ---- little-endian helpers (unaligned-safe) ---- */
static inline void tern_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void tern_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint16_t tern_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tern_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- CRC-32 (IEEE 802.3, reflected 0xEDB88320, init and final xor 0xFFFFFFFF; "123456789" -> 0xCBF43926) ---- */
uint32_t tern_crc32(const uint8_t *data, size_t len);
/* Running form: state starts at 0xFFFFFFFF; the CRC is ~state at the end. */
uint32_t tern_crc32_update(uint32_t state, const uint8_t *data, size_t len);

/* ---- COBS ---- */
/* Encodes len bytes into dst (cap bytes). Returns the encoded length (at most TERN_COBS_MAX(len)), or 0 if cap is less
 * than TERN_COBS_MAX(len) (then nothing is written). Ends with the last block's code byte, exactly like the C# encoder. */
size_t tern_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);
/* Decodes len encoded bytes (no delimiter) into dst (cap bytes). Returns TERN_OK and *out_len, or
 * TERN_ERR_BAD_COBS for a zero byte or a truncated block, TERN_ERR_OVERSIZE if the result exceeds cap. */
tern_error_t tern_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);

/* ---- packets ---- */
typedef struct {
    uint8_t type;
    uint16_t seq;
    const uint8_t *body; /* points into the packet (the receiver's buffer): valid until the next push */
    uint16_t body_len;
} tern_packet_t;

/* A rejection: the code, its detail, and the frame's sequence (TERN_SEQ_UNKNOWN until the CRC verified). */
typedef struct {
    tern_error_t code;
    uint32_t detail;
    uint16_t seq;
} tern_reject_t;

/* Checks a decoded packet in this order: TOO_SHORT, BAD_CRC, BAD_VERSION, BAD_LENGTH. On TERN_OK fills *out;
 * otherwise fills *why (either pointer may be NULL). */
tern_error_t tern_frame_check(const uint8_t *packet, size_t len, tern_packet_t *out, tern_reject_t *why);

/* ---- incremental receiver ---- */
typedef enum {
    TERN_FRAME_DECODER_MORE = 0,  /* nothing complete yet */
    TERN_FRAME_DECODER_FRAME = 1, /* *pkt holds a valid frame */
    TERN_FRAME_DECODER_ERROR = 2  /* a frame was rejected: *why says why */
} tern_frame_decoder_status_t;

typedef struct {
    uint8_t *buf;     /* caller's buffer for the decoded packet */
    uint32_t cap;     /* its size: accepts bodies up to cap - TERN_OVERHEAD bytes */
    uint32_t len;     /* decoded bytes so far */
    uint32_t encoded; /* encoded bytes of this frame so far */
    uint8_t code;     /* code byte of the current COBS block */
    uint8_t left;     /* data bytes left in the current block */
    uint8_t skipping; /* after OVERSIZE, skip to the next zero */
} tern_frame_decoder_t;

/* buf must hold at least TERN_OVERHEAD bytes; TERN_FRAME_DECODER_BUFFER_BYTES(TERN_MAX_BODY) accepts every valid
 * frame. */
void tern_frame_decoder_init(tern_frame_decoder_t *rx, uint8_t *buf, uint32_t cap);
/* Forgets any partial frame. */
void tern_frame_decoder_reset(tern_frame_decoder_t *rx);
/* The largest body this receiver accepts (the OVERSIZE detail and INFO's MAX_BODY). */
uint32_t tern_frame_decoder_max_body(const tern_frame_decoder_t *rx);
/* Feeds one byte. COBS is undone on the fly; a zero byte ends the frame, which is then checked. An empty frame
 * (a zero right after a zero) is ignored. A packet that would overflow buf is rejected as OVERSIZE at once and the
 * rest of it is skipped to the next zero. pkt and why must not be NULL. */
tern_frame_decoder_status_t tern_frame_decoder_push(tern_frame_decoder_t *rx, uint8_t byte, tern_packet_t *pkt,
                                                    tern_reject_t *why);

/* ---- frame encoder ---- */
/* Streams one frame through a write callback with a 255-byte block buffer, so a large body (e.g. layer output in
 * the arena) need not be copied: begin with the body length, put the body in any number of pieces, end. */
typedef void (*tern_write_fn)(void *ctx, const uint8_t *data, uint32_t len);

typedef struct {
    tern_write_fn write;
    void *ctx;
    uint32_t crc;       /* running CRC state over header and body */
    uint32_t remaining; /* body bytes still expected */
    uint8_t block[255]; /* block[0] is the code byte slot, then up to 254 data bytes */
    uint8_t n;          /* bytes used in block, counting the code slot */
} tern_tx_t;

void tern_tx_begin(tern_tx_t *tx, tern_write_fn write, void *ctx, uint8_t type, uint16_t seq, uint16_t body_len);
void tern_tx_put(tern_tx_t *tx, const uint8_t *data, uint32_t len);
/* Writes the CRC, the last block and the delimiter. Returns 0, or -1 if the bytes put differ from body_len (the
 * frame is still terminated; the peer will reject it). */
int tern_tx_end(tern_tx_t *tx);

/* Encodes a whole frame (COBS(packet) 0x00) into out. Returns the wire length, or 0 if it does not fit cap
 * (TERN_FRAME_MAX(body_len) always does; out may then be partly written) or body_len exceeds TERN_MAX_BODY. */
size_t tern_frame_encode(uint8_t type, uint16_t seq, const uint8_t *body, uint16_t body_len, uint8_t *out, size_t cap);

/* ---- PROFILE (docs/protocol.md: per-layer work) ---- */
#define TERN_PROFILE_BODY_BYTES 2u
#define TERN_PROFILE_DATA_PREFIX 8u /* PROFILE_DATA bytes before the per-prefix ticks */
/* Checks a PROFILE body: TERN_OK and *repeats; TERN_ERR_BAD_BODY (*detail = 2) for a body of another size;
 * TERN_ERR_BAD_REPEATS (*detail = TERN_PROFILE_MAX_REPEATS) for repeats outside 1..TERN_PROFILE_MAX_REPEATS. */
tern_error_t tern_profile_parse(const uint8_t *body, size_t len, uint16_t *repeats, uint32_t *detail);
/* Writes PROFILE_DATA's first TERN_PROFILE_DATA_PREFIX bytes: u16 layer count, u16 repeats, u32 base ticks (the
 * layer count's u32 prefix ticks follow). */
void tern_profile_data_head(uint8_t *out, uint16_t layers, uint16_t repeats, uint32_t base_ticks);

#endif

/* What the protocol's C test (proto_test.c) and the fuzz harnesses (hil/fuzz) share: a bitwise CRC-32, the
 * reference the device's table is checked against, and a builder of packets with any header fields (for bad
 * frames). Test code only, never part of a firmware. */
#ifndef TERN_PROTO_REFERENCE_H
#define TERN_PROTO_REFERENCE_H

#include <stdint.h>
#include <string.h>

#include "tern_proto.h"

static inline uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

/* Header, body and CRC into out (TERN_OVERHEAD + body_len bytes); returns the length. */
static inline size_t make_packet(uint8_t *out, uint8_t version, uint8_t type, uint16_t seq, uint16_t len_field,
                                 const uint8_t *body, size_t body_len)
{
    out[0] = version;
    out[1] = type;
    tern_put_u16(out + 2, seq);
    tern_put_u16(out + 4, len_field);
    if (body_len) memcpy(out + TERN_HEADER_BYTES, body, body_len);
    tern_put_u32(out + TERN_HEADER_BYTES + body_len, tern_crc32(out, TERN_HEADER_BYTES + body_len));
    return TERN_OVERHEAD + body_len;
}

#endif

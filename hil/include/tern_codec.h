/* Tern feature-map encoder (docs/codec.md, bitstream version 1), device side.
 * Produces exactly the bytes of the F# Codec.encode (src/Core/Codec.fs): N-bit quantizer from the int8 parameters
 * or min-max, three-step or full block search (SAD / MAD / MSE), intra, uni and bi prediction, optional residual,
 * fixed / ZVC / Huffman / RLE entropy coding, header and CRC-32. Integer only, C99, no malloc: the caller gives a
 * work buffer of tern_codec_work_bytes() bytes and an output buffer of tern_codec_max_stream_bytes() bytes.
 * No decoder: the host decodes. */
#ifndef TERN_CODEC_H
#define TERN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define TERN_CODEC_VERSION 1u
#define TERN_CODEC_HEADER_BYTES 22u
#define TERN_CODEC_CRC_BYTES 4u
#define TERN_CODEC_MAX_FRAMES 255u
#define TERN_CODEC_MAX_ELEMENTS (1ul << 26) /* H x W x C x frames */
/* The largest alphabet of any section: the residual's 2^(N+1) + 1 at N = 8. */
#define TERN_CODEC_MAX_ALPHABET 513u
#define TERN_CODEC_MAX_CODE_LENGTH 15u

typedef enum { TERN_QSRC_FROM_INT8 = 0, TERN_QSRC_MINMAX_AFFINE = 1, TERN_QSRC_MINMAX_SYMMETRIC = 2 } tern_quant_source_t;
typedef enum { TERN_PRED_INTRA = 0, TERN_PRED_UNI = 1, TERN_PRED_BI = 2 } tern_prediction_t;
typedef enum { TERN_ENT_FIXED = 0, TERN_ENT_ZVC = 1, TERN_ENT_HUFFMAN = 2, TERN_ENT_RLE = 3 } tern_entropy_t;
typedef enum { TERN_SEARCH_THREE_STEP = 0, TERN_SEARCH_FULL = 1 } tern_search_t;
typedef enum { TERN_COST_SAD = 0, TERN_COST_MAD = 1, TERN_COST_MSE = 2 } tern_cost_t;

/* One codec method (F# CodecOptions). block, range, search and cost are ignored for intra. */
typedef struct {
    uint8_t bits;       /* N, 2..8 */
    uint8_t quant;      /* tern_quant_source_t */
    uint8_t prediction; /* tern_prediction_t */
    uint8_t entropy;    /* tern_entropy_t */
    uint8_t residual;   /* 0 or 1 (predicted streams only) */
    uint8_t block;      /* B, 1..255 */
    uint8_t range;      /* p, 1..127 */
    uint8_t search;     /* tern_search_t */
    uint8_t cost;       /* tern_cost_t */
} tern_codec_options_t;

typedef struct {
    uint16_t h, w, c;
} tern_codec_shape_t;

typedef enum {
    TERN_CODEC_OK = 0,
    TERN_CODEC_BAD_OPTIONS = -1, /* bits, prediction, entropy, block, range, residual with intra ... */
    TERN_CODEC_BAD_SHAPE = -2,   /* a zero dimension or more than TERN_CODEC_MAX_ELEMENTS */
    TERN_CODEC_BAD_FRAMES = -3,  /* frame count 0, > 255, or not the prediction's group size */
    TERN_CODEC_BAD_ZERO_POINT = -4,
    TERN_CODEC_NO_WORK = -5,     /* the work buffer is smaller than tern_codec_work_bytes() */
    TERN_CODEC_NO_ROOM = -6      /* the output buffer is too small for this stream */
} tern_codec_status_t;

/* Seed 004's settings: N bits from the int8 parameters, three-step search with SAD, 4x4 blocks, range 7. */
tern_codec_options_t tern_codec_defaults(uint8_t bits, uint8_t prediction, uint8_t entropy);
/* Frames of one group of the prediction: intra 1, uni 2, bi 3. */
uint32_t tern_codec_group_size(uint8_t prediction);
/* Checks options, shape and frame count as the encoder does: TERN_CODEC_OK or why not. */
tern_codec_status_t tern_codec_check(const tern_codec_options_t *o, tern_codec_shape_t shape, uint32_t frames);
/* Bytes of work buffer the encoder needs (0 when the arguments are invalid). */
size_t tern_codec_work_bytes(const tern_codec_options_t *o, tern_codec_shape_t shape, uint32_t frames);
/* An upper bound on the stream length (0 when the arguments are invalid). */
size_t tern_codec_max_stream_bytes(const tern_codec_options_t *o, tern_codec_shape_t shape, uint32_t frames);

/* Encodes `frames` int8 HWC feature maps (zero point zero_point) into one stream: exactly Codec.encode's bytes.
 * work: tern_codec_work_bytes() bytes, 4-byte aligned. On TERN_CODEC_OK *out_len is the stream length. */
tern_codec_status_t tern_codec_encode(const tern_codec_options_t *o, int zero_point, tern_codec_shape_t shape,
                                      const int8_t *const *frames, uint32_t frame_count, void *work, size_t work_bytes,
                                      uint8_t *out, size_t out_cap, size_t *out_len);

/* ---- stages, exposed for tests ---- */
/* a / step rounded half away from zero (step >= 1). */
int32_t tern_codec_div_round(int32_t a, int32_t step);
/* Huffman code lengths of symbol counts (alphabet <= TERN_CODEC_MAX_ALPHABET), limited to 15 bits, as
 * CodecEntropy.huffmanLengths. A test helper: it uses a static 16 KB scratch (not reentrant; linked only when
 * called, the encoder itself uses the caller's work buffer). */
void tern_codec_huffman_lengths(const uint32_t *counts, uint32_t alphabet, uint8_t *lengths);
/* The motion search's block costs (twins of the C# BlockSadS8 / BlockSsdS8): the sum of absolute (squared)
 * differences of two int8 blocks of `rows` rows of `row_length` codes, rows `stride` codes apart. The plain names are
 * the bodies the encoder runs (USADA8 on a Cortex-M4); the _ref bodies are the plain loops. */
uint64_t tern_block_sad_s8(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows);
uint64_t tern_block_sad_s8_ref(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows);
uint64_t tern_block_ssd_s8(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows);
uint64_t tern_block_ssd_s8_ref(const int8_t *a, const int8_t *b, uint32_t stride, uint32_t row_length, uint32_t rows);

#endif

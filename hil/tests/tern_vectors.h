/* Test vectors generated from the C# runtime (tests/Tern.Tests/KernelVectors.fs writes vectors.c and
 * model_vectors.c); hil/tests/kernel_test.c runs them. */
#ifndef TERN_VECTORS_H
#define TERN_VECTORS_H

#include <stdint.h>
#include "tern_kernels.h"

/* Largest output of one kernel case; the generator keeps every case within it. */
#define TV_MAX_OUTPUT 8192

typedef enum {
    TV_CONV_S8 = 1,
    TV_CONV_T2 = 2,
    TV_DEPTHWISE_S8 = 3,
    TV_DEPTHWISE_T2 = 4,
    TV_MAXPOOL_S8 = 5,
    TV_AVGPOOL_S8 = 6,
    TV_ADD_S8 = 7,
} tv_kind;

/* One layer: parameters, weights (int8 or packed ternary), input and the C# Scalar kernel's output. */
typedef struct {
    const char *name;
    uint8_t kind;                 /* tv_kind */
    const tern_conv_params *conv; /* convolution kinds */
    const tern_pool_params *pool; /* pooling kinds */
    const void *weights;
    const int8_t *input;
    const int8_t *expected;
    uint32_t output_len;
    const tern_add_params *add; /* residual add */
    const int8_t *skip;         /* residual add: the second input */
} tv_case;

/* One requantization: the C# Requantize.Apply result for these arguments. */
typedef struct {
    int32_t acc, m, s, z, lo, hi, expected;
} tv_requant;

extern const char tv_stamp[];
extern const tv_case tv_cases[];
extern const uint32_t tv_case_count;
extern const tv_requant tv_requants[];
extern const uint32_t tv_requant_count;

/* Whole-model vectors for the model compiled into the same binary (its tern_model.c). */
extern const char tv_model_name[];
extern const uint8_t tv_model_hash[32];
extern const uint32_t tv_model_input_count;
extern const uint32_t tv_model_layer_count;
extern const int8_t *const tv_model_inputs[];
/* [input * layer_count + layer]: every layer's output from the C# Runner (scalar mode) */
extern const int8_t *const tv_model_layer_outputs[];
extern const uint32_t tv_model_layer_lengths[];

#endif

/* The interface of an emitted model (src/Core/Emit.fs writes model.c implementing it).
 * Activations are int8 HWC; the arena is statically planned inside model.c. */
#ifndef TERN_MODEL_H
#define TERN_MODEL_H

#include <stdint.h>

typedef struct {
    uint16_t h, w, c;
} tern_shape_t;

extern const uint8_t tern_model_hash[32];  /* SHA-256 of the model file payload */
extern const tern_shape_t tern_model_input_shape;
extern const tern_shape_t tern_model_output_shape;
extern const uint32_t tern_model_arena_bytes;
extern const uint16_t tern_model_layer_count;
extern const char tern_model_kernels[];    /* "reference" or "dsp": the kernel set compiled in */

/* Runs layers 0..last_layer (inclusive) on input (tern_model_input_shape, HWC int8).
 * On success returns 0 and points *output at last_layer's output inside the arena (valid until the
 * next call) with *output_len bytes. Returns a negative number if last_layer is out of range. */
int tern_model_run(const int8_t *input, int last_layer, const int8_t **output, uint32_t *output_len);

#endif

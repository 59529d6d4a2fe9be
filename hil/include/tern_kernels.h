/* Device kernels: the same names and the same arithmetic as the C# kernels in src/Runtime/Kernels
 * (ConvS8 <-> tern_conv_s8, AddS8 <-> tern_add_s8, ...; every pair in hil/README.md), per docs/arithmetic.md. Activations int8 HWC with a per-tensor
 * zero point; weights one row per output channel (Conv: kh, kw, ic; Depthwise: kh, kw; Pointwise: ic;
 * Dense: input index in HWC order); ternary rows packed 2 bits per weight (docs/arithmetic.md).
 * Pointwise and Dense are tern_conv_* with a 1x1 kernel (Dense: input viewed as 1x1xN).
 * Two bodies per kernel: a portable reference and a Cortex-M4 DSP body; TERN_KERNELS_DSP=1 at compile
 * time selects the DSP bodies for the tern_* names, and both are also available under explicit names
 * (tern_conv_s8_ref / tern_conv_s8_dsp, ...) so one test binary can compare them. */
#ifndef TERN_KERNELS_H
#define TERN_KERNELS_H

#include <stdint.h>

typedef enum {
    TERN_OK = 0,
    TERN_ERR_NULL = 1,      /* a required pointer is NULL */
    TERN_ERR_SHAPE = 2,     /* output shape does not follow from input shape and geometry */
    TERN_ERR_GEOMETRY = 3,  /* kernel/stride < 1, a padding >= its kernel side, ... */
    TERN_ERR_SHIFT = 4,     /* a shift outside [1, 62], or M outside [2^30, 2^31) (M < 2^30 only with S = 62) */
    TERN_ERR_RANGE = 5,     /* a zero point outside [-128, 127], or act_min/act_max not inside it and ordered */
    TERN_ERR_WEIGHTS = 6,   /* a packed ternary row holds the invalid code 0b11 */
} tern_status;

/* Which body the plain tern_* names call: 1 = the Cortex-M4 DSP bodies, 0 = the portable references.
 * Default: the DSP bodies wherever the DSP extension exists. */
#ifndef TERN_KERNELS_DSP
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TERN_KERNELS_DSP 1
#else
#define TERN_KERNELS_DSP 0
#endif
#endif

/* Bytes of the one scratch buffer the DSP bodies share (they run one layer at a time). A layer whose
 * prepared data does not fit runs the portable body instead: same integers, only slower. */
#ifndef TERN_SCRATCH_BYTES
#define TERN_SCRATCH_BYTES 4096
#endif

/* Padding (docs/arithmetic.md) is four-sided and holds real zero (the code input_zero). Window (oy, ox) starts at
 * input row oy * stride_h - pad_top and column ox * stride_w - pad_left; pad_bottom and pad_right only add windows
 * at the far edges. Each padding lies in [0, kernel) along its axis, and
 * out_h = (in_h + pad_top + pad_bottom - kernel_h) / stride_h + 1 (out_w likewise), so every window holds at
 * least one element of the input. */
typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c;
    uint8_t kernel_h, kernel_w, stride_h, stride_w;
    uint8_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t input_zero, output_zero; /* in [-128, 127] */
    int32_t act_min, act_max;        /* output clamp, inside [-128, 127] */
    const int32_t *bias;             /* out_c */
    const int32_t *multiplier;       /* out_c, M in [2^30, 2^31) (or < 2^30 with shift 62) */
    const uint8_t *shift;            /* out_c, S in [1, 62] */
} tern_conv_params;

/* Pooling pads like a convolution (above): a padded position holds input_zero, so a max takes real zero into the
 * maximum and an average counts it in the window (the multiplier approximates 1 / (kernel_h * kernel_w)). */
typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c; /* out_c == in_c */
    uint8_t kernel_h, kernel_w, stride_h, stride_w;
    uint8_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t multiplier;           /* average pooling only */
    uint8_t shift;                /* average pooling only */
    int32_t input_zero, output_zero, act_min, act_max;
} tern_pool_params;

/* Residual add of two int8 tensors of `size` elements (docs/arithmetic.md, "Residual add"): with one shift,
 * out = clamp(((((int64)(a - input_zero) * multiplier_a + (int64)(b - skip_zero) * multiplier_b)
 *              + (1 << (shift - 1))) >> shift) + output_zero, act_min, act_max).
 * The larger multiplier lies in [2^30, 2^31) (both may be below 2^30 only with shift 62); shift in [1, 62].
 * output may be the same buffer as input or skip (the emitted model adds in place over the skip tensor). */
typedef struct {
    uint32_t size;
    int32_t input_zero, skip_zero, output_zero; /* in [-128, 127] */
    int32_t multiplier_a, multiplier_b;
    uint8_t shift;
    int32_t act_min, act_max;
} tern_add_params;

/* out = clamp((((int64)acc * m + (1 << (s - 1))) >> s) + z_out, lo, hi); m >= 0, s in [1, 62] (not checked) */
int32_t tern_requantize(int32_t acc, int32_t m, int32_t s, int32_t z_out, int32_t lo, int32_t hi);
int32_t tern_requantize_ref(int32_t acc, int32_t m, int32_t s, int32_t z_out, int32_t lo, int32_t hi);
int32_t tern_requantize_dsp(int32_t acc, int32_t m, int32_t s, int32_t z_out, int32_t lo, int32_t hi);

tern_status tern_conv_s8(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output);
tern_status tern_conv_t2(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output);
tern_status tern_depthwise_s8(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output);
tern_status tern_depthwise_t2(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output);
tern_status tern_maxpool_s8(const tern_pool_params *p, const int8_t *input, int8_t *output);
tern_status tern_avgpool_s8(const tern_pool_params *p, const int8_t *input, int8_t *output); /* also global */
tern_status tern_add_s8(const tern_add_params *p, const int8_t *input, const int8_t *skip, int8_t *output);

/* The two bodies under explicit names; both check their arguments the same way and return the same status.
 * Max pooling clamps its result to [act_min, act_max] (like the C# MaxPoolS8). */
tern_status tern_conv_s8_ref(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output);
tern_status tern_conv_t2_ref(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output);
tern_status tern_depthwise_s8_ref(const tern_conv_params *p, const int8_t *weights, const int8_t *input,
                                   int8_t *output);
tern_status tern_depthwise_t2_ref(const tern_conv_params *p, const uint8_t *packed, const int8_t *input,
                                   int8_t *output);
tern_status tern_maxpool_s8_ref(const tern_pool_params *p, const int8_t *input, int8_t *output);
tern_status tern_avgpool_s8_ref(const tern_pool_params *p, const int8_t *input, int8_t *output);
tern_status tern_add_s8_ref(const tern_add_params *p, const int8_t *input, const int8_t *skip, int8_t *output);
tern_status tern_conv_s8_dsp(const tern_conv_params *p, const int8_t *weights, const int8_t *input, int8_t *output);
tern_status tern_conv_t2_dsp(const tern_conv_params *p, const uint8_t *packed, const int8_t *input, int8_t *output);
tern_status tern_depthwise_s8_dsp(const tern_conv_params *p, const int8_t *weights, const int8_t *input,
                                   int8_t *output);
tern_status tern_depthwise_t2_dsp(const tern_conv_params *p, const uint8_t *packed, const int8_t *input,
                                   int8_t *output);
tern_status tern_maxpool_s8_dsp(const tern_pool_params *p, const int8_t *input, int8_t *output);
tern_status tern_avgpool_s8_dsp(const tern_pool_params *p, const int8_t *input, int8_t *output);
tern_status tern_add_s8_dsp(const tern_add_params *p, const int8_t *input, const int8_t *skip, int8_t *output);

/* Scratch: the DSP bodies use one shared static buffer of TERN_SCRATCH_BYTES (see above); the reference
 * bodies use none. Nothing allocates. */

#endif

namespace Tern.Core

open System.Text
open Tern.Runtime

/// What the emitter records besides the model.
type EmitOptions = {
    /// The command line that produced the model, written into the provenance comment.
    CommandLine: string
    /// The C prefix p of every public name (p_run, P_INPUT_BYTES, ...) and of the files p.h and p.c; the HIL
    /// firmware uses "tern_model" (Emit.firmwarePrefix).
    Prefix: string
}

/// An emitted model: p.h (the model's whole API, self-contained) and p.c (its implementation on hil/kernels).
type EmittedModel = {
    /// The prefix p of the public names.
    Prefix: string
    /// p.h: sizes and quantization parameters as macros, p_run, p_run_layers, p_quantize, p_dequantize, ...
    Header: string
    /// p.c: provenance, static const weights, parameters, the planned arena and the functions p.h declares.
    Source: string
    /// Bytes of the one activation arena (MemoryPlan.Create(model).ArenaBytes).
    ArenaBytes: int
    /// Bytes of constant layer data (weights, bias, M, S), as IntLayer.WeightBytes counts them.
    WeightBytes: int
    /// Bytes of the border patch the baked ternary layers of the DSP build gather into (0 if none).
    PatchBytes: int
    /// How many class names p_class_names holds (the output's size).
    ClassCount: int
}

/// Integer model -> C source for the device kernels (hil/kernels): deterministic, -Wall -Wextra clean. With the DSP
/// kernels, ternary layers are baked into code on the helpers of hil/include/tern_baked.h.
[<RequireQualifiedAccess>]
module Emit =

    /// The Tern version stamped into generated files.
    val version: string

    /// The prefix of the HIL firmware's model (tern_model.h, tern_model_run_layers, TERN_MODEL_ARENA_BYTES, ...).
    val firmwarePrefix: string

    /// A C string literal holding s's UTF-8 bytes: printable ASCII as is, everything else (and ", \, ?) escaped.
    val cString: s: string -> string

    /// The kernel function a layer calls (plain tern_* name; TERN_KERNELS_DSP picks the body); "" for a view.
    val kernelName: layer: IntLayer -> string

    /// Bytes of the border patch a baked layer needs (0 if every window is interior).
    val bakedPatchBytes: c: IntConvLayer -> int

    /// The C of one ternary layer baked into code, numbered i: static functions tern_l{i}_px1, _px2 and _border
    /// and `static void tern_l{i}_baked(const int8_t *in, int8_t *out)`. It needs tern_baked.h (and
    /// tern_kernels.h) included before it and, if bakedPatchBytes c > 0, `static int8_t tern_patch[n]` with
    /// n >= bakedPatchBytes c. Throws ArgumentException for a layer that is not ternary.
    val bakedLayerSource: i: int -> c: IntConvLayer -> string

    /// Emits p.h and p.c (p = options.Prefix) for an integer model (validated first); the hash is the model file's
    /// (ModelFile.hash). Only the names p.h declares are external, so models with different prefixes link together.
    val model: options: EmitOptions -> model: IntModel -> modelHash: string -> EmittedModel

    /// Writes dir/p.h and dir/p.c (each atomically: temporary name, then rename); creates dir.
    val writeFiles: dir: string -> emitted: EmittedModel -> unit

    // ---- for Export and KernelVectors ----

    /// Why a string cannot prefix the public C names of a model, or None: a C identifier of at most 40 characters,
    /// not a keyword, not reserved (a leading underscore), not ending in an underscore.
    val internal prefixProblem: prefix: string -> string option

    /// Whether the DSP build runs a layer as baked code: every ternary convolution-like layer.
    val internal isBaked: c: IntConvLayer -> bool

    /// A C integer literal (INT32_MIN written so that it keeps type int).
    val internal num: x: int64 -> string

    /// Text that is safe inside a C block comment or string: printable ASCII only, no comment terminator.
    val internal safeText: s: string -> string

    /// Appends `decl[n] = { values }` 16 per line.
    val internal array: sb: StringBuilder -> decl: string -> values: string[] -> unit

    /// Bytes as 0x.. literals.
    val internal bytesOf: a: byte[] -> string[]

    /// int8 values as literals.
    val internal sbytesOf: a: sbyte[] -> string[]

    /// The C initializer of a tern_conv_params for a convolution-like layer (Dense as a 1x1 conv over 1x1xN), with
    /// designated fields; bias, multiplier and shift point at prefix_bias, prefix_multiplier and prefix_shift.
    val internal convParams: c: IntConvLayer -> prefix: string -> string

    /// The C initializer of a tern_pool_params, with designated fields.
    val internal poolParams: p: IntPoolLayer -> string

    /// The C initializer of a tern_add_params.
    val internal addParams: a: IntAddLayer -> string

    /// Appends the weight, bias, M and S arrays of a convolution-like layer, named prefix_*.
    val internal convArrays: sb: StringBuilder -> c: IntConvLayer -> prefix: string -> unit

    /// Appends the provenance comment every generated file opens with: what it is, the Tern version, the model
    /// hash and the command line.
    val internal provenance: sb: StringBuilder -> what: string -> modelHash: string -> commandLine: string -> unit

namespace Tern.Core

open Tern.Runtime

/// One layer's estimated cost on the board (qemu-mps2-an386, DSP kernels).
type LayerCost = {
    /// Position in the lowered (integer) model: BatchNorm folded, activations fused.
    Index: int
    /// The integer layer kind in lower case ("conv", "depthwise", "pointwise", "dense", "avgpool", ...).
    Kind: string
    Macs: int64
    /// Instructions per inference (QEMU -icount).
    Instructions: int64
    /// The layer's own flash: int8 weight arrays and parameters, or a ternary layer's baked code.
    FlashBytes: int64
    /// Arena bytes alive while the layer runs (input + output + a residual block's held input).
    ArenaBytes: int64
}

/// A model's estimated cost, totals as `tern hil` measures them.
type CostEstimate = {
    /// Instructions per inference (hil's median).
    Instructions: int64
    /// text + data of the whole HIL firmware: board support, runtime, protocol, kernels, driver and layers.
    FlashBytes: int64
    /// data + bss of the firmware: fixed buffers, the arena, the ternary border patch or the int8 scratch.
    RamBytes: int64
    Layers: LayerCost list
}

/// What the cost model reads of one integer layer (DeviceCost.features): the terms its coefficients multiply, for
/// refitting them on board measurements (build/FitDeviceCost.fsx).
type LayerFeatures = {
    Index: int
    /// The integer layer kind in lower case, as LayerCost.Kind.
    Kind: string
    /// Ternary weights (baked into code on the DSP build).
    Ternary: bool
    /// MACs, or for a ternary layer its non-zero MACs (non-zero weights times output positions per channel).
    Work: int64
    Outputs: int64
    /// Output rows.
    Rows: int64
    /// Non-zero weights (ternary; 0 otherwise).
    NonZero: int64
    OutChannels: int64
    /// A baked layer with the two-pixels-per-register path.
    Pairs: bool
    /// A baked layer with the border path (some window reads padding).
    Border: bool
    /// An average pool on the DSP body's single-channel path.
    SingleChannelPool: bool
}

/// Per-layer cost model of a lowered model on qemu-mps2-an386 with the DSP kernels. Coefficients are fitted to
/// `tern hil --profile` measurements (docs/device-cost.md): instructions per layer kind are a*MACs (ternary: non-zero
/// MACs) + b*outputs + c*output rows + d; baked ternary code is a*(non-zero weights * code copies) + b*channels + c.
[<RequireQualifiedAccess>]
module DeviceCost =

    /// Flash of the firmware without any layer: board support, C runtime, protocol (measured, fitted).
    val fixedFlashBytes: int64

    /// RAM of the firmware without the arena: protocol buffers, stack, counters.
    val fixedRamBytes: int64

    /// The model driver's flash (layer tables, tern_model_run_layers) for a model of n integer layers; the int8
    /// kernels' calls take more parameters than a baked layer's.
    val driverFlashBytes: layers: int -> anyInt8: bool -> int64


    /// The largest ternary border patch of a model's layers (bytes of RAM; the emitter's bakedPatchBytes).
    val internal patchBytesOf: model: IntModel -> int64

    /// The estimate for an integer model (as `tern hil` would build it).
    val estimateInt: model: IntModel -> CostEstimate

    /// The terms of each integer layer the coefficients multiply, in the model's order.
    val features: model: IntModel -> LayerFeatures list

    /// The estimate for a float model as the pipeline would lower it (BN folded, activations fused, weights as
    /// chosen); needs no calibration: ternary zeros come from ternarizing the folded weights. Throws
    /// ArgumentException on an invalid model.
    val estimate: weights: WeightChoice -> model: Model -> CostEstimate

    /// As estimate, with the lowering's int8 layers (LowerOptions.Int8Layers) costed as int8.
    val estimateWith: lowering: LowerOptions -> model: Model -> CostEstimate

/// A device budget: each limit optional (named apart from Tern.Studies.Budget, the block search's FLOPs/parameter budget).
type DeviceBudget = {
    Flash: int64 option
    Ram: int64 option
    Instructions: int64 option
}

[<RequireQualifiedAccess>]
module DeviceBudget =

    /// What the default model uses on qemu-mps2-an386 (20,688 B flash, 28,784 B RAM, 275,360 instructions),
    /// rounded up to the next 4 KiB (flash, RAM) and the next 25,000 instructions: 24K flash, 32K RAM, 300,000.
    val defaults: DeviceBudget

    /// Parses "flash=32K,ram=16K,instructions=400K": K = 1024 and M = 1024^2 bytes for flash and ram, K = 1000 and
    /// M = 10^6 for instructions; a plain number is taken as is. Errors name the bad part.
    val parse: text: string -> Result<DeviceBudget, string>

    /// The budget in the form parse reads (exact: K or M only where the value is a whole multiple).
    val format: budget: DeviceBudget -> string

    /// The violations of a budget by an estimate ("flash 25,000 B > 24,576 B", ...); empty when it fits.
    val check: budget: DeviceBudget -> cost: CostEstimate -> string list

/// The command line of `tern`: every verb's arguments (Argu) and the two error kinds.
module Tern.Cli.Args

open Argu

/// Bad input: exit code 2.
exception BadInput of string
/// The work itself failed: exit code 1.
exception Failure of string

type NewArgs =
    | [<Mandatory>] Arch of name: string
    | Seed of int
    | [<Mandatory>] Out of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Arch _ -> "architecture (default)"
            | Seed _ -> "random seed for the initial weights (default 1)"
            | Out _ -> "model file to write"
            | Json -> "print one JSON object"

and ModelArgs =
    | [<CliPrefix(CliPrefix.None)>] New of ParseResults<NewArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | New _ -> "create a float model with initial weights"

type InspectArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "model file (float or integer)"
            | Json -> "print one JSON object"

type WeightsArg =
    | Int8
    | Ternary

type AlphaArg =
    | Layer
    | Channel

/// How a .npy array of samples orders its dimensions.
type LayoutArg =
    | Nchw
    | Nhwc

type LowerArgs =
    | [<MainCommand; ExactlyOnce>] Float of path: string
    | Weights of WeightsArg
    | Calib of source: string
    | Calib_Count of int
    | Layout of LayoutArg
    | Seed of int
    | Threshold of ratio: float
    | Alpha of AlphaArg
    | Int8_Layers of list: string
    | [<Mandatory>] Out of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Float _ -> "float model file"
            | Weights _ -> "weight storage (default ternary)"
            | Calib _ -> "calibration inputs: random:N, npy:X.npy (samples) or a data set folder (default random:64)"
            | Calib_Count _ ->
                "with npy: or a folder: calibrate on at most this many samples, a seeded subset (class-stratified for "
                + "a folder) when there are more (default 256)"
            | Layout _ -> "with npy: the samples' layout, nchw (N,C,H,W or N,C,W; default) or nhwc (N,H,W,C or N,W,C)"
            | Seed _ -> "seed of the calibration source: random inputs or the subset taken (default 1)"
            | Threshold _ -> "ternary threshold as a ratio of mean |W| (default 0.7)"
            | Alpha _ -> "ternary scale per layer or per output channel (default channel)"
            | Int8_Layers _ ->
                "conv/dense layers kept at int8 weights in a ternary model, comma-separated, 0 = the first (e.g. 0)"
            | Out _ -> "integer model file to write"
            | Json -> "print one JSON object"

type KernelsArg =
    | Scalar
    | Optimized

type RunArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of source: string
    | Layout of LayoutArg
    | Samples of int
    | Subjects of names: string
    | All_Subjects
    | Float of path: string
    | Seed of int
    | Save_Outputs of path: string
    | Dequantize
    | Check
    | Kernels of KernelsArg
    | Json
    | Html of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "model file: integer (C# runtime) or float (F# float reference)"
            | Input _ ->
                "inputs: random:N, npy:X.npy (samples) or a data set folder (labelled: accuracy is reported); "
                + "default random:100"
            | Layout _ -> "with npy: the samples' layout, nchw (N,C,H,W or N,C,W; default) or nhwc (N,H,W,C or N,W,C)"
            | Samples _ ->
                "with npy: or a folder: run at most N samples, a seeded draw (stratified by class and subject for a "
                + "folder), never the first N"
            | Subjects _ ->
                "with a folder: evaluate these subjects, comma-separated (default: the model's held-out subjects when "
                + "the folder is the data set it was trained on, else all)"
            | All_Subjects -> "with a folder: evaluate every subject, even when the model records held-out ones"
            | Float _ ->
                "integer model: its float parent (tern lower's input); adds float_vs_integer: top-1 agreement, L2r "
                + "and cosine of the logits"
            | Seed _ -> "seed of random inputs and of the --samples draw (default 1)"
            | Save_Outputs _ ->
                "write the outputs as .npy, N x classes: float32 logits of a float model, int8 of an integer one"
            | Dequantize ->
                "with --save-outputs and an integer model: write float32 (the output's scale and zero point)"
            | Check -> "integer model: also run the scalar runtime and the F# reference and count disagreements"
            | Kernels _ -> "integer model: kernels for the main run (default optimized)"
            | Json -> "print one JSON object"
            | Html _ ->
                "write an HTML report to this file: charts, headline numbers, provenance (self-contained, nothing fetched)"

type SpSwHarArgs =
    | [<Mandatory>] In of dir: string
    | Device of device: string
    | Sensors of names: string
    | [<Mandatory>] Out of dir: string
    | Window of samples: int
    | Hop of samples: int
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | In _ -> "the sp-sw-har folder (the one holding DATA/, or DATA/ itself)"
            | Device _ -> "sp (smartphone, default) or sw (smartwatch)"
            | Sensors _ ->
                "acc, gyro or acc,gyro (default): the accelerometer (full scale 2 g) and/or the gyroscope (500 degrees/s)"
            | Out _ -> "output folder: OUT/raw and OUT/spectrogram are written"
            | Window _ -> "window length in samples at 100 Hz (default 64)"
            | Hop _ -> "hop between windows in samples (default 32)"
            | Json -> "print one JSON object"

and CsvArgs =
    | [<Mandatory>] In of files: string list
    | [<Mandatory>] Columns of names: string
    | [<Mandatory>] Label of column: string
    | [<Mandatory>] Subject of column: string
    | [<Mandatory>] Rate of hz: float
    | Time of column: string
    | Classes of names: string
    | Full_Scale of value: float
    | Column_Scale of scales: string
    | Window of samples: int
    | Hop of samples: int
    | [<Mandatory>] Out of dir: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | In _ -> "CSV files (RFC 4180: a header row, comma-separated, cells may be quoted)"
            | Columns _ -> "channel columns, comma-separated (e.g. x,y,z)"
            | Label _ -> "label column"
            | Subject _ -> "subject column: whole numbers 0..65535 (the ids) or names such as S01"
            | Rate _ -> "uniform rate to resample to, Hz"
            | Time _ -> "timestamp column in ms (default: rows are already uniform at --rate)"
            | Classes _ -> "fixed class list, comma-separated (other labels are rejected)"
            | Full_Scale _ -> "divide raw values by this and clip to [-1, 1] (default: keep as recorded)"
            | Column_Scale _ ->
                "full scales of particular columns in place of --full-scale, e.g. gx=8.73,gy=8.73,gz=8.73 (a gyroscope "
                + "in rad/s beside an accelerometer in m/s^2)"
            | Window _ -> "window length in samples (default 64)"
            | Hop _ -> "hop between windows in samples (default 32)"
            | Out _ -> "output folder: OUT/raw and OUT/spectrogram are written"
            | Json -> "print one JSON object"

and NpyArgs =
    | X of path: string
    | Y of path: string
    | Subjects of path: string
    | Npz of path: string
    | Classes of names: string
    | Layout of LayoutArg
    | [<Mandatory>] Out of dir: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | X _ -> "samples .npy: float32, float64, int16 or uint8, (N,C,H,W) or (N,C,W) for 1-D (see --layout)"
            | Y _ -> "labels .npy: integer class indices or strings (class names), shape (N,)"
            | Subjects _ -> "subjects .npy: whole numbers 0..65535 or strings (names), shape (N,); default: all 0"
            | Npz _ -> "one .npz holding arrays x, y and optionally subjects (instead of --x, --y, --subjects)"
            | Classes _ ->
                "class names, comma-separated, in index order (default: the sorted distinct string labels, or "
                + "class0..class(K-1) for integer labels)"
            | Layout _ ->
                "nchw (default: N,C,H,W, or N,C,W -> H=1, as PyTorch holds them) or nhwc (N,H,W,C, or N,W,C -> H=1)"
            | Out _ -> "output data set folder"
            | Json -> "print one JSON object"

and ImportArgs =
    | [<CliPrefix(CliPrefix.None)>] Sp_Sw_Har of ParseResults<SpSwHarArgs>
    | [<CliPrefix(CliPrefix.None)>] Csv of ParseResults<CsvArgs>
    | [<CliPrefix(CliPrefix.None)>] Npy of ParseResults<NpyArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Sp_Sw_Har _ -> "import the sp-sw-har recordings (CC BY 4.0, Matey-Sanz et al. 2023)"
            | Csv _ -> "import any recordings in CSV form"
            | Npy _ -> "import NumPy arrays of samples, labels and subjects (.npy files or one .npz)"

and DataInfoArgs =
    | [<MainCommand; ExactlyOnce>] Dir of dir: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dir _ -> "a data set folder"
            | Json -> "print one JSON object"

and SynthArgs =
    | [<Mandatory>] Out of dir: string
    | Subjects of count: int
    | Per_Class of count: int
    | Seed of int
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> "output data set folder"
            | Subjects _ -> "number of simulated subjects (default 12)"
            | Per_Class _ -> "samples per class and subject (default 40)"
            | Seed _ -> "seed (default 1)"
            | Json -> "print one JSON object"

and DataArgs =
    | [<CliPrefix(CliPrefix.None)>] Synth of ParseResults<SynthArgs>
    | [<CliPrefix(CliPrefix.None)>] Import of ParseResults<ImportArgs>
    | [<CliPrefix(CliPrefix.None)>] Info of ParseResults<DataInfoArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Synth _ -> "simulate CW radar micro-Doppler spectrograms (the embedded default data)"
            | Import _ -> "bring recordings in as data set folders (raw windows and spectrograms)"
            | Info _ -> "counts per class and subject, shapes"

/// A switch given as a value.
type OnOff =
    | On
    | Off

type TrainArgs =
    | [<Mandatory>] Data of dir: string
    | Arch of name: string
    | Budget of limits: string
    | Inner_Folds of k: int
    | Init of path: string
    | [<Mandatory>] Out of path: string
    | Epochs of int
    | Batch of int
    | Lr of rate: float
    | Valid of fraction: float
    | Class_Weighted
    | Label_Smoothing of e: float
    | Ema of decay: float
    | Qat of WeightsArg
    | Sparsity of fraction: float
    | Qat_Epochs of int
    | Int8_Layers of list: string
    | Augment of name: string
    | Fake_Quant of OnOff
    | Distill of OnOff
    | Prune of spec: string
    | Seed of int
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Init _ ->
                "start from this float model file (e.g. tern study search --out) instead of a new --arch; its input "
                + "and classes must match the data"
            | Prune _ ->
                "after FP32 training remove filters, e.g. low:0.7 (criterion l1, low, high or overall : fraction of "
                + "each layer's filters), re-estimate BN on training inputs and fine-tune 30 epochs, before --qat"
            | Fake_Quant _ ->
                "with --qat: fake-quantize int8 activations with learned ranges (default: off for ternary, on for int8)"
            | Augment _ ->
                "training-time augmentation: none, time-shift, rotate, scale, jitter, warp (raw windows), time-mask, freq-mask "
                + "(spectrograms), presets imu or spec, or a comma list, e.g. rotate,scale=0.2 (default: what the data set declares)"
            | Qat _ ->
                "then fine-tune quantization-aware (ternary: TWN weights + pruning; int8: per-channel weights), then write the lowered integer model"
            | Sparsity _ -> "with --qat: target fraction of pruned weights (default 0.45)"
            | Qat_Epochs _ -> "with --qat: quantization-aware epochs (default 80 ternary, 20 int8; early stopping)"
            | Int8_Layers _ ->
                "with --qat ternary and a fixed --arch or --init: conv/dense layers kept at int8 weights, comma-separated, "
                + "0 = the first (--arch auto keeps the first int8 when the budget allows)"
            | Data _ ->
                "data set folder (tern data synth / tern data import), or an import's top folder (raw/ and spectrogram/: "
                + "--arch auto chooses between them, a fixed architecture trains on spectrogram/, raw1d on raw/)"
            | Arch _ ->
                "architecture: auto (default: the form and architecture that validate best on subject-grouped folds of "
                + "the training subjects, within --budget, scored as ternary models with --qat ternary; "
                + "docs/architectures.md), default, raw1d, plain, blocks, or a "
                + "parametric one such as sep-16-32-32-k3-flat, either after avgN- to pool the input N x N first (avg4-default), "
                + "shaped to the data's input and classes"
            | Inner_Folds _ ->
                "subject-grouped folds of the training subjects --arch auto validates each candidate on (default 3, at "
                + "most one per subject): more folds train each candidate on more subjects, and take longer"
            | Budget _ ->
                "device budget --arch auto keeps to, e.g. flash=32K,ram=16K,instructions=400K (K = 1024 bytes for flash "
                + "and ram, 1000 instructions; M likewise; default: flash=24K,ram=32K,instructions=300K, what the default "
                + "model uses on qemu-mps2-an386, rounded up); costs are estimated for the --qat weights, ternary without"
            | Out _ -> "float model file to write"
            | Epochs _ ->
                "epochs (default 60; early stopping on the validation subjects); 0 with --init keeps its weights (e.g. an "
                + "imported model going straight to --qat)"
            | Batch _ -> "mini-batch size (default 32)"
            | Lr _ -> "Adam learning rate (default 0.003, cosine schedule)"
            | Valid _ -> "fraction of subjects held out for validation (default 0.2)"
            | Class_Weighted -> "weight the loss by inverse class frequency"
            | Label_Smoothing _ ->
                "label smoothing e in [0, 1) of every training: targets (1 - e) one-hot + e / classes (default 0)"
            | Ema _ ->
                "exponential moving average of the FP32 weights, decay per step in [0, 1): validation and the kept "
                + "model use it (0 is off; default 0)"
            | Distill _ -> "with --qat: distil the FP32 model into its quantized self (T 4, weight 0.5; default: off)"
            | Seed _ -> "seed of initialisation and shuffling (default 1)"
            | Json -> "print one JSON object"

type SplitArg =
    | Kfold
    | Loso

type StudyTernaryArgs =
    | [<Mandatory>] Data of dir: string
    | Folds of int
    | Split of SplitArg
    | Arch of name: string
    | Budget of limits: string
    | Inner_Folds of k: int
    | Int8_Layers of list: string
    | Baseline
    | Epochs of int
    | Sparsity of fraction: float
    | Augment of name: string
    | Fake_Quant of OnOff
    | Label_Smoothing of e: float
    | Ema of decay: float
    | Distill of OnOff
    | Seed of int
    | History of path: string
    | No_History
    | Json
    | Html of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Fake_Quant _ ->
                "fake-quantize int8 activations with learned ranges during QAT (default off: min-max calibration)"
            | Augment _ ->
                "training-time augmentation: none, time-shift, rotate, scale, jitter, warp (raw windows), time-mask, "
                + "freq-mask (spectrograms), presets imu or spec, or a comma list (default: what the data set declares)"
            | Label_Smoothing _ ->
                "label smoothing e in [0, 1) of FP32 training and QAT: targets (1 - e) one-hot + e / classes (default 0)"
            | Ema _ ->
                "exponential moving average of the FP32 weights (the search's candidates too), decay per step in "
                + "[0, 1): validation and the kept model use it (0 is off; default 0)"
            | Distill _ ->
                "distil each fold's FP32 model into its ternary self during QAT (T 4, weight 0.5; default: off)"
            | Data _ ->
                "data set folder, or an import's top folder (raw/ and spectrogram/; --arch auto chooses between them, a "
                + "fixed architecture trains on spectrogram/, raw1d on raw/)"
            | Folds _ -> "number of subject-grouped stratified folds (default 5)"
            | Split _ -> "kfold (default) or loso (leave one subject out)"
            | Arch _ ->
                "architecture: auto (default: the form and architecture whose ternary models validate best on "
                + "subject-grouped folds of each fold's training subjects, within --budget), default, raw1d (takes raw/ from a top folder), plain, "
                + "blocks, or a parametric one such as sep-16-32-32-k3-flat, either after avgN- to pool the input N x N first "
                + "(docs/architectures.md)"
            | Inner_Folds _ ->
                "subject-grouped folds of the training subjects --arch auto validates each candidate on (default 3, at "
                + "most one per subject): more folds train each candidate on more subjects, and take longer"
            | Budget _ ->
                "device budget --arch auto keeps to, e.g. flash=32K,ram=16K,instructions=400K (K = 1024 bytes for flash "
                + "and ram, 1000 instructions; M likewise; default: flash=24K,ram=32K,instructions=300K, what the default "
                + "model uses on qemu-mps2-an386, rounded up)"
            | Baseline -> "also run the classic baseline (study baseline) on the raw form of the same windows and folds"
            | Int8_Layers _ ->
                "with a fixed --arch: conv/dense layers kept at int8 weights, comma-separated, 0 = the first (default: "
                + "none; --arch auto keeps the first int8 when the budget allows)"
            | Epochs _ -> "maximum FP32 epochs per fold (default 60, early stopping)"
            | Sparsity _ -> "target fraction of pruned weights (default 0.45)"
            | Seed _ -> "seed (default 1)"
            | History _ ->
                "append this run to this history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | No_History -> "do not append this run to the history"
            | Json -> "print one JSON object"
            | Html _ ->
                "write an HTML report to this file: charts, headline numbers, provenance (self-contained, nothing fetched)"

type StudyGammaArgs =
    | [<Mandatory>] Data of dir: string
    | Bits of list: string
    | Folds of int
    | Split of SplitArg
    | Epochs of int
    | Arch of name: string
    | Seed of int
    | History of path: string
    | No_History
    | Json
    | Html of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "data set folder of raw windows shaped 1 x W x C"
            | Bits _ -> "bit depths, comma-separated, each 1..16 (default 2,4)"
            | Folds _ -> "number of subject-grouped stratified folds (implies --split kfold)"
            | Split _ -> "loso (default) or kfold"
            | Epochs _ -> "maximum epochs per training (default 30, early stopping)"
            | Arch _ -> "architecture: raw1d (default) or default"
            | Seed _ -> "seed (default 1)"
            | History _ ->
                "append this run to this history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | No_History -> "do not append this run to the history"
            | Json -> "print one JSON object"
            | Html _ ->
                "write an HTML report to this file: charts, headline numbers, provenance (self-contained, nothing fetched)"

type StudyBaselineArgs =
    | [<Mandatory>] Data of dir: string
    | Split of SplitArg
    | Folds of int
    | Trees of int
    | Seed of int
    | History of path: string
    | No_History
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "data set folder of raw windows (1 x W x C), or an import's top folder (its raw/ is taken)"
            | Split _ -> "loso (default) or kfold (5 folds unless --folds)"
            | Folds _ -> "number of subject-grouped stratified folds (implies --split kfold)"
            | Trees _ -> "trees per forest (default 200)"
            | Seed _ -> "seed of the split and the forests (default 1)"
            | History _ ->
                "append this run to this history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | No_History -> "do not append this run to the history"
            | Json -> "print one JSON object"

type CodecQuantArg =
    | From_Int8
    | Minmax
    | Minmax_Symmetric

type StudyCodecArgs =
    | Data of dir: string
    | Model of path: string
    | Split of k: int
    | Bits of list: string
    | Quant of CodecQuantArg
    | Group of frames: string
    | History of path: string
    | No_History
    | Json
    | Html of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Group _ ->
                "frames per codec stream for every method, 3..255 (default 5; bi-TSS anchors the middle one, "
                + "uni-TSS the first), or 'seed' for seed 004's groups (uniform 1, uni-TSS 2, bi-TSS 3)"
            | Quant _ ->
                "N-bit quantizer: minmax (affine over each stream's anchor codes, all frames of an intra stream; default), "
                + "minmax-symmetric, "
                + "or from-int8 (seed 004: step 2^(8-N) from the int8 parameters)"
            | Data _ ->
                "data set folder whose samples are consecutive overlapping windows in time order, e.g. "
                + "tern data import sp-sw-har --hop 4 (default: the synthetic radar stream, data seed 2)"
            | Model _ ->
                "model file: integer, or float (lowered to ternary, calibrated on the data); default: the embedded model"
            | Split _ -> "split point K: the device runs layers 0..K-1 (default: the smallest map in the first half)"
            | Bits _ -> "codec bit depths, comma-separated, each 2..8 (default 4,5,6,7,8)"
            | History _ ->
                "append this run to this history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | No_History -> "do not append this run to the history"
            | Json -> "print one JSON object"
            | Html _ ->
                "write an HTML report to this file: charts, headline numbers, provenance (self-contained, nothing fetched)"

type StudyPruneArgs =
    | [<Mandatory>] Data of dir: string
    | Criteria of list: string
    | Ratios of list: string
    | Folds of int
    | Arch of name: string
    | Epochs of int
    | Fine_Tune of epochs: int
    | Seed of int
    | History of path: string
    | No_History
    | Json
    | Html of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "data set folder (tern data synth / tern data import)"
            | Criteria _ -> "filter criteria, comma-separated: l1, low, high, overall (default all four)"
            | Ratios _ -> "fractions of each layer's filters to remove, comma-separated (default 0.6,0.65,0.7,0.75)"
            | Folds _ -> "number of subject-grouped stratified folds (default 5)"
            | Arch _ -> "architecture: plain (default; seed 001's conv stack at 1/8 width), default or raw1d"
            | Epochs _ -> "maximum baseline epochs per fold (default 30, early stopping)"
            | Fine_Tune _ -> "fine-tuning epochs of every pruned model (default 30)"
            | Seed _ -> "seed (default 1)"
            | History _ ->
                "append this run to this history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | No_History -> "do not append this run to the history"
            | Json -> "print one JSON object"
            | Html _ ->
                "write an HTML report to this file: charts, headline numbers, provenance (self-contained, nothing fetched)"

type DropOrderArg =
    | Suffix
    | Energy

type StudySearchArgs =
    | [<Mandatory>] Data of dir: string
    | Arch of name: string
    | Drop_Order of DropOrderArg
    | Epochs of int
    | Fine_Tune of epochs: int
    | Subset of fraction: float
    | Repeats of int
    | Allowed_Drop of fraction: float
    | Tolerance of spec: string
    | Sparsity_Step of fraction: float
    | Max_Flops of macs: int64
    | Max_Params of count: int
    | Max_Instructions of count: int64
    | Repack of relative: float
    | Out of path: string
    | Seed of int
    | History of path: string
    | No_History
    | Json
    | Html of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "data set folder (tern data synth / tern data import)"
            | Arch _ -> "block-structured architecture (default blocks: inverted-residual blocks)"
            | Drop_Order _ ->
                "which blocks go first: suffix (the last ones, default) or energy (the smallest residual-branch energy)"
            | Epochs _ -> "baseline training epochs (default 25)"
            | Fine_Tune _ -> "fine-tuning epochs per candidate, the decision protocol's (default 2)"
            | Subset _ -> "fraction of the validation set per repeat (default 0.2)"
            | Repeats _ -> "fine-tune-and-validate repeats per candidate (default 2)"
            | Allowed_Drop _ -> "target = baseline validation accuracy minus this (default 0.01)"
            | Tolerance _ -> "subset decision margin: fixed:0.02 (default) or hoeffding:DELTA (seed 003's bound)"
            | Sparsity_Step _ -> "step of the sparsity grid 0..0.95 (default 0.05)"
            | Max_Flops _ -> "budget: at most this many multiply-accumulates per inference"
            | Max_Params _ -> "budget: at most this many stored (non-zero) parameters"
            | Repack _ ->
                "after the search remove channels whose mean squared activation is at most this fraction of their "
                + "layer's mean (default 0: exactly dead channels only; kept only if the target still holds)"
            | Max_Instructions _ ->
                "budget: at most this many instructions per inference, measured for every candidate lowered to "
                + "ternary on qemu-mps2-an386 (needs the ARM toolchain and QEMU; a firmware build per candidate)"
            | Out _ -> "write the chosen float model (blocks dropped, weights pruned, channels repacked)"
            | Seed _ -> "seed (default 1)"
            | History _ ->
                "append this run to this history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | No_History -> "do not append this run to the history"
            | Json -> "print one JSON object"
            | Html _ ->
                "write an HTML report to this file: charts, headline numbers, provenance (self-contained, nothing fetched)"

type StudyArgs =
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("ternary")>] Ternary_Study of ParseResults<StudyTernaryArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("gamma")>] Gamma_Study of ParseResults<StudyGammaArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("codec")>] Codec_Study of ParseResults<StudyCodecArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("prune")>] Prune_Study of ParseResults<StudyPruneArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("search")>] Search_Study of ParseResults<StudySearchArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("baseline")>] Baseline_Study of ParseResults<StudyBaselineArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Ternary_Study _ -> "FP32 vs integer ternary accuracy per fold (seed 000's table)"
            | Gamma_Study _ -> "raw vs linear vs learned gamma-QUANT input quantization (seed 002's table 2)"
            | Codec_Study _ -> "feature-map codec on streams of overlapping windows: ratio and accuracy (seed 004)"
            | Prune_Study _ ->
                "filter pruning by criterion and ratio: accuracy, FLOPs and parameters (seed 001's tables)"
            | Search_Study _ ->
                "bisection over retained blocks and sparsity with the cheap decision protocol (seed 003)"
            | Baseline_Study _ ->
                "classic baseline: a random forest on 43 statistics of raw windows, same folds and metrics"

type DeviceKernelsArg =
    | Reference
    | Dsp

type HilArgs =
    | Board of name: string
    | [<Mandatory>] Model of path: string
    | Data of dir: string
    | Input of source: string
    | Samples of int
    | Subjects of names: string
    | All_Subjects
    | Float of path: string
    | Seed of int
    | Kernels of DeviceKernelsArg
    | Port of port: string
    | Cache of dir: string
    | Firmware of elf: string
    | No_Flash
    | Report of path: string
    | Junit of path: string
    | Json
    | Html of file: string
    | History of path: string
    | No_History
    | Baseline of run: string
    | Fail_On_Regression of percent: float
    | Split of k: string
    | Codec_Bits of int
    | Prediction of mode: string
    | Entropy of coder: string
    | Codec_Quant of source: string
    | Profile

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Board _ -> "board (default qemu-mps2-an386; see hil/boards)"
            | Model _ -> "integer model file, a float model (lowered to ternary), or 'default'"
            | Data _ -> "a data set folder (labelled samples: accuracy is reported)"
            | Input _ -> "inputs: random:N (default random:100)"
            | Samples _ ->
                "number of samples to stream (default: all inputs); with --data a seeded draw stratified by class and "
                + "subject, never the first N"
            | Subjects _ ->
                "with --data: evaluate these subjects, comma-separated (default: the model's held-out subjects when "
                + "the folder is the data set it was trained on, else all)"
            | All_Subjects -> "with --data: evaluate every subject, even when the model records held-out ones"
            | Float _ ->
                "the integer model's float parent (tern lower's input); adds float_vs_integer: top-1 agreement, L2r "
                + "and cosine of the device's logits against the float model's"
            | Seed _ -> "seed of the input source, of the --samples draw and of the default model (default 1)"
            | Kernels _ -> "device kernel bodies (default dsp where the board has it)"
            | Port _ -> "serial port of a real board: /dev/ttyACM0, tcp:host:port or unix:path"
            | Cache _ -> "firmware cache folder (default ~/.cache/tern)"
            | Firmware _ -> "use this firmware ELF instead of building one (its model must match)"
            | No_Flash -> "a real board already runs the firmware: do not flash it"
            | Report _ -> "also write the JSON report to this file"
            | Junit _ -> "write a JUnit XML report to this file"
            | Json -> "print one JSON object"
            | Html _ ->
                "write an HTML report to this file: charts, headline numbers, provenance (self-contained, nothing fetched)"
            | History _ ->
                "append this run to this history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | No_History -> "do not append this run to the history"
            | Baseline _ ->
                "compare with an earlier run in the history: 'last' (the newest passing run of the same model hash, board, "
                + "kernels, split and samples) or a run id (tern history); prints the changes"
            | Fail_On_Regression _ ->
                "with --baseline: exit 1 when instructions (cycles) per inference grow or accuracy falls by more than "
                + "this percentage of the baseline's value"
            | Split _ ->
                "split inference: the device runs layers 0..K-1 and the feature-map encoder, the host the rest (K or 'auto': after the smallest feature map of the first half)"
            | Codec_Bits _ -> "with --split: bits per feature code, 2..8 (default 4)"
            | Prediction _ -> "with --split: intra, uni or bi (default bi)"
            | Entropy _ -> "with --split: fixed, zvc, huffman or rle (default huffman)"
            | Codec_Quant _ ->
                "with --split: N-bit quantizer from minmax (per group, default), int8 (seed 004: s8 2^(8-N)) or symmetric"
            | Profile ->
                "also time each layer on the device and map the firmware's flash to the layers (per-layer table; JSON layers and profile)"

type ExportCArgs =
    | [<MainCommand; ExactlyOnce>] Models of paths: string list
    | [<Mandatory>] Out of dir: string
    | Prefix of names: string
    | Kernels of DeviceKernelsArg
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Models _ -> "integer model files (tern lower / train --qat); the first one runs in example.c"
            | Out _ ->
                "folder to write (created; replaced only if empty or an earlier export): p.h/p.c per model, the "
                + "kernels, example.c, Makefile, CMakeLists.txt, README.md"
            | Prefix _ ->
                "C prefixes of the models' names, comma-separated, one per model (default: each file's stem made a "
                + "C identifier)"
            | Kernels _ ->
                "force the kernel bodies: reference or dsp (default: DSP where the target has the DSP extension)"
            | Json -> "print one JSON object"

and ExportArgs =
    | [<CliPrefix(CliPrefix.None)>] C of ParseResults<ExportCArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | C _ -> "a self-contained C folder (models, kernels, example, Makefile) for any firmware project"

type OnnxArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | [<Mandatory>] Out of path: string
    | Classes of names: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "float ONNX model (e.g. written by torch.onnx.export, opsets 7 to 21)"
            | Out _ -> "float model file to write"
            | Classes _ -> "class names of the outputs, comma-separated (default class0, class1, ...)"
            | Json -> "print one JSON object"

and ImportModelArgs =
    | [<CliPrefix(CliPrefix.None)>] Onnx of ParseResults<OnnxArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Onnx _ -> "a float ONNX model: layers mapped to Tern's, the source recorded in the model file"

type HistoryDiffArgs =
    | [<MainCommand; ExactlyOnce>] Runs of a: string * b: string
    | History of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Runs _ -> "two run ids (tern history lists them): B is compared against A"
            | History _ -> "history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | Json -> "print one JSON object"

and HistoryArgs =
    | [<CliPrefix(CliPrefix.None)>] Diff of ParseResults<HistoryDiffArgs>
    | History of path: string
    | Limit of int
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Diff _ -> "compare two runs: work per inference and per layer, flash, RAM, accuracy, mismatches"
            | History _ -> "history file (default $TERN_HISTORY or ~/.local/share/tern/history.db)"
            | Limit _ -> "list the last N runs (default 20)"
            | Json -> "print one JSON object"

[<RequireSubcommand>]
type TernArgs =
    | [<CliPrefix(CliPrefix.None)>] Model of ParseResults<ModelArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Study of ParseResults<StudyArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("import")>] Import_Model of ParseResults<ImportModelArgs>
    | [<CliPrefix(CliPrefix.None)>] Inspect of ParseResults<InspectArgs>
    | [<CliPrefix(CliPrefix.None)>] Lower of ParseResults<LowerArgs>
    | [<CliPrefix(CliPrefix.None)>] Run of ParseResults<RunArgs>
    | [<CliPrefix(CliPrefix.None)>] Hil of ParseResults<HilArgs>
    | [<CliPrefix(CliPrefix.None)>] Export of ParseResults<ExportArgs>
    | [<CliPrefix(CliPrefix.None)>] History of ParseResults<HistoryArgs>
    | Version

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "create models"
            | Data _ -> "import and describe data sets"
            | Train _ -> "train a float model on a data set"
            | Study _ -> "reproduce the seeds' studies on a data set"
            | Import_Model _ -> "bring a model trained elsewhere in (ONNX)"
            | Inspect _ -> "per-layer table of a model file"
            | Lower _ -> "float model + calibration -> integer model"
            | Run _ -> "run a model on the host (integer: C# runtimes; float: F# reference) and save its outputs"
            | Hil _ -> "run a model on a board and prove device == host bit for bit"
            | Export _ -> "take integer models home: a C library folder"
            | History _ -> "list the runs of hil and the studies kept in the history, or compare two"
            | Version -> "print the version"

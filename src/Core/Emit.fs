namespace Tern.Core

open System
open System.Globalization
open System.IO
open System.Text
open Tern.Runtime
open Tern.Runtime.Engine

/// What the emitter records besides the model.
type EmitOptions = {
    /// The command line that produced the model, written into the provenance comment.
    CommandLine: string
}

/// An emitted model: model.h and model.c, which implement hil/include/tern_model.h.
type EmittedModel = {
    /// model.h: includes tern_model.h and names the sizes as macros.
    Header: string
    /// model.c: provenance, static const weights, parameters, the planned arena and tern_model_run.
    Source: string
    /// Bytes of the one activation arena (MemoryPlan.Create(model).ArenaBytes).
    ArenaBytes: int
    /// Bytes of constant layer data (weights, bias, M, S), as IntLayer.WeightBytes counts them.
    WeightBytes: int
}

/// Integer model -> C source for the device kernels (hil/kernels): deterministic, -Wall -Wextra clean.
[<RequireQualifiedAccess>]
module Emit =

    /// The Tern version stamped into generated files.
    let version: string = typeof<EmitOptions>.Assembly.GetName().Version.ToString(3)

    // ---- C text helpers (shared with KernelVectors) ----

    let internal num (x: int64) : string =
        // INT32_MIN as a literal would be the negation of a constant that does not fit int.
        if x = int64 Int32.MinValue then
            "(-2147483647 - 1)"
        else
            x.ToString(CultureInfo.InvariantCulture)

    /// Text that is safe inside a C block comment or string: printable ASCII only, no comment terminator.
    let internal safeText (s: string) : string =
        let chars =
            s
            |> Seq.map (fun c ->
                if c >= ' ' && c <= '~' && c <> '\\' && c <> '"' then
                    c
                else
                    '?')
            |> Array.ofSeq

        String(chars).Replace("*/", "*?").Replace("/*", "?*")

    /// Appends `name[] = { values }` 16 per line.
    let internal array (sb: StringBuilder) (decl: string) (values: string[]) : unit =
        sb.Append(decl).Append("[").Append(values.Length).Append("] = {") |> ignore

        values
        |> Array.iteri (fun i v ->
            if i % 16 = 0 then
                sb.Append("\n    ") |> ignore
            else
                sb.Append(' ') |> ignore

            sb.Append(v).Append(',') |> ignore)

        sb.Append("\n};\n") |> ignore

    let internal bytesOf (a: byte[]) : string[] =
        a |> Array.map (fun b -> "0x" + b.ToString("x2", CultureInfo.InvariantCulture))

    let internal sbytesOf (a: sbyte[]) : string[] = a |> Array.map (int64 >> num)

    let internal intsOf (a: int[]) : string[] = a |> Array.map (int64 >> num)

    let private check (ok: bool) (what: string) =
        if not ok then
            invalidArg "model" what

    let private u16 (layer: string) (what: string) (v: int) : string =
        check (v >= 0 && v <= 65535) $"layer '{layer}': {what} {v} does not fit the device's uint16"
        num (int64 v)

    let private u8 (layer: string) (what: string) (v: int) : string =
        check (v >= 0 && v <= 255) $"layer '{layer}': {what} {v} does not fit the device's uint8"
        num (int64 v)

    /// The C initializer of a tern_conv_params for a convolution-like layer (Dense as a 1x1 conv over 1x1xN).
    let internal convParams (c: IntConvLayer) (prefix: string) : string =
        let dense = c.Kind = IntLayerKind.Dense
        let inS = if dense then Shape3(1, 1, c.Input.Size) else c.Input
        let k = u8 c.Name

        let fields = [
            u16 c.Name "input height" inS.H
            u16 c.Name "input width" inS.W
            u16 c.Name "input channels" inS.C
            u16 c.Name "output height" c.Output.H
            u16 c.Name "output width" c.Output.W
            u16 c.Name "output channels" c.Output.C
            k "kernel height" c.KernelH
            k "kernel width" c.KernelW
            k "stride" c.StrideH
            k "stride" c.StrideW
            k "padding" c.PadH
            k "padding" c.PadW
            num (int64 c.InputZero)
            num (int64 c.OutputZero)
            num (int64 c.ActMin)
            num (int64 c.ActMax)
            prefix + "_bias"
            prefix + "_multiplier"
            prefix + "_shift"
        ]

        "{" + String.Join(", ", fields) + "}"

    /// The C initializer of a tern_pool_params.
    let internal poolParams (p: IntPoolLayer) : string =
        let k = u8 p.Name
        let maxPool = p.Kind = IntLayerKind.MaxPool

        let fields = [
            u16 p.Name "input height" p.Input.H
            u16 p.Name "input width" p.Input.W
            u16 p.Name "input channels" p.Input.C
            u16 p.Name "output height" p.Output.H
            u16 p.Name "output width" p.Output.W
            u16 p.Name "output channels" p.Output.C
            k "kernel height" p.KernelH
            k "kernel width" p.KernelW
            k "stride" p.StrideH
            k "stride" p.StrideW
            // max pooling has no requantization; its M and S are not read
            num (if maxPool then 0L else int64 p.Multiplier)
            (if maxPool then "0" else k "shift" p.Shift)
            num (int64 p.InputZero)
            num (int64 p.OutputZero)
            num (int64 p.ActMin)
            num (int64 p.ActMax)
        ]

        "{" + String.Join(", ", fields) + "}"

    /// Appends the weight, bias, M and S arrays of a convolution-like layer, named prefix_*.
    let internal convArrays (sb: StringBuilder) (c: IntConvLayer) (prefix: string) : unit =
        match c.WeightKind with
        | WeightKind.Int8 -> array sb $"static const int8_t {prefix}_weights" (sbytesOf c.Int8Weights)
        | _ -> array sb $"static const uint8_t {prefix}_weights" (bytesOf c.TernaryWeights.Data)

        array sb $"static const int32_t {prefix}_bias" (intsOf c.Bias)
        array sb $"static const int32_t {prefix}_multiplier" (intsOf c.Multiplier)
        array sb $"static const uint8_t {prefix}_shift" (c.Shift |> Array.map (u8 c.Name "shift"))

    /// The kernel function a layer calls (plain tern_* name; TERN_KERNELS_DSP picks the body).
    let internal kernelName (layer: IntLayer) : string =
        match layer with
        | :? IntConvLayer as c ->
            match c.Kind, c.WeightKind with
            | IntLayerKind.Depthwise, WeightKind.Int8 -> "tern_depthwise_s8"
            | IntLayerKind.Depthwise, _ -> "tern_depthwise_t2"
            | _, WeightKind.Int8 -> "tern_conv_s8"
            | _ -> "tern_conv_t2"
        | :? IntPoolLayer as p when p.Kind = IntLayerKind.MaxPool -> "tern_maxpool_s8"
        | :? IntPoolLayer -> "tern_avgpool_s8"
        | _ -> ""

    /// 32 bytes from a 64-digit hex SHA-256.
    let private hashBytes (hex: string) : byte[] =
        let ok = hex <> null && hex.Length = 64 && hex |> Seq.forall Uri.IsHexDigit

        if not ok then
            invalidArg "modelHash" $"model hash must be 64 hex digits, got '{hex}'"

        Convert.FromHexString hex

    let internal provenance (sb: StringBuilder) (what: string) (modelHash: string) (commandLine: string) : unit =
        sb
            .Append("/* ")
            .Append(what)
            .Append("\n * Generated by Tern ")
            .Append(version)
            .Append(". Do not edit.\n * Model hash (SHA-256 of the model file payload): ")
            .Append(safeText modelHash)
            .Append("\n * Command line: ")
            .Append(safeText commandLine)
            .Append("\n */\n")
        |> ignore

    /// Emits model.h and model.c for an integer model (validated first); the hash is the model file's (ModelFile.hash).
    let model (options: EmitOptions) (model: IntModel) (modelHash: string) : EmittedModel =
        model.Validate()
        let hash = hashBytes modelHash
        let plan = MemoryPlan.Create model
        let layers = model.Layers
        let n = layers.Length
        let nl (sb: StringBuilder) (s: string) = sb.Append(s).Append('\n') |> ignore

        let shape (s: Shape3) =
            let d = u16 model.Name
            "{" + d "height" s.H + ", " + d "width" s.W + ", " + d "channels" s.C + "}"

        let outShape = model.Output

        let header = StringBuilder()
        provenance header $"model.h: the sizes of model '{safeText model.Name}'." modelHash options.CommandLine
        nl header "#ifndef TERN_EMITTED_MODEL_H"
        nl header "#define TERN_EMITTED_MODEL_H"
        nl header ""
        nl header "#include \"tern_model.h\""
        nl header ""
        nl header $"#define TERN_MODEL_ARENA_BYTES {plan.ArenaBytes}u"
        nl header $"#define TERN_MODEL_INPUT_BYTES {model.Input.Size}u"
        nl header $"#define TERN_MODEL_OUTPUT_BYTES {outShape.Size}u"
        nl header $"#define TERN_MODEL_LAYERS {n}"
        nl header ""
        nl header "#endif"

        let sb = StringBuilder()

        provenance
            sb
            $"model.c: model '{safeText model.Name}' for the Tern device kernels (hil/include/tern_model.h)."
            modelHash
            options.CommandLine

        nl sb "#include <stdint.h>"
        nl sb "#include <string.h>"
        nl sb "#include \"model.h\""
        nl sb "#include \"tern_kernels.h\""
        nl sb ""

        for i in 0 .. n - 1 do
            let l = layers[i]
            let prefix = $"tern_l{i}"

            nl
                sb
                $"/* layer {i}: {safeText l.Name} ({l.Kind}), {l.Input.H}x{l.Input.W}x{l.Input.C} -> {l.Output.H}x{l.Output.W}x{l.Output.C} */"

            match l with
            | :? IntConvLayer as c ->
                convArrays sb c prefix
                nl sb $"static const tern_conv_params {prefix}_params = {convParams c prefix};"
            | :? IntPoolLayer as p -> nl sb $"static const tern_pool_params {prefix}_params = {poolParams p};"
            | _ -> nl sb "/* a view: nothing to compute */"

            nl sb ""

        nl sb "/* One statically planned arena (ping-pong: each layer reads one end and writes the other). */"
        nl sb "static int8_t tern_arena[TERN_MODEL_ARENA_BYTES] __attribute__((aligned(8)));"
        nl sb ""
        array sb "const uint8_t tern_model_hash" (bytesOf hash)
        nl sb $"const tern_shape_t tern_model_input_shape = {shape model.Input};"
        nl sb $"const tern_shape_t tern_model_output_shape = {shape outShape};"
        nl sb "const uint32_t tern_model_arena_bytes = TERN_MODEL_ARENA_BYTES;"
        nl sb "const uint16_t tern_model_layer_count = TERN_MODEL_LAYERS;"
        nl sb "#if TERN_KERNELS_DSP"
        nl sb "const char tern_model_kernels[] = \"dsp\";"
        nl sb "#else"
        nl sb "const char tern_model_kernels[] = \"reference\";"
        nl sb "#endif"
        nl sb ""
        // arrays of at least one element, so a model without layers still compiles
        let orOne (a: string[]) = if a.Length = 0 then [| "0" |] else a

        array
            sb
            "static const uint32_t tern_layer_output_offset"
            (plan.Layers
             |> Seq.map (fun s -> num (int64 s.OutputOffset))
             |> Array.ofSeq
             |> orOne)

        array
            sb
            "static const uint32_t tern_layer_output_bytes"
            (plan.Layers
             |> Seq.map (fun s -> num (int64 s.OutputBytes))
             |> Array.ofSeq
             |> orOne)

        nl sb ""
        nl sb "/* Runs one layer in place in the arena; returns its tern_status. */"
        nl sb "static int tern_run_layer(int layer)"
        nl sb "{"
        nl sb "    switch (layer) {"

        for i in 0 .. n - 1 do
            let l = layers[i]
            let slot = plan.Layers[i]
            let inP = $"tern_arena + {slot.InputOffset}"
            let outP = $"tern_arena + {slot.OutputOffset}"

            match l with
            | :? IntConvLayer ->
                nl sb $"    case {i}:"
                nl sb $"        return (int){kernelName l}(&tern_l{i}_params, tern_l{i}_weights, {inP}, {outP});"
            | :? IntPoolLayer ->
                nl sb $"    case {i}:"
                nl sb $"        return (int){kernelName l}(&tern_l{i}_params, {inP}, {outP});"
            | _ ->
                nl sb $"    case {i}: /* {l.Kind}: a view */"
                nl sb "        return 0;"

        nl sb "    default:"
        nl sb "        return -1;"
        nl sb "    }"
        nl sb "}"
        nl sb ""
        nl sb "int tern_model_run(const int8_t *input, int last_layer, const int8_t **output, uint32_t *output_len)"
        nl sb "{"
        nl sb "    if (input == 0 || output == 0 || output_len == 0) return -1;"
        nl sb "    if (last_layer < 0 || last_layer >= TERN_MODEL_LAYERS) return -2;"
        nl sb $"    memcpy(tern_arena + {plan.InputOffset}, input, TERN_MODEL_INPUT_BYTES);"
        nl sb "    for (int i = 0; i <= last_layer; i++) {"
        nl sb "        int status = tern_run_layer(i);"
        nl sb "        if (status != 0) return -100 - status;"
        nl sb "    }"
        nl sb "    *output = tern_arena + tern_layer_output_offset[last_layer];"
        nl sb "    *output_len = tern_layer_output_bytes[last_layer];"
        nl sb "    return 0;"
        nl sb "}"

        {
            Header = header.ToString()
            Source = sb.ToString()
            ArenaBytes = plan.ArenaBytes
            WeightBytes = layers |> Array.sumBy (fun l -> l.WeightBytes)
        }

    // Writes to a temporary name in the target's folder, then renames over the target.
    let internal writeAtomic (path: string) (text: string) : unit =
        let full = Path.GetFullPath path

        let tmp =
            Path.Combine(Path.GetDirectoryName full, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")

        try
            File.WriteAllText(tmp, text, UTF8Encoding(false))
            File.Move(tmp, full, true)
        finally
            if File.Exists tmp then
                File.Delete tmp

    /// Writes dir/model.h and dir/model.c (each atomically: temporary name, then rename); creates dir.
    let writeFiles (dir: string) (emitted: EmittedModel) : unit =
        Directory.CreateDirectory dir |> ignore
        writeAtomic (Path.Combine(dir, "model.h")) emitted.Header
        writeAtomic (Path.Combine(dir, "model.c")) emitted.Source

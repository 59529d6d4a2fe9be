namespace Tern.Core

open System
open System.Globalization
open System.IO
open System.Text
open Tern.Runtime
open Tern.Runtime.Engine

type EmitOptions = { CommandLine: string; Prefix: string }

type EmittedModel = {
    Prefix: string
    Header: string
    Source: string
    ArenaBytes: int
    WeightBytes: int
    PatchBytes: int
    ClassCount: int
}

[<RequireQualifiedAccess>]
module Emit =

    let version: string = typeof<EmitOptions>.Assembly.GetName().Version.ToString(3)

    // ---- C text helpers (shared with KernelVectors) ----

    let internal num (x: int64) : string =
        // INT32_MIN as a literal would be the negation of a constant that does not fit int.
        if x = int64 Int32.MinValue then
            "(-2147483647 - 1)"
        else
            x.ToString(CultureInfo.InvariantCulture)

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

    let firmwarePrefix: string = "tern_model"

    /// C99 keywords: not usable as a prefix (p alone is no name, but p.h's macros and p_* names are built from it).
    let private keywords =
        set (
            ("auto break case char const continue default do double else enum extern float for goto if inline int "
             + "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
             + "volatile while _Bool _Complex _Imaginary")
                .Split(' ')
        )

    let prefixProblem (prefix: string) : string option =
        let isIdent =
            not (String.IsNullOrEmpty prefix)
            && (Char.IsAsciiLetter prefix[0] || prefix[0] = '_')
            && prefix |> Seq.forall (fun c -> Char.IsAsciiLetterOrDigit c || c = '_')

        if not isIdent then
            Some "must be a C identifier (ASCII letters, digits and _, not starting with a digit)"
        elif prefix.Length > 40 then
            Some "must be at most 40 characters"
        elif prefix.StartsWith "_" then
            Some "must not start with _ (reserved for the C implementation)"
        elif prefix.EndsWith "_" then
            Some "must not end with _ (names would hold a double underscore)"
        elif keywords.Contains prefix then
            Some "is a C keyword"
        else
            None

    let cString (s: string) : string =
        let sb = StringBuilder("\"")

        for b in Encoding.UTF8.GetBytes s do
            let c = char b

            if c = '"' || c = '\\' || c = '?' then
                sb.Append('\\').Append(c) |> ignore
            elif c >= ' ' && c <= '~' then
                sb.Append(c) |> ignore
            else
                // three octal digits always, so a following digit cannot extend the escape
                sb.Append('\\').Append(Convert.ToString(int b, 8).PadLeft(3, '0')) |> ignore

        sb.Append('"').ToString()

    /// A C float literal that reads back as exactly x (shortest round-trip digits, correctly rounded by C).
    let internal cFloat (x: float32) : string =
        if not (Single.IsFinite x) then
            invalidArg "x" $"{x} has no C float literal"

        let t = x.ToString("R", CultureInfo.InvariantCulture)

        if t.Contains '.' || t.Contains 'E' then
            t + "f"
        else
            t + ".0f"

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

    // The fields tern_conv_params and tern_pool_params both open with: shapes, kernel, strides and the four
    // paddings, each checked to fit its C type.
    let private windowFields
        (layer: string)
        (inS: Shape3)
        (outS: Shape3)
        (kernelH: int, kernelW: int)
        (strideH: int, strideW: int)
        (top: int, bottom: int, left: int, right: int)
        : (string * string) list =
        let k = u8 layer

        [
            "in_h", u16 layer "input height" inS.H
            "in_w", u16 layer "input width" inS.W
            "in_c", u16 layer "input channels" inS.C
            "out_h", u16 layer "output height" outS.H
            "out_w", u16 layer "output width" outS.W
            "out_c", u16 layer "output channels" outS.C
            "kernel_h", k "kernel height" kernelH
            "kernel_w", k "kernel width" kernelW
            "stride_h", k "stride" strideH
            "stride_w", k "stride" strideW
            "pad_top", k "padding" top
            "pad_left", k "padding" left
            "pad_bottom", k "padding" bottom
            "pad_right", k "padding" right
        ]

    // A C initializer with designated fields: {.name = value, ...}.
    let private designated (fields: (string * string) list) : string =
        "{" + String.Join(", ", fields |> List.map (fun (f, v) -> $".{f} = {v}")) + "}"

    let internal convParams (c: IntConvLayer) (prefix: string) : string =
        let dense = c.Kind = IntLayerKind.Dense
        let inS = if dense then Shape3(1, 1, c.Input.Size) else c.Input

        designated (
            windowFields
                c.Name
                inS
                c.Output
                (c.KernelH, c.KernelW)
                (c.StrideH, c.StrideW)
                (c.PadTop, c.PadBottom, c.PadLeft, c.PadRight)
            @ [
                "input_zero", num (int64 c.InputZero)
                "output_zero", num (int64 c.OutputZero)
                "act_min", num (int64 c.ActMin)
                "act_max", num (int64 c.ActMax)
                "bias", prefix + "_bias"
                "multiplier", prefix + "_multiplier"
                "shift", prefix + "_shift"
            ]
        )

    let internal poolParams (p: IntPoolLayer) : string =
        let maxPool = p.Kind = IntLayerKind.MaxPool

        designated (
            windowFields
                p.Name
                p.Input
                p.Output
                (p.KernelH, p.KernelW)
                (p.StrideH, p.StrideW)
                (p.PadTop, p.PadBottom, p.PadLeft, p.PadRight)
            @ [
                // max pooling has no requantization; its M and S are not read
                "multiplier", num (if maxPool then 0L else int64 p.Multiplier)
                "shift", (if maxPool then "0" else u8 p.Name "shift" p.Shift)
                "input_zero", num (int64 p.InputZero)
                "output_zero", num (int64 p.OutputZero)
                "act_min", num (int64 p.ActMin)
                "act_max", num (int64 p.ActMax)
            ]
        )

    let internal addParams (a: IntAddLayer) : string =
        let fields = [
            num (int64 a.Input.Size) + "u"
            num (int64 a.InputZero)
            num (int64 a.SkipZero)
            num (int64 a.OutputZero)
            num (int64 a.MultiplierA)
            num (int64 a.MultiplierB)
            u8 a.Name "shift" a.Shift
            num (int64 a.ActMin)
            num (int64 a.ActMax)
        ]

        "{" + String.Join(", ", fields) + "}"

    let internal convArrays (sb: StringBuilder) (c: IntConvLayer) (prefix: string) : unit =
        match c.WeightKind with
        | WeightKind.Int8 -> array sb $"static const int8_t {prefix}_weights" (sbytesOf c.Int8Weights)
        | _ -> array sb $"static const uint8_t {prefix}_weights" (bytesOf c.TernaryWeights.Data)

        array sb $"static const int32_t {prefix}_bias" (intsOf c.Bias)
        array sb $"static const int32_t {prefix}_multiplier" (intsOf c.Multiplier)
        array sb $"static const uint8_t {prefix}_shift" (c.Shift |> Array.map (u8 c.Name "shift"))

    let kernelName (layer: IntLayer) : string =
        match layer with
        | :? IntConvLayer as c ->
            match c.Kind, c.WeightKind with
            | IntLayerKind.Depthwise, WeightKind.Int8 -> "tern_depthwise_s8"
            | IntLayerKind.Depthwise, _ -> "tern_depthwise_t2"
            | _, WeightKind.Int8 -> "tern_conv_s8"
            | _ -> "tern_conv_t2"
        | :? IntPoolLayer as p when p.Kind = IntLayerKind.MaxPool -> "tern_maxpool_s8"
        | :? IntPoolLayer -> "tern_avgpool_s8"
        | :? IntAddLayer -> "tern_add_s8"
        | _ -> ""

    // ---- ternary layers baked into code (the DSP kernel set) ----

    /// Most int16 SIMD terms per chunk: |code| <= 128, so 255 terms sum to at most 32640 in magnitude.
    let internal bakedChunk: int = 255

    /// How channel oc requantizes: Some (shift left of acc, M, r, SSAT shift), or None for the int64 forms.
    let private bakedPlan (c: IntConvLayer) (oc: int) (bound: int64) : (int * int64 * int64 * int) option =
        let m = int64 c.Multiplier[oc]
        let s = c.Shift[oc]
        let z = int64 c.OutputZero
        // S <= 32: scale acc by 2^(33-S) (exact while it fits int32) and take S' = 33
        let k, s' = if s >= 33 then 0, s else 33 - s, 33

        let fits = k = 0 || (bound <<< k) < (1L <<< 31)
        let r = (1L <<< (s' - 33)) + z * (1L <<< (s' - 32))

        // tern_baked.h has tb_sat8_asr<n> for n in [1, 30]: S' <= 62
        if fits && abs r < (1L <<< 30) && s' <= 62 then
            Some(k, m, r, s' - 32)
        else
            None

    /// A requantized int8 expression clamped further where the layer's activation range is narrower than int8 (the
    /// SSAT already saturates to it).
    let private bakedClamp (c: IntConvLayer) (e: string) : string =
        if c.ActMin > -128 || c.ActMax < 127 then
            $"tb_clamp({e}, {c.ActMin}, {c.ActMax})"
        else
            e

    /// The C expression that requantizes `acc` for channel oc (constants baked in); |acc| <= bound.
    let private bakedRequant (c: IntConvLayer) (oc: int) (bound: int64) (acc: string) : string =
        let m = int64 c.Multiplier[oc]
        let s = c.Shift[oc]
        let z = int64 c.OutputZero
        let lo, hi = c.ActMin, c.ActMax

        match bakedPlan c oc bound with
        | Some(k, m, r, sh) ->
            let shifted = if k = 0 then acc else $"tb_shl({acc}, {k})"
            bakedClamp c $"tb_sat8_asr{sh}(tb_smmla({shifted}, {num m}, {num r}))"
        | None when s >= 33 -> $"tb_rq_z({acc}, {num m}, {num (1L <<< (s - 33))}, {s - 32}, {num z}, {lo}, {hi})"
        | None -> $"tern_requantize_ref({acc}, {num m}, {s}, {num z}, {lo}, {hi})"

    /// How channel oc requantizes an int16 lane in place (tern_baked.h, tb_smlawb): Some (M, R, SSAT shift t) where
    /// the whole accumulator, bias folded in, fits the lane (bound <= 32767) and t = S - 16 is in [1, 30] with
    /// |R| < 2^30; None leaves the lane to be widened first (bakedRequant).
    let private bakedLanePlan (c: IntConvLayer) (oc: int) (bound: int64) : (int64 * int64 * int) option =
        let s = c.Shift[oc]
        let t = s - 16

        if bound > 32767L || t < 1 || t > 30 then
            None
        else
            let r = (1L <<< (t - 1)) + int64 c.OutputZero * (1L <<< t)

            if abs r < (1L <<< 30) then
                Some(int64 c.Multiplier[oc], r, t)
            else
                None

    /// The requantization of both lanes of `s` under a lane plan: (left, right) C expressions.
    let private bakedLaneRequant (c: IntConvLayer) (m: int64, r: int64, t: int) : string * string =
        bakedClamp c $"tb_sat8_asr{t}(tb_smlawb({num m}, s, {num r}))",
        bakedClamp c $"tb_sat8_asr{t}(tb_smlawt({num m}, s, {num r}))"

    /// Largest |acc| of channel oc: |bias - z_in * net| + 128 per non-zero weight (raw codes, |x| <= 128).
    let private bakedBound (c: IntConvLayer) (weights: sbyte[]) (oc: int) : int64 =
        let fanIn = c.FanIn
        let mutable net = 0L
        let mutable nnz = 0L

        for j in 0 .. fanIn - 1 do
            let t = int64 weights[oc * fanIn + j]
            net <- net + t
            nnz <- nnz + abs t

        abs (int64 c.Bias[oc] - int64 c.InputZero * net) + 128L * nnz

    /// The folded bias of channel oc, bias - z_in * (n_plus - n_minus), wrapped to int32 like the accumulator.
    let private bakedFold (c: IntConvLayer) (weights: sbyte[]) (oc: int) : int64 =
        let fanIn = c.FanIn
        let mutable net = 0L

        for j in 0 .. fanIn - 1 do
            net <- net + int64 weights[oc * fanIn + j]

        int64 (int32 (int64 c.Bias[oc] - int64 c.InputZero * net))

    /// The windows of a baked layer that hold no padding: output rows [oyLo, oyHi) and columns [oxLo, oxHi), with
    /// oyLo <= oyHi and oxLo <= oxHi; every other window is a border window. A window can hang over the bottom or
    /// right edge without any top or left padding (the bottom and right padding add windows only there).
    let private bakedInterior (c: IntConvLayer) : int * int * int * int =
        // window o starts at o * s - pad: inside when that is >= 0 and start + k <= n
        let inside (n: int) (k: int) (s: int) (pad: int) (outN: int) =
            let lo = min outN ((pad + s - 1) / s)
            let lim = n - k + pad
            let hi = if lim < 0 then 0 else min outN (lim / s + 1)
            lo, max lo hi

        if c.Kind = IntLayerKind.Dense then
            0, 1, 0, 1
        else
            let oyLo, oyHi = inside c.Input.H c.KernelH c.StrideH c.PadTop c.Output.H
            let oxLo, oxHi = inside c.Input.W c.KernelW c.StrideW c.PadLeft c.Output.W
            oyLo, oyHi, oxLo, oxHi

    /// Whether some window of a baked layer holds padding (it then needs the border path and tern_patch).
    let private bakedHasBorder (c: IntConvLayer) : bool =
        let oyLo, oyHi, oxLo, oxHi = bakedInterior c
        not (oyLo = 0 && oyHi = c.Output.H && oxLo = 0 && oxHi = c.Output.W)

    /// Appends the baked C function `tern_l{i}_baked(in, out)` of a ternary convolution-like layer.
    let private bakedLayer (sb: StringBuilder) (i: int) (c: IntConvLayer) : unit =
        let nl (s: string) = sb.Append(s).Append('\n') |> ignore
        let dense = c.Kind = IntLayerKind.Dense
        let depthwise = c.Kind = IntLayerKind.Depthwise
        let inS = if dense then Shape3(1, 1, c.Input.Size) else c.Input
        let ih, iw, ic = inS.H, inS.W, inS.C
        let oh, ow, oc = c.Output.H, c.Output.W, c.Output.C

        // top and left padding place the windows; bottom and right only add border windows (bakedInterior)
        let kh, kw, sh, sw, ph, pw =
            c.KernelH, c.KernelW, c.StrideH, c.StrideW, c.PadTop, c.PadLeft

        let fanIn = c.FanIn
        let weights = c.TernaryWeights.Unpack()
        let rowStride = iw * ic
        // bytes of one window row: every channel (conv) or every channel of each tap (depthwise)
        let rowLen = kw * ic
        let p = $"tern_l{i}"
        check (int64 fanIn * 128L < (1L <<< 30)) $"layer '{c.Name}': fan-in {fanIn} too large to bake"

        // the terms of channel o: (sign, window row, byte offset within the window row)
        let terms (o: int) : (int * int * int) list = [
            for j in 0 .. fanIn - 1 do
                let t = int weights[o * fanIn + j]

                if t <> 0 then
                    if depthwise then
                        t, j / kw, (j % kw) * ic + o
                    else
                        t, j / rowLen, j % rowLen
        ]

        let allTerms = Array.init oc terms
        let nonzero = allTerms |> Array.sumBy List.length

        let constant (o: int) =
            Requantize.Apply(c.Bias[o], c.Multiplier[o], c.Shift[o], c.OutputZero, c.ActMin, c.ActMax)

        // interior windows (no padding inside): rows [oyLo, oyHi), columns [oxLo, oxHi)
        let oyLo, oyHi, oxLo, oxHi = bakedInterior c
        let border = bakedHasBorder c
        // two pixels per register pays where channels share the pair set-up (not depthwise)
        let pairs = not depthwise && oxHi - oxLo >= 2

        let pairNote =
            if pairs then
                "; two pixels per register in the interior"
            else
                ""

        nl
            $"/* layer {i}: {safeText c.Name} ({c.Kind}) {ih}x{iw}x{ic} -> {oh}x{ow}x{oc}, kernel {kh}x{kw}, stride {sh}x{sw}, padding {ph},{c.PadBottom},{pw},{c.PadRight} (top, bottom, left, right):"

        nl $" * {nonzero} of {oc * fanIn} ternary weights non-zero, baked into code{pairNote}. */"

        // ---- one pixel, int32 accumulation: x is the window's top-left byte, rs the bytes between window rows
        nl $"static TB_CODE void {p}_px1(const int8_t *x, int32_t rs, int8_t *o)"
        nl "{"

        let usedRows =
            allTerms
            |> Seq.concat
            |> Seq.map (fun (_, r, _) -> r)
            |> Seq.distinct
            |> Seq.sort
            |> List.ofSeq

        if usedRows.IsEmpty then
            nl "    (void)x;"
            nl "    (void)rs;"
        else
            if not (usedRows |> List.exists (fun r -> r > 0)) then
                nl "    (void)rs;"

            for r in usedRows do
                if r = 0 then
                    nl "    const int8_t *r0 = x;"
                else
                    nl $"    const int8_t *r{r} = x + {r} * rs;"

            nl "    int32_t a;"

        for o in 0 .. oc - 1 do
            match allTerms[o] with
            | [] -> nl $"    o[{o}] = {constant o}; /* channel {o}: no non-zero weight */"
            | ts ->
                let text =
                    ts
                    |> List.mapi (fun k (t, r, j) ->
                        let sign =
                            if t > 0 then
                                (if k = 0 then "" else " + ")
                            else
                                (if k = 0 then "-" else " - ")

                        let brk = if k > 0 && k % 12 = 0 then "\n       " else ""
                        $"{brk}{sign}r{r}[{j}]")
                    |> String.concat ""

                nl $"    a = {text};"
                let acc = $"tb_add(a, {num (bakedFold c weights o)})"
                nl $"    o[{o}] = (int8_t){bakedRequant c o (bakedBound c weights o) acc};"

        nl "}"
        nl ""

        // ---- two horizontally adjacent pixels, int16 lanes (lo: the left pixel, hi: the right one)
        if pairs then
            let d = sw * ic // bytes between the two windows
            let needed = Collections.Generic.HashSet<int * int>()

            for ts in allTerms do
                for _, r, j in ts do
                    needed.Add((r, j)) |> ignore

            nl $"/* Two pixels: lanes (left, right) of every window byte; the right window starts {d} bytes later. */"
            nl $"static TB_CODE void {p}_px2(const int8_t *x, int8_t *o)"
            nl "{"
            let mutable words = 0

            let word (off: int) =
                let w = $"w{words}"
                words <- words + 1
                nl $"    const uint32_t {w} = tb_load32(x + {off});"
                w

            let pair (r: int) (j: int) (e: string) =
                nl $"    const uint32_t p{r}_{j} = {e};"

            for r in 0 .. kh - 1 do
                let b = r * rowStride
                let need j = needed.Contains((r, j))

                if d = 2 && rowLen >= 2 then
                    // a word at b + j holds bytes j, j + 2 (SXTB16) and j + 1, j + 3 (ROR #8): exactly the pairs
                    let union = rowLen + 2
                    let mutable j = 0

                    while j < rowLen do
                        if need j then
                            if j + 4 <= union then
                                let w = word (b + j)
                                pair r j $"tb_sxtb16({w})"

                                if j + 1 < rowLen && need (j + 1) then
                                    pair r (j + 1) $"tb_sxtb16_ror8({w})"

                                j <- j + 2
                            else
                                let w = word (b + j - 1)
                                pair r j $"tb_sxtb16_ror8({w})"
                                j <- j + 1
                        else
                            j <- j + 1
                else
                    // groups of four bytes inside the window row: one word per window, SXTB16, then PKHBT/PKHTB
                    for g in 0 .. (rowLen + 3) / 4 - 1 do
                        let j0 = 4 * g
                        let js = [ j0 .. min (rowLen - 1) (j0 + 3) ] |> List.filter need

                        if not js.IsEmpty then
                            if j0 + 4 <= rowLen then
                                let wa = word (b + j0)
                                let wb = word (b + j0 + d)
                                let ev = js |> List.exists (fun j -> (j - j0) % 2 = 0)
                                let od = js |> List.exists (fun j -> (j - j0) % 2 = 1)

                                if ev then
                                    nl $"    const uint32_t e{wa} = tb_sxtb16({wa}), e{wb} = tb_sxtb16({wb});"

                                if od then
                                    nl
                                        $"    const uint32_t e{wa}r = tb_sxtb16_ror8({wa}), e{wb}r = tb_sxtb16_ror8({wb});"

                                for j in js do
                                    let suffix = if (j - j0) % 2 = 1 then "r" else ""
                                    let f = if j - j0 >= 2 then "tb_pack_top" else "tb_pack"
                                    pair r j $"{f}(e{wa}{suffix}, e{wb}{suffix})"
                            else
                                for j in js do
                                    pair r j $"tb_pack((uint32_t)x[{b + j}], (uint32_t)x[{b + j + d}])"

            let multi = allTerms |> Array.exists (fun ts -> List.length ts > bakedChunk)
            let anyTerms = allTerms |> Array.exists (fun ts -> not ts.IsEmpty)

            if anyTerms then
                nl "    uint32_t s;"

            if multi then
                nl "    int32_t a0, a1;"

            for o in 0 .. oc - 1 do
                match allTerms[o] with
                | [] ->
                    let k = constant o
                    nl $"    o[{o}] = {k};"
                    nl $"    o[{oc + o}] = {k}; /* channel {o}: no non-zero weight */"
                | ts ->
                    // positive terms first, so a chunk starts with a plain copy
                    let ordered =
                        (ts |> List.filter (fun (t, _, _) -> t > 0))
                        @ (ts |> List.filter (fun (t, _, _) -> t < 0))

                    let chunks = ordered |> List.chunkBySize bakedChunk

                    // start: the lanes the chain starts from, "0u" for none (the first term is then copied)
                    let chunkFrom (start: string) (ch: (int * int * int) list) =
                        ch
                        |> List.mapi (fun k (t, r, j) ->
                            let v = $"p{r}_{j}"

                            match k, t > 0 with
                            | 0, true when start = "0u" -> $"s = {v};"
                            | 0, true -> $"s = tb_sadd16({start}, {v});"
                            | 0, false -> $"s = tb_ssub16({start}, {v});"
                            | _, true -> $"s = tb_sadd16(s, {v});"
                            | _, false -> $"s = tb_ssub16(s, {v});")
                        |> List.chunkBySize 4
                        |> List.map (fun l -> "    " + String.concat " " l)
                        |> String.concat "\n"

                    let chunkText = chunkFrom "0u"
                    let bound = bakedBound c weights o
                    let folded = bakedFold c weights o
                    let fold = num folded

                    match chunks, bakedLanePlan c o bound with
                    | [ only ], Some plan ->
                        // the bias starts both lanes; each lane then requantizes in place
                        let start =
                            if folded = 0L then
                                "0u"
                            else
                                $"0x{(uint32 (uint16 (int16 folded))) * 0x10001u:X8}u"

                        nl $"    /* channel {o}: {ts.Length} terms, requantized in the lanes */"
                        nl (chunkFrom start only)
                        let left, right = bakedLaneRequant c plan
                        nl $"    o[{o}] = (int8_t){left};"
                        nl $"    o[{oc + o}] = (int8_t){right};"
                    | [ only ], None ->
                        nl $"    /* channel {o}: {ts.Length} terms */"
                        nl (chunkText only)
                        let left = $"tb_add({fold}, tb_lo(s))"
                        let right = $"tb_add({fold}, tb_hi(s))"
                        nl $"    o[{o}] = (int8_t){bakedRequant c o bound left};"
                        nl $"    o[{oc + o}] = (int8_t){bakedRequant c o bound right};"
                    | _, _ ->
                        nl
                            $"    /* channel {o}: {ts.Length} terms, in chunks of at most {bakedChunk} added into int32 */"

                        nl $"    a0 = {fold};"
                        nl $"    a1 = {fold};"

                        for ch in chunks do
                            nl (chunkText ch)
                            nl "    a0 = tb_add(a0, tb_lo(s));"
                            nl "    a1 = tb_add(a1, tb_hi(s));"

                        let left = bakedRequant c o bound "a0"
                        let right = bakedRequant c o bound "a1"
                        nl $"    o[{o}] = (int8_t){left};"
                        nl $"    o[{oc + o}] = (int8_t){right};"

            if not anyTerms then
                nl "    (void)x;"

            nl "}"
            nl ""

        // ---- a window over the padding: gathered into tern_patch (padding holds z_in), then one pixel
        if border then
            nl $"static TB_CODE void {p}_border(const int8_t *in, int32_t iy0, int32_t ix0, int8_t *o)"
            nl "{"
            nl $"    for (int32_t ky = 0; ky < {kh}; ky++)"
            nl $"        for (int32_t kx = 0; kx < {kw}; kx++) {{"
            nl "            const int32_t iy = iy0 + ky, ix = ix0 + kx;"
            nl $"            int8_t *d = tern_patch + (ky * {kw} + kx) * {ic};"
            nl $"            if (iy < 0 || iy >= {ih} || ix < 0 || ix >= {iw})"
            nl $"                memset(d, {c.InputZero}, {ic});"
            nl "            else"
            nl $"                memcpy(d, in + (iy * {iw} + ix) * {ic}, {ic});"
            nl "        }"
            nl $"    {p}_px1(tern_patch, {rowLen}, o);"
            nl "}"
            nl ""

        // ---- the layer: interior windows read the input in place
        nl $"static TB_CODE void {p}_baked(const int8_t *in, int8_t *out)"
        nl "{"
        nl $"    for (int32_t oy = 0; oy < {oh}; oy++) {{"
        nl $"        const int32_t iy0 = oy * {sh} - {ph};"
        nl $"        int8_t *o = out + oy * {ow * oc};"

        let interiorRow (indent: string) =
            nl $"{indent}const int8_t *row = in + iy0 * {rowStride};"
            nl $"{indent}int32_t ox = 0;"

            if border then
                nl $"{indent}for (; ox < {oxLo}; ox++) {p}_border(in, iy0, ox * {sw} - {pw}, o + ox * {oc});"

            if pairs then
                nl $"{indent}for (; ox + 2 <= {oxHi}; ox += 2) {p}_px2(row + (ox * {sw} - {pw}) * {ic}, o + ox * {oc});"

            nl
                $"{indent}for (; ox < {oxHi}; ox++) {p}_px1(row + (ox * {sw} - {pw}) * {ic}, {rowStride}, o + ox * {oc});"

            if border then
                nl $"{indent}for (; ox < {ow}; ox++) {p}_border(in, iy0, ox * {sw} - {pw}, o + ox * {oc});"

        if oyLo = 0 && oyHi = oh then
            interiorRow "        "
        else
            nl $"        if (oy >= {oyLo} && oy < {oyHi}) {{"
            interiorRow "            "
            nl "        } else {"

            nl
                $"            for (int32_t ox = 0; ox < {ow}; ox++) {p}_border(in, iy0, ox * {sw} - {pw}, o + ox * {oc});"

            nl "        }"

        nl "    }"
        nl "}"
        nl ""

    let isBaked (c: IntConvLayer) : bool = c.WeightKind = WeightKind.Ternary

    let bakedPatchBytes (c: IntConvLayer) : int =
        if bakedHasBorder c then
            c.KernelH * c.KernelW * c.Input.C
        else
            0

    let bakedLayerSource (i: int) (c: IntConvLayer) : string =
        check (isBaked c) $"layer '{c.Name}' has {c.WeightKind} weights: only ternary layers are baked"
        let sb = StringBuilder()
        bakedLayer sb i c
        sb.ToString()

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

    let model (options: EmitOptions) (model: IntModel) (modelHash: string) : EmittedModel =
        model.Validate()

        match prefixProblem options.Prefix with
        | Some why -> invalidArg "options" $"prefix '{options.Prefix}' {why}"
        | None -> ()

        let hash = hashBytes modelHash
        let plan = MemoryPlan.Create model
        let layers = model.Layers
        let n = layers.Length
        let pfx = options.Prefix
        let up = pfx.ToUpperInvariant()
        let nl (sb: StringBuilder) (s: string) = sb.Append(s).Append('\n') |> ignore
        let dim (what: string) (v: int) = u16 model.Name what v
        let inShape = model.Input
        let outShape = model.Output
        let outScale, outZero = Lower.outputParams model
        let named = not (isNull model.ClassNames) && model.ClassNames.Length = outShape.Size

        let classes =
            if named then
                model.ClassNames
            else
                Array.init outShape.Size (fun i -> $"class_{i}")

        let inH, inW, inC =
            dim "input height" inShape.H, dim "input width" inShape.W, dim "input channels" inShape.C

        let outH, outW, outC =
            dim "output height" outShape.H, dim "output width" outShape.W, dim "output channels" outShape.C

        let baked =
            layers
            |> Array.indexed
            |> Array.choose (fun (i, l) ->
                match l with
                | :? IntConvLayer as c when isBaked c -> Some(i, c)
                | _ -> None)

        let header = StringBuilder()

        provenance
            header
            $"{pfx}.h: the API of model '{safeText model.Name}': int8 codes in, int8 logits out, no malloc."
            modelHash
            options.CommandLine

        let h = nl header
        h $"#ifndef {up}_H_INCLUDED"
        h $"#define {up}_H_INCLUDED"
        h ""
        h "#include <stdint.h>"
        h ""
        h "#ifdef __cplusplus"
        h "extern \"C\" {"
        h "#endif"
        h ""
        h "/* Sizes. The input is int8 HWC: element (y, x, c) at (y * WIDTH + x) * CHANNELS + c. */"
        h $"#define {up}_INPUT_HEIGHT {inH}"
        h $"#define {up}_INPUT_WIDTH {inW}"
        h $"#define {up}_INPUT_CHANNELS {inC}"
        h $"#define {up}_INPUT_BYTES {model.Input.Size}u"
        h $"#define {up}_OUTPUT_HEIGHT {outH}"
        h $"#define {up}_OUTPUT_WIDTH {outW}"
        h $"#define {up}_OUTPUT_CHANNELS {outC}"
        h $"#define {up}_OUTPUT_BYTES {outShape.Size}u"

        let patch =
            if baked.Length = 0 then
                0
            else
                baked |> Array.map (snd >> bakedPatchBytes) |> Array.max

        let patchNote =
            if patch > 0 then
                $" and, with the DSP kernels, a {patch}-byte border patch"
            else
                ""

        h
            $"/* The model's working memory, static inside {pfx}.c: one planned arena{patchNote}; nothing else mutable. */"

        h $"#define {up}_ARENA_BYTES {plan.ArenaBytes}u"
        h $"#define {up}_CLASS_COUNT {classes.Length}"
        h $"#define {up}_LAYER_COUNT {n}"
        h ""
        h "/* Quantization: real value = scale * (code - zero_point). Quantize inputs with the function below, which"
        h " * rounds exactly as Tern's host does. */"
        h $"#define {up}_INPUT_SCALE {cFloat model.InputScale}"
        h $"#define {up}_INPUT_ZERO_POINT ({model.InputZero})"
        h $"#define {up}_OUTPUT_SCALE {cFloat (float32 outScale)}"
        h $"#define {up}_OUTPUT_ZERO_POINT ({outZero})"
        h ""
        h $"/* Runs the model on input ({up}_INPUT_BYTES codes) and writes its {up}_OUTPUT_BYTES int8 logits to output"
        h " * (input and output may be the same buffer). Returns 0, or -1 if a pointer is NULL. Not reentrant: the"
        h " * arena is static, so one call at a time per model (different models are independent). */"
        h $"int {pfx}_run(const int8_t *input, int8_t *output);"
        h ""

        h
            "/* Runs layers 0..last_layer and points *output at that layer's output inside the arena (valid until the next"

        h $" * call), *output_len bytes; for per-layer debugging. Returns 0, -1 for a NULL pointer, -2 if last_layer is"
        h $" * outside [0, {up}_LAYER_COUNT). */"
        h $"int {pfx}_run_layers(const int8_t *input, int last_layer, const int8_t **output, uint32_t *output_len);"
        h ""

        h
            $"/* One input value -> its code: clamp(round_half_away(x / {up}_INPUT_SCALE) + {up}_INPUT_ZERO_POINT, -128, 127),"

        h " * bit for bit as Tern's host computes it (in double). NaN, which the host refuses, gives the zero point. */"
        h $"int8_t {pfx}_quantize(float x);"
        h ""

        h
            $"/* One output code -> its value: {up}_OUTPUT_SCALE * (q - {up}_OUTPUT_ZERO_POINT), as the host computes it. */"

        h $"float {pfx}_dequantize(int8_t q);"
        h ""
        h $"/* The class of each output element, {up}_CLASS_COUNT UTF-8 names. */"
        h $"extern const char *const {pfx}_class_names[];"
        h "/* SHA-256 of the model file's payload, and the kernel bodies compiled in: \"dsp\" or \"reference\". */"
        h $"extern const uint8_t {pfx}_hash[32];"
        h $"extern const char {pfx}_kernels[];"
        h ""
        h "#ifdef __cplusplus"
        h "}"
        h "#endif"
        h ""
        h "#endif"

        let sb = StringBuilder()

        provenance
            sb
            $"{pfx}.c: model '{safeText model.Name}' on the Tern device kernels (tern_kernels.h); API in {pfx}.h."
            modelHash
            options.CommandLine

        nl sb "#include <stdint.h>"
        nl sb "#include <string.h>"
        nl sb $"#include \"{pfx}.h\""
        nl sb "#include \"tern_kernels.h\""

        if baked.Length > 0 then
            // the helpers of the baked layers below (the DSP build)
            nl sb "#include \"tern_baked.h\""

        nl sb ""

        for i in 0 .. n - 1 do
            let l = layers[i]
            let prefix = $"tern_l{i}"

            nl
                sb
                $"/* layer {i}: {safeText l.Name} ({l.Kind}), {l.Input.H}x{l.Input.W}x{l.Input.C} -> {l.Output.H}x{l.Output.W}x{l.Output.C} */"

            match l with
            | :? IntConvLayer as c when isBaked c ->
                // the DSP build runs the baked code below instead, which reads none of this
                nl sb "#if !TERN_KERNELS_DSP"
                convArrays sb c prefix
                nl sb $"static const tern_conv_params {prefix}_params = {convParams c prefix};"
                nl sb "#endif"
            | :? IntConvLayer as c ->
                convArrays sb c prefix
                nl sb $"static const tern_conv_params {prefix}_params = {convParams c prefix};"
            | :? IntPoolLayer as p -> nl sb $"static const tern_pool_params {prefix}_params = {poolParams p};"
            | :? IntAddLayer as a ->
                nl sb $"/* adds the input of layer {i - a.Span} */"
                nl sb $"static const tern_add_params {prefix}_params = {addParams a};"
            | _ -> nl sb "/* a view: nothing to compute */"

            nl sb ""

        nl
            sb
            "/* One statically planned arena (ping-pong: each layer reads one end and writes the other; a residual block's input stays at its end until the block's add sums into it in place). */"

        nl sb $"static int8_t {pfx}_arena[{up}_ARENA_BYTES] __attribute__((aligned(8)));"
        nl sb ""

        if baked.Length > 0 then
            nl sb "#if TERN_KERNELS_DSP"

            if patch > 0 then
                nl
                    sb
                    "/* Border windows of the baked layers are gathered here, padding filled with the input zero point. */"

                nl sb $"static int8_t tern_patch[{patch}];"
                nl sb ""

            for i, c in baked do
                bakedLayer sb i c

            nl sb "#endif"
            nl sb ""

        array sb $"const uint8_t {pfx}_hash" (bytesOf hash)
        nl sb "#if TERN_KERNELS_DSP"
        nl sb $"const char {pfx}_kernels[] = \"dsp\";"
        nl sb "#else"
        nl sb $"const char {pfx}_kernels[] = \"reference\";"
        nl sb "#endif"

        if not named then
            nl sb "/* The model names no class for each output: numbered names stand in. */"

        array sb $"const char *const {pfx}_class_names" (classes |> Array.map cString)
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
        // The baked functions' optimization options (TB_CODE) on their callers too: gcc inlines only between
        // functions of the same options, and the layers' loops inlined into the driver save a call per layer.
        let code = if baked.Length > 0 then "TB_CODE " else ""
        nl sb "/* Runs one layer in place in the arena; returns its tern_status. */"
        nl sb $"static {code}int tern_run_layer(int layer)"
        nl sb "{"
        nl sb "    switch (layer) {"

        for i in 0 .. n - 1 do
            let l = layers[i]
            let slot = plan.Layers[i]
            let inP = $"{pfx}_arena + {slot.InputOffset}"
            let outP = $"{pfx}_arena + {slot.OutputOffset}"

            match l with
            | :? IntConvLayer as c when isBaked c ->
                nl sb $"    case {i}:"
                nl sb "#if TERN_KERNELS_DSP"
                nl sb $"        tern_l{i}_baked({inP}, {outP});"
                nl sb "        return 0;"
                nl sb "#else"
                nl sb $"        return (int){kernelName l}(&tern_l{i}_params, tern_l{i}_weights, {inP}, {outP});"
                nl sb "#endif"
            | :? IntConvLayer ->
                nl sb $"    case {i}:"
                nl sb $"        return (int){kernelName l}(&tern_l{i}_params, tern_l{i}_weights, {inP}, {outP});"
            | :? IntPoolLayer ->
                nl sb $"    case {i}:"
                nl sb $"        return (int){kernelName l}(&tern_l{i}_params, {inP}, {outP});"
            | :? IntAddLayer ->
                nl sb $"    case {i}:"

                nl
                    sb
                    $"        return (int){kernelName l}(&tern_l{i}_params, {inP}, {pfx}_arena + {slot.SkipOffset}, {outP});"
            | _ ->
                nl sb $"    case {i}: /* {l.Kind}: a view */"
                nl sb "        return 0;"

        nl sb "    default:"
        nl sb "        return -1;"
        nl sb "    }"
        nl sb "}"
        nl sb ""
        // Out of line: a caller in this file (p_run) must not change how gcc compiles the layer code (partial
        // inlining), so the HIL firmware, which calls p_run_layers only, runs the very instructions it always did.
        nl sb $"__attribute__((noinline)) {code}"
        nl sb $"int {pfx}_run_layers(const int8_t *input, int last_layer, const int8_t **output, uint32_t *output_len)"
        nl sb "{"
        nl sb "    if (input == 0 || output == 0 || output_len == 0) return -1;"
        nl sb $"    if (last_layer < 0 || last_layer >= {up}_LAYER_COUNT) return -2;"
        nl sb $"    memcpy({pfx}_arena + {plan.InputOffset}, input, {up}_INPUT_BYTES);"
        nl sb "    for (int i = 0; i <= last_layer; i++) {"
        nl sb "        int status = tern_run_layer(i);"
        nl sb "        if (status != 0) return -100 - status;"
        nl sb "    }"
        nl sb $"    *output = {pfx}_arena + tern_layer_output_offset[last_layer];"
        nl sb "    *output_len = tern_layer_output_bytes[last_layer];"
        nl sb "    return 0;"
        nl sb "}"
        nl sb ""
        nl sb $"int {pfx}_run(const int8_t *input, int8_t *output)"
        nl sb "{"

        if n = 0 then
            nl sb "    if (input == 0 || output == 0) return -1;"
            nl sb $"    memmove(output, input, {up}_OUTPUT_BYTES);"
            nl sb "    return 0;"
        else
            nl sb "    const int8_t *result;"
            nl sb "    uint32_t result_len;"
            nl sb "    int status;"
            nl sb "    if (output == 0) return -1;"
            nl sb $"    status = {pfx}_run_layers(input, {up}_LAYER_COUNT - 1, &result, &result_len);"
            nl sb "    if (status != 0) return status;"
            nl sb $"    memcpy(output, result, {up}_OUTPUT_BYTES);"
            nl sb "    return 0;"

        nl sb "}"
        nl sb ""
        let inverse = float32 (1.0 / float model.InputScale)

        nl
            sb
            "/* Input quantization, bit for bit as Tern's host (Lower.quantizeInput): x / s in double from the float32 x"

        nl sb " * and s, rounded half away from zero, plus the zero point, clamped to int8."
        nl sb " * Fast path: e = x * fl(1/s) in float is within |x/s| * 2^-23 < 2^-15 of x / s while |e| < 255, so"

        nl
            sb
            " * wherever e's fraction is farther than 2^-12 from one half, e rounds like x / s. Otherwise (near a tie,"

        nl
            sb
            " * out of range, NaN) the exact path: the double quotient of two float32 values is either exactly on a tie"

        nl sb " * or much farther from it than double's rounding error, so it rounds as exact arithmetic does on every"
        nl sb " * IEEE-754 target (hardware, software or x87 doubles). -ffast-math would break both paths. */"
        nl sb "#if defined(__FAST_MATH__)"
        nl sb $"#error \"{pfx}.c must not be compiled with -ffast-math: {pfx}_quantize needs IEEE-754 arithmetic\""
        nl sb "#endif"
        nl sb $"static const float {pfx}_inverse_scale = {cFloat inverse}; /* fl(1 / {up}_INPUT_SCALE) */"
        nl sb ""
        nl sb $"int8_t {pfx}_quantize(float x)"
        nl sb "{"
        nl sb $"    const float e = x * {pfx}_inverse_scale;"
        nl sb "    double v;"
        nl sb "    int32_t q;"
        nl sb "    if (e > -255.0f && e < 255.0f) { /* false for NaN */"

        nl
            sb
            "        const float f = e < 0.0f ? (float)(int32_t)e - e : e - (float)(int32_t)e; /* |fraction|, exact */"

        nl sb "        if (f < 0.49975f || f > 0.50025f) {"
        nl sb "            q = (int32_t)e + (f < 0.5f ? 0 : e < 0.0f ? -1 : 1);"
        nl sb $"            q += {up}_INPUT_ZERO_POINT;"
        nl sb "            return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);"
        nl sb "        }"
        nl sb "    }"
        nl sb $"    v = (double)x / (double){up}_INPUT_SCALE;"
        nl sb $"    if (v != v) return (int8_t){up}_INPUT_ZERO_POINT; /* NaN */"
        nl sb "    if (v >= 256.0) return 127; /* round(v) + z >= 256 - 128 (also +infinity) */"
        nl sb "    if (v <= -256.0) return -128;"
        nl sb "    q = (int32_t)v; /* toward zero; v - q is then exact */"
        nl sb "    if (v - (double)q >= 0.5)"
        nl sb "        q++;"
        nl sb "    else if ((double)q - v >= 0.5)"
        nl sb "        q--;"
        nl sb $"    q += {up}_INPUT_ZERO_POINT;"
        nl sb "    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);"
        nl sb "}"
        nl sb ""

        nl
            sb
            "/* s * (q - z): the exact product (24 by 9 bits) rounded once to float, as the host rounds its double product. */"

        nl sb $"float {pfx}_dequantize(int8_t q)"
        nl sb "{"
        nl sb $"    return {up}_OUTPUT_SCALE * (float)((int32_t)q - {up}_OUTPUT_ZERO_POINT);"
        nl sb "}"

        {
            Prefix = pfx
            Header = header.ToString()
            Source = sb.ToString()
            ArenaBytes = plan.ArenaBytes
            WeightBytes = layers |> Array.sumBy (fun l -> l.WeightBytes)
            PatchBytes = patch
            ClassCount = classes.Length
        }

    // Writes to a temporary name in the target's folder, then renames over the target.

    let writeFiles (dir: string) (emitted: EmittedModel) : unit =
        Directory.CreateDirectory dir |> ignore
        AtomicFile.writeText (Path.Combine(dir, emitted.Prefix + ".h")) emitted.Header
        AtomicFile.writeText (Path.Combine(dir, emitted.Prefix + ".c")) emitted.Source

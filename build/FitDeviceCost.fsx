/// Refits DeviceCost's coefficients for layers of one weight kind on the emulated board: builds models of the fit
/// architectures with random weights, lowers them (ternary or int8), runs each with `tern hil --profile` on
/// qemu-mps2-an386 and fits, per layer kind, instructions = a * work + b * outputs + c * rows + d and (ternary) baked
/// code = a * non-zero + b * non-zero [pairs] + c * non-zero [border] + d * channels + e by least squares weighted by
/// 1 / measured. Prints the coefficients as DeviceCost.fs writes them and each layer's measured and fitted figures.
///
///     dotnet fsi build.fsx build && dotnet fsi build/FitDeviceCost.fsx ternary|int8
///
/// The model that `DeviceCostTests` runs on the board (default 24 x 24 x 2) is not in the fit: it checks the result.
#r "nuget: MathNet.Numerics, 5.0.0"
#r "../src/Core/bin/Release/net10.0/Tern.Runtime.dll"
#r "../src/Core/bin/Release/net10.0/Tern.Core.dll"

open System
open System.Diagnostics
open System.IO
open System.Text.Json.Nodes
open MathNet.Numerics.LinearAlgebra
open Tern.Core
open Tern.Runtime

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))
let tern = Path.Combine(root, "src", "Cli", "bin", "Release", "net10.0", "tern.dll")
let out = Path.Combine(root, "artifacts", "fit-cost")
Directory.CreateDirectory out |> ignore

let weights =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| "ternary" |] -> LowerOptions.Ternary
    | [| "int8" |] -> LowerOptions.Int8
    | _ -> failwith "usage: dotnet fsi build/FitDeviceCost.fsx ternary|int8"

let classes = [ "a"; "b"; "c"; "d"; "e" ]

/// Architectures and inputs of the fit: each kind of layer at several shapes.
let fitSet = [
    "default", Shape3(64, 64, 1)
    "default", Shape3(16, 16, 3)
    "default", Shape3(32, 32, 2)
    "raw1d", Shape3(1, 64, 3)
    "raw1d", Shape3(1, 128, 3)
    "plain", Shape3(64, 64, 1)
    "plain", Shape3(16, 16, 2)
    "blocks", Shape3(64, 64, 1)
    "blocks", Shape3(16, 16, 3)
    "sep-16-32-k3-flat", Shape3(16, 16, 6)
    "sep-12-24-32-k3-flat", Shape3(16, 16, 6)
    "res-16-32-k3-flat", Shape3(16, 16, 6)
    "sep-16-32-32-k5-flat", Shape3(1, 64, 6)
    "avg2-sep-16-32-16-k3-flat", Shape3(64, 64, 1)
    "avg4-sep-16-32-k3-flat", Shape3(64, 64, 1)
]

/// One measured layer: its features and the board's instructions and code bytes.
type Row = {
    Model: string
    F: LayerFeatures
    Instructions: float
    Code: float
}

let hil (path: string) : JsonNode =
    let psi =
        ProcessStartInfo(
            "dotnet",
            [
                tern
                "hil"
                "--model"
                path
                "--input"
                "random:2"
                "--profile"
                "--json"
                "--no-history"
                "--cache"
                Path.Combine(out, "cache")
            ],
            RedirectStandardOutput = true,
            WorkingDirectory = root
        )

    use p = Process.Start psi
    let text = p.StandardOutput.ReadToEnd()
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwithf "tern hil --model %s failed (%d)" path p.ExitCode

    JsonNode.Parse text

let rows = [
    for arch, shape in fitSet do
        let name = $"{arch} {shape.H}x{shape.W}x{shape.C}"
        let m = Architectures.forData arch shape classes 1 |> Result.defaultWith failwith

        let im =
            Lower.lower weights (Lower.randomCalibration 1 4 m.Input) m
            |> Result.defaultWith failwith

        let path = Path.Combine(out, name.Replace(' ', '_') + ".tern")
        ModelFile.saveInt path im
        let r = hil path
        let layers = r["layers"].AsArray()
        let work = r["instructions_per_inference"]
        let median = work["median"].GetValue<int64>()
        let flash = r["flash_bytes"].GetValue<int64>()
        printfn "%-36s %9d instructions, %6d B flash" name median flash

        for f in DeviceCost.features im do
            let l = layers[f.Index]

            yield {
                Model = name
                F = f
                Instructions = float (l["instructions"].GetValue<int64>())
                Code =
                    let fl = l["flash"]
                    float (fl["code"].GetValue<int64>())
            }
]

/// Weighted least squares over the columns that vary and are not copies of an earlier one; the dropped ones get 0.
let fit (xs: float[][]) (ys: float[]) : float[] =
    let n = xs[0].Length
    let column j = xs |> Array.map (fun x -> x[j])

    let kept =
        [ 0 .. n - 1 ]
        |> List.fold
            (fun acc j ->
                let c = column j

                // all zero, a constant beside the last column (the constant term), or a copy: no information
                let constant = j < n - 1 && c |> Array.forall ((=) c[0])

                if
                    c |> Array.forall ((=) 0.0)
                    || constant
                    || acc |> List.exists (fun k -> column k = c)
                then
                    acc
                else
                    acc @ [ j ])
            []

    let w = ys |> Array.map (fun y -> 1.0 / max 1.0 y)

    let a =
        Matrix<float>
            .Build.DenseOfRowArrays(
                xs
                |> Array.mapi (fun i x -> kept |> List.map (fun j -> x[j] * w[i]) |> Array.ofList)
            )

    let b = Vector<float>.Build.DenseOfArray(ys |> Array.mapi (fun i y -> y * w[i]))
    // the pseudo-inverse, singular values below 1e-9 of the largest dropped (columns that still depend on others)
    let svd = a.Svd(true)
    let s = svd.S
    let limit = 1e-9 * s.Maximum()
    let ub = svd.U.TransposeThisAndMultiply(b)

    let scaled =
        Vector<float>.Build.Dense(svd.VT.RowCount, fun i -> if i < s.Count && s[i] > limit then ub[i] / s[i] else 0.0)

    let solved = svd.VT.TransposeThisAndMultiply(scaled)
    let coefficients = Array.zeroCreate n
    kept |> List.iteri (fun i j -> coefficients[j] <- solved[i])
    coefficients

let report (label: string) (group: Row list) (features: Row -> float[]) (target: Row -> float) =
    let xs = group |> List.map features |> Array.ofList
    let ys = group |> List.map target |> Array.ofList
    let c = fit xs ys
    printfn "\n%s: %s" label (c |> Array.map (sprintf "%.4f") |> String.concat ", ")

    for r, (x, y) in List.zip group (List.zip (List.ofArray xs) (List.ofArray ys)) do
        let e = Array.fold2 (fun s a b -> s + a * b) 0.0 c x

        printfn
            "  %-36s layer %2d  measured %9.0f  fitted %9.0f  %+6.1f %%"
            r.Model
            r.F.Index
            y
            e
            (100.0 * (e - y) / max 1.0 y)

let convLike = set [ "conv"; "depthwise"; "pointwise"; "dense" ]
let ternary = weights = LowerOptions.Ternary

for kind in
    [
        "conv"
        "depthwise"
        "pointwise"
        "dense"
        "avgpool"
        "maxpool"
        "globalavgpool"
        "add"
    ] do
    let group =
        rows
        |> List.filter (fun r -> r.F.Kind = kind && r.F.Ternary = (ternary && convLike.Contains kind))

    for single in (if kind = "avgpool" then [ false; true ] else [ false ]) do
        let g = group |> List.filter (fun r -> r.F.SingleChannelPool = single)

        if not g.IsEmpty then
            let label = if single then $"{kind} (one channel)" else kind

            report
                $"{label} instructions (a per work, b per output, c per row, d)"
                g
                (fun r -> [| float r.F.Work; float r.F.Outputs; float r.F.Rows; 1.0 |])
                (fun r -> r.Instructions)

    if ternary && convLike.Contains kind && not group.IsEmpty then
        let flag b = if b then 1.0 else 0.0

        report
            $"{kind} baked code (a per non-zero, b pairs, c border, d per channel, e)"
            group
            (fun r ->
                let nz = float r.F.NonZero
                [| nz; nz * flag r.F.Pairs; nz * flag r.F.Border; float r.F.OutChannels; 1.0 |])
            (fun r -> r.Code)

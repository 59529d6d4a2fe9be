/// Every numeric option of every verb is finite and inside its documented range, checked before any work
/// (OptionRanges): NaN, infinities and values out of range exit 2 naming the option and the range.
module Tern.Tests.OptionRangesTests

open System
open System.IO
open Argu
open Expecto
open FsCheck
open FsCheck.FSharp
open Microsoft.FSharp.Reflection
open Tern.Cli
open Tern.Tests.CliTests

/// A property that fails with the reason given.
let private (|@) (ok: bool) (why: string) = Prop.label why ok

/// (option, field type) of every numeric option of every verb in Args.fs.
let private numericOptions =
    typeof<Args.TernArgs>.Assembly.GetTypes()
    |> Array.filter (fun t -> FSharpType.IsUnion t && typeof<IArgParserTemplate>.IsAssignableFrom t)
    |> Array.collect (fun t ->
        FSharpType.GetUnionCases t
        |> Array.collect (fun c ->
            c.GetFields()
            |> Array.filter (fun f ->
                List.contains f.PropertyType [ typeof<float>; typeof<float32>; typeof<int>; typeof<int64> ])
            |> Array.map (fun f -> "--" + c.Name.ToLowerInvariant().Replace('_', '-'), f.PropertyType)))
    |> Array.distinct

let private ``every numeric option of every verb has a documented range`` () =
    Expect.isGreaterThan numericOptions.Length 20 "numeric options found"

    for name, _ in numericOptions do
        Expect.isTrue (OptionRanges.ranges.ContainsKey name) name

let private inside (r: OptionRanges.Range) (v: float) =
    (if r.MinIncluded then v >= r.Min else v > r.Min)
    && (match r.Max with
        | Some m -> if r.MaxIncluded then v <= m else v < m
        | None -> true)

let private ``a value is accepted exactly when it is finite and inside the option's range`` () =
    let options = numericOptions |> Array.map fst |> Array.distinct

    let edges =
        options
        |> Array.collect (fun o ->
            let r = OptionRanges.ranges[o]

            [| r.Min; r.Min - 1.0; r.Min + 1e-9 |]
            |> Array.append (Option.toArray r.Max |> Array.collect (fun m -> [| m; m + 1e-9; m + 1.0 |])))

    let value =
        Gen.frequency [
            3, Gen.elements (Array.append edges [| nan; infinity; -infinity; 1e39; -1.0; 0.0; 0.5; 1.0; 2.0; 1e9 |])
            1,
            ArbMap.defaults
            |> ArbMap.generate<NormalFloat>
            |> Gen.map NormalFloat.op_Explicit
        ]

    Prop.forAll (Arb.fromGen (Gen.zip (Gen.elements options) value)) (fun (option, v) ->
        let r = OptionRanges.ranges[option]
        let result = OptionRanges.checkValue option (box v)
        let expected = Double.IsFinite v && inside r v

        match result with
        | Ok() -> expected |@ $"{option} {v} accepted"
        | Error e ->
            (not expected && e.StartsWith(option + " ") && e.Contains "must be")
            |@ $"{option} {v}: {e}")

let private ``a whole number is accepted exactly when inside the option's range`` () =
    let options =
        numericOptions
        |> Array.filter (fun (_, t) -> t = typeof<int>)
        |> Array.map fst
        |> Array.distinct

    let value =
        Gen.oneof [
            Gen.choose (-5, 20)
            Gen.elements [ Int32.MinValue; Int32.MaxValue; 4096; 4097; 10000; 10001; 1000000000 ]
        ]

    Prop.forAll (Arb.fromGen (Gen.zip (Gen.elements options) value)) (fun (option, v) ->
        let expected = inside OptionRanges.ranges[option] (float v)

        match OptionRanges.checkValue option (box v) with
        | Ok() -> expected |@ $"{option} {v} accepted"
        | Error e -> (not expected && e.StartsWith $"{option} {v}: must be") |@ e)

module private OptionRangesCliTests =
    let private dir = lazy (Scratch.folder "tern-ranges")
    let private path name = Path.Combine(dir.Value, name)

    /// Exit 2 before any work (the data folder does not even exist), naming the option and its range, nothing written.
    let private refused (args: string list) (needle: string) =
        let code, _, err = tern args
        Expect.equal code 2 err
        Expect.stringContains err needle "stderr"
        Expect.isFalse (err.Contains "internal error") $"not an internal error: {err}"
        Expect.isEmpty (Directory.GetFileSystemEntries dir.Value) "nothing written"

    let ``train refuses --lr NaN, -1 and 1e39, --sparsity 2 and --batch 1000000000 before any work`` () =
        let train extra =
            [ "train"; "--data"; path "radar"; "--out"; path "m.tern" ] @ extra

        refused (train [ "--lr"; "NaN" ]) "--lr NaN: not a finite number: must be a number in (0, 1]"
        refused (train [ "--lr"; "-1" ]) "--lr -1: must be a number in (0, 1]"
        refused (train [ "--lr"; "1e39" ]) "--lr 1E+39: must be a number in (0, 1]"
        refused (train [ "--qat"; "ternary"; "--sparsity"; "2" ]) "--sparsity 2: must be a number in [0, 1)"
        refused (train [ "--batch"; "1000000000" ]) "--batch 1000000000: must be a whole number in [1, 4096]"

    let ``data import csv refuses --rate 1e9 and NaN before reading any file`` () =
        let csv extra =
            [
                "data"
                "import"
                "csv"
                "--in"
                path "a.csv"
                "--columns"
                "x"
                "--label"
                "l"
                "--subject"
                "s"
                "--out"
                path "d"
            ]
            @ extra

        refused (csv [ "--rate"; "1e9" ]) "--rate 1000000000: must be a number in (0, 10000]"
        refused (csv [ "--rate"; "50"; "--full-scale"; "Infinity" ]) "--full-scale Infinity: not a finite number"

        refused
            (csv [ "--rate"; "50"; "--column-scale"; "x=0" ])
            "--column-scale x=0: '0' of x is not a positive number"

        refused (csv [ "--rate"; "50"; "--column-scale"; "y=2" ]) "--column-scale y=2: 'y' is not one of --columns"
        refused (csv [ "--rate"; "50"; "--column-scale"; "x=1,x=2" ]) "a column is named twice"

    let ``data import sp-sw-har refuses an unknown or repeated sensor before reading any file`` () =
        let import sensors = [
            "data"
            "import"
            "sp-sw-har"
            "--in"
            path "nowhere"
            "--out"
            path "d"
            "--sensors"
            sensors
        ]

        refused (import "acc,mag") "--sensors acc,mag: 'mag' is not a sensor (acc, gyro)"
        refused (import "gyro,gyro") "--sensors gyro,gyro: a sensor is named twice"

    let ``a training that diverges to NaN fails with exit 1 and writes nothing`` () =
        // Values near float32's limit overflow the first forward pass: the weights become NaN whatever the rate.
        let data = path "huge"

        Tern.Core.Dataset.save data {
            Shape = Tern.Runtime.Shape3(8, 8, 1)
            Classes = [ "a"; "b" ]
            Samples = Array.init 16 (fun i -> Array.init 64 (fun k -> if (i + k) % 2 = 0 then 3e38f else -3e38f))
            Labels = Array.init 16 (fun i -> i % 2)
            Subjects = Array.init 16 (fun i -> i % 4)
            SubjectNames = []
            Source = "crafted"
            Augment = Tern.Core.NoAugmentation
        }

        let out = path "diverged.tern"

        let code, _, err =
            tern [ "train"; "--data"; data; "--out"; out; "--epochs"; "1"; "--lr"; "1" ]

        Directory.Delete(data, true)
        Expect.equal code 1 err
        Expect.stringContains err "training diverged" "stderr"
        Expect.stringContains err "not a finite number" "stderr"
        Expect.isFalse (err.Contains "internal error") $"not an internal error: {err}"
        Expect.isEmpty (Directory.GetFileSystemEntries dir.Value) "nothing written"

[<Tests>]
let tests =
    testList "OptionRangesTests" [
        testCase
            "every numeric option of every verb has a documented range"
            ``every numeric option of every verb has a documented range``
        testPropertyWithConfig
            (Properties.tests 500)
            "a value is accepted exactly when it is finite and inside the option's range"
            ``a value is accepted exactly when it is finite and inside the option's range``
        testPropertyWithConfig
            (Properties.tests 200)
            "a whole number is accepted exactly when inside the option's range"
            ``a whole number is accepted exactly when inside the option's range``
        testSequenced
        <| testList "OptionRangesCliTests" [
            testCase
                "train refuses --lr NaN, -1 and 1e39, --sparsity 2 and --batch 1000000000 before any work"
                OptionRangesCliTests
                    .``train refuses --lr NaN, -1 and 1e39, --sparsity 2 and --batch 1000000000 before any work``
            testCase
                "data import csv refuses --rate 1e9 and NaN before reading any file"
                OptionRangesCliTests.``data import csv refuses --rate 1e9 and NaN before reading any file``
            testCase
                "data import sp-sw-har refuses an unknown or repeated sensor before reading any file"
                OptionRangesCliTests
                    .``data import sp-sw-har refuses an unknown or repeated sensor before reading any file``
            testCase
                "a training that diverges to NaN fails with exit 1 and writes nothing"
                OptionRangesCliTests.``a training that diverges to NaN fails with exit 1 and writes nothing``
        ]
    ]

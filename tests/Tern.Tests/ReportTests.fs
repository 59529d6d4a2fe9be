module Tern.Tests.ReportTests

open System.Text.Json
open Expecto
open Tern.Rig

let private sample = {
    Board = "qemu-mps2-an386"
    Kernels = "dsp"
    Weights = "ternary"
    ModelHash = "ab"
    FirmwareHash = "cd"
    Samples = 3
    Mismatches = 1
    MismatchedSamples = [ 2 ]
    FirstDivergence =
        Some {
            Sample = 2
            Layer = Some(1, "depthwise_3")
            Element = 17
            Device = 5
            Host = 4
        }
    WorkUnit = "instructions"
    Work = Report.workStats [ 30L; 10L; 20L ]
    Accuracy = None
    FlashBytes = 1000L
    RamBytes = 2000L
    ArenaBytes = 12288
    LinkBytesPerSecond = 30000.0
    ElapsedSeconds = 1.5
    FirmwareCached = false
    Outputs = [||]
}

[<Tests>]
let tests =
    testList "ReportTests" [
        testCase "the JSON report has the keys the HIL issue names"
        <| fun () ->
            let j = JsonDocument.Parse(Report.render sample).RootElement

            for key in
                [
                    "board"
                    "samples"
                    "mismatches"
                    "flash_bytes"
                    "ram_bytes"
                    "arena_bytes"
                    "link_bytes_per_s"
                    "kernels"
                ] do
                Expect.isTrue (j.TryGetProperty(key) |> fst) key

            let work = j.GetProperty "instructions_per_inference"

            Expect.equal
                (work.GetProperty("min").GetInt64(),
                 work.GetProperty("median").GetInt64(),
                 work.GetProperty("max").GetInt64())
                (10L, 20L, 30L)
                "instructions per inference: min, median, max"

            Expect.equal
                (j.GetProperty("first_mismatch").GetProperty("layer_name").GetString())
                "depthwise_3"
                "the first mismatch's layer name"

        testCase "JUnit has one case per sample and a failure for each mismatch"
        <| fun () ->
            let x = Report.toJUnit sample
            let cases = x.Descendants(System.Xml.Linq.XName.Get "testcase") |> Seq.length
            let failures = x.Descendants(System.Xml.Linq.XName.Get "failure") |> Seq.toList
            Expect.equal cases 3 "one test case per sample"
            Expect.equal failures.Length 1 "one failure per mismatch"

            Expect.stringContains
                (failures[0].Attribute(System.Xml.Linq.XName.Get "message").Value)
                "layer 1 (depthwise_3)"
                "the failure's message names the layer"

        testCase "the median of an even count is the lower middle"
        <| fun () ->
            Expect.equal (Report.median [ 4L; 1L; 3L; 2L ]) 2L "median of 4 values"
            Expect.equal (Report.median [ 5L ]) 5L "median of one value"
    ]

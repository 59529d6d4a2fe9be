module Tern.Tests.ReportTests

open System.Text.Json
open NUnit.Framework
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

[<Test>]
let ``the JSON report has the keys the HIL issue names`` () =
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
        Assert.That(j.TryGetProperty(key) |> fst, Is.True, key)

    let work = j.GetProperty "instructions_per_inference"

    Assert.That(
        (work.GetProperty("min").GetInt64(), work.GetProperty("median").GetInt64(), work.GetProperty("max").GetInt64()),
        Is.EqualTo((10L, 20L, 30L))
    )

    Assert.That(j.GetProperty("first_mismatch").GetProperty("layer_name").GetString(), Is.EqualTo "depthwise_3")

[<Test>]
let ``JUnit has one case per sample and a failure for each mismatch`` () =
    let x = Report.toJUnit sample
    let cases = x.Descendants(System.Xml.Linq.XName.Get "testcase") |> Seq.length
    let failures = x.Descendants(System.Xml.Linq.XName.Get "failure") |> Seq.toList
    Assert.That(cases, Is.EqualTo 3)
    Assert.That(failures.Length, Is.EqualTo 1)
    Assert.That(failures[0].Attribute(System.Xml.Linq.XName.Get "message").Value, Does.Contain "layer 1 (depthwise_3)")

[<Test>]
let ``the median of an even count is the lower middle`` () =
    Assert.That(Report.median [ 4L; 1L; 3L; 2L ], Is.EqualTo 2L)
    Assert.That(Report.median [ 5L ], Is.EqualTo 5L)

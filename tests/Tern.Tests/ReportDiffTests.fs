/// Comparing two reports: changes are B - A, relative to A, antisymmetric; per-layer work when both have it.
module Tern.Tests.ReportDiffTests

open System.Text.Json.Nodes
open FsCheck
open FsCheck.FSharp
open Expecto
open Tern.Rig

let private pairs = Gen.zip Generators.hilReport Generators.hilReport |> Arb.fromGen

let private metric (name: string) (c: ReportComparison) =
    c.Metrics |> List.find (fun m -> m.Metric = name)

[<Tests>]
let tests =
    testList "ReportDiffTests" [
        testProperty "a report against itself: every change is zero and nothing is noted"
        <| fun () ->
            Prop.forAll (Arb.fromGen Generators.hilReport) (fun r ->
                let c = ReportDiff.compare r r

                c.Notes.IsEmpty
                && c.Metrics
                   |> List.forall (fun m -> m.Change = (m.A |> Option.map (fun _ -> 0.0)))
                && c.Layers |> List.forall (fun l -> l.Work.Change = Some 0.0))

        testProperty "changes are B - A in A's units and percent of A, and swap sign when the runs swap"
        <| fun () ->
            Prop.forAll pairs (fun (a, b) ->
                let ab, ba = ReportDiff.compare a b, ReportDiff.compare b a

                let work = metric "instructions_per_inference" ab
                let wa, wb = (ReportFacts.work a).Value.Median, (ReportFacts.work b).Value.Median

                work.A = Some wa
                && work.B = Some wb
                && work.Change = Some(wb - wa)
                && work.ChangePct = Some((wb - wa) / wa * 100.0)
                && ab.Metrics
                   |> List.forall (fun m ->
                       let back = metric m.Metric ba

                       back.A = m.B
                       && back.B = m.A
                       && back.Change = (m.Change |> Option.map (fun x -> -x))))

        testProperty "per-layer changes add up to the change of the layers' total"
        <| fun () ->
            Prop.forAll pairs (fun (a, b) ->
                let c = ReportDiff.compare a b

                match ReportFacts.layers a, ReportFacts.layers b with
                | Some(_, la), Some(_, lb) ->
                    let total (ls: LayerWork list) = ls |> List.sumBy (fun l -> l.Work)

                    c.LayerUnit = Some "instructions"
                    && c.Layers.Length = la.Length
                    && abs ((c.Layers |> List.sumBy (fun l -> l.Work.Change.Value)) - (total lb - total la)) < 1e-6
                | None, None -> c.Layers.IsEmpty && c.LayerUnit.IsNone
                | _ -> c.Layers.IsEmpty && c.Notes |> List.exists (fun n -> n.Contains "per-layer"))

        testCase "different models, boards and work units are noted; work in other units is not compared"
        <| fun () ->
            let a =
                JsonNode.Parse
                    """{"model_hash": "aaaaaaaaaaaaaaaa", "board": "x", "work_unit": "instructions",
                               "instructions_per_inference": {"median": 100}, "flash_bytes": 10}"""

            let b =
                JsonNode.Parse
                    """{"model_hash": "bbbb", "board": "y", "work_unit": "cycles",
                               "cycles_per_inference": {"median": 300}, "flash_bytes": 15}"""

            let c = ReportDiff.compare a b

            Expect.isTrue
                (c.Notes
                 |> List.exists (fun n -> n.Contains "models differ: aaaaaaaaaaaa vs bbbb"))
                (c.Notes |> string)

            Expect.isTrue (c.Notes |> List.exists (fun n -> n.Contains "boards differ")) "a note says the boards differ"

            Expect.isTrue
                (c.Notes |> List.exists (fun n -> n.Contains "work units differ"))
                "a note says the work units differ"

            Expect.equal (c.Metrics |> List.map (fun m -> m.Metric)) [ "flash_bytes" ] "the metrics compared"
            Expect.equal (metric "flash_bytes" c).ChangePct (Some 50.0) "flash_bytes' change in percent"

        testCase "a number only one report has is listed with no change; numbers of neither are not"
        <| fun () ->
            let a = JsonNode.Parse """{"accuracy": 0.5, "samples": 3}"""
            let b = JsonNode.Parse """{"samples": 4, "seconds": 2.0}"""
            let c = ReportDiff.compare a b
            let acc = metric "accuracy" c
            Expect.equal (acc.A, acc.B, acc.Change) (Some 0.5, None, None) "accuracy: A, B and change"
            Expect.equal (c.Metrics |> List.map (fun m -> m.Metric)) [ "accuracy"; "samples" ] "the metrics listed"

        testCase "layers of other kinds or counts are not compared, and the note says so"
        <| fun () ->
            let withLayers (kinds: string list) =
                let o = (Gen.sample 1 Generators.hilReport |> Array.head)

                o["layers"] <-
                    JsonArray(
                        kinds
                        |> List.mapi (fun i k ->
                            JsonNode.Parse $"""{{"index": {i}, "name": "l{i}", "kind": "{k}", "instructions": 10}}""")
                        |> List.toArray
                    )

                o

            let c =
                ReportDiff.compare (withLayers [ "conv2d"; "dense" ]) (withLayers [ "conv2d"; "pointwise" ])

            Expect.isEmpty c.Layers "no layer is compared"
            Expect.isTrue (c.Notes |> List.exists (fun n -> n.Contains "layers differ")) "a note says the layers differ"

        testCase "the JSON form has notes, changes with change_pct, and per-layer rows"
        <| fun () ->
            let r = Gen.sample 1 Generators.hilReport |> Array.head
            r["layers"] <- JsonNode.Parse """[{"index": 0, "name": "conv", "kind": "conv2d", "instructions": 40}]"""
            let s = r.DeepClone().AsObject()
            s["layers"] <- JsonNode.Parse """[{"index": 0, "name": "conv", "kind": "conv2d", "instructions": 50}]"""
            let j = ReportDiff.toJson (ReportDiff.compare r s)
            let layers = j["layers"]
            let row = layers["rows"].AsArray()[0]
            let text (key: string) (n: JsonNode) = n[key].GetValue<string>()
            let number (key: string) (n: JsonNode) = n[key].GetValue<float>()
            Expect.equal (text "unit" layers) "instructions" "the layers' unit"

            Expect.equal
                (text "name" row, number "change" row, number "change_pct" row)
                ("conv", 10.0, 25.0)
                "the layer row: name, change, change_pct"

            Expect.isGreaterThan (j["changes"].AsArray().Count) 0 "the JSON lists changes"
    ]

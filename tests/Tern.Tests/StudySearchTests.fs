module Tern.Tests.StudySearchTests

open System
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Runtime
open Tern.Core

module private Tiny =
    /// 4 subjects x 3 recordings per class of the radar simulator: 60 spectrograms of 64x64.
    let data = lazy (RadarSim.synth RadarSim.defaultConfig 4 3 13)

    let config = {
        StudySearch.defaultConfig with
            Seed = 2
            Train = {
                StudySearch.defaultConfig.Train with
                    Epochs = 3
                    BatchSize = 16
            }
            Protocol = {
                StudySearch.defaultConfig.Protocol with
                    FineTuneEpochs = 1
                    SubsetFraction = 0.3
            }
            SparsityStep = 0.15
            Calibration = 8
            Threads = 2
    }

    let once = lazy (StudySearch.run config (data.Force()) ignore)

let private bound (n: int) = int (ceil (Math.Log2(float n))) + 2

[<Test>]
let ``the search uses at most ceil(log2 n) + 2 evaluations per grid and reports what a linear sweep would use`` () =
    let r = Tiny.once.Force()

    let check (grid: int) (evaluations: int) (linear: int) =
        Assert.That(linear, Is.EqualTo grid)
        Assert.That(evaluations, Is.LessThanOrEqualTo(bound grid))

    check r.BlockSearch.Grid.Length r.BlockSearch.Result.Evaluations r.BlockSearch.Result.LinearEvaluations
    check r.SparsitySearch.Grid.Length r.SparsitySearch.Result.Evaluations r.SparsitySearch.Result.LinearEvaluations

    Assert.That(r.BlockSearch.Grid, Is.EqualTo(box [| 7; 6; 5; 4; 3; 2; 1; 0 |]))
    Assert.That(r.Blocks, Is.EqualTo 7)

[<Test>]
let ``the chosen model has B* blocks, r* zero weights, and meets the target on the full validation set when verified``
    ()
    =
    let r = Tiny.once.Force()

    match r.BStar, r.RStar with
    | Some b, Some s ->
        Assert.That((Model.residualBlocks r.Model).Length, Is.EqualTo b)
        Assert.That(r.WeightSparsity, Is.GreaterThanOrEqualTo(s - 0.02))

        if r.BlockSearch.Result.Verified && r.SparsitySearch.Result.Verified then
            Assert.That(r.Accuracy, Is.GreaterThanOrEqualTo r.Target)
    | _ -> Assert.That(r.BlockSearch.Result.Verified, Is.False)

    Assert.That(Model.validate r.Model, Is.EqualTo(Ok(): Result<unit, string>))

[<Property(MaxTest = 30)>]
let ``retaining B blocks keeps the first B and a valid model`` () =
    let m = Architectures.blocksFor (Shape3(32, 32, 1)) [ "a"; "b" ] 1
    let n = (Model.residualBlocks m).Length

    Prop.forAll (Arb.fromGen (Gen.choose (0, n))) (fun b ->
        let kept = StudySearch.retainBlocks b m
        (Model.residualBlocks kept).Length = b && Model.validate kept = Ok())

[<Test>]
let ``masks zero exactly the pruned weights`` () =
    let m = Architectures.plainFor (Shape3(16, 16, 1)) [ "a"; "b" ] 4
    let masks = PruneCriteria.unstructuredMasks 0.5 m
    let sparse = StudySearch.applyMasks masks m
    Assert.That(StudySearch.weightSparsity sparse, Is.EqualTo(0.5).Within(0.001))
    Assert.That(StudySearch.nonZeroParams sparse, Is.LessThan(Model.totalParams m))

[<Test>]
let ``an instruction budget is measured for every candidate and the chosen one fits it`` () =
    let d = Tiny.data.Force()
    let m = Architectures.blocksFor d.Shape d.Classes Tiny.config.Seed
    // A stand-in measurement (MACs / 4) so that the test needs no board; the CLI measures on QEMU.
    let measure (model: Model) = Model.totalMacs model / 4L
    let limit = measure (StudySearch.retainBlocks 3 m)
    let measured = Collections.Generic.List<int64>()

    let r =
        StudySearch.run
            {
                Tiny.config with
                    Budget = {
                        Tiny.config.Budget with
                            MaxInstructions = Some limit
                    }
                    MeasureInstructions =
                        Some(fun model ->
                            let n = measure model
                            measured.Add n
                            n)
            }
            d
            ignore

    Assert.That(measured.Count, Is.GreaterThanOrEqualTo r.BlockSearch.Grid.Length)

    match r.BStar with
    | Some b ->
        Assert.That(b, Is.LessThanOrEqualTo 3)
        Assert.That(r.BudgetViolations, Is.Empty)
    | None -> Assert.That(r.BudgetViolations, Is.Not.Empty)

    let ex =
        Assert.Throws<ArgumentException>(fun () ->
            StudySearch.run
                {
                    Tiny.config with
                        Budget = {
                            Tiny.config.Budget with
                                MaxInstructions = Some limit
                        }
                }
                d
                ignore
            |> ignore)

    Assert.That(ex.Message, Does.Contain "instruction")

// Silences the residual branch of block k: zero project weights and bias, BN mapping 0 to 0.
let private silence (k: int) (m: Model) : Model =
    let _, last = (Model.residualBlocks m)[k]
    let layers = List.toArray m.Layers

    layers[last - 2] <-
        match layers[last - 2] with
        | Pointwise c ->
            Pointwise {
                c with
                    Weight = Array.zeroCreate c.Weight.Length
                    Bias = Array.zeroCreate c.Bias.Length
            }
        | other -> failwith $"expected the project convolution, got {Model.kindName other}"

    layers[last - 1] <-
        match layers[last - 1] with
        | BatchNorm b ->
            BatchNorm {
                b with
                    Beta = Array.zeroCreate b.Beta.Length
                    Mean = Array.zeroCreate b.Mean.Length
            }
        | other -> failwith $"expected the BN, got {Model.kindName other}"

    { m with Layers = List.ofArray layers }

[<Property(MaxTest = 20)>]
let ``the energy drop order drops a silent block first; the suffix order drops the last first`` () =
    let m = Architectures.blocksFor (Shape3(32, 32, 1)) [ "a"; "b" ] 3
    let n = (Model.residualBlocks m).Length
    let calibration = Generators.inputs 3 4 m.Input

    Prop.forAll (Arb.fromGen (Gen.choose (0, n - 1))) (fun k ->
        let quiet = silence k m
        let energy = StudySearch.dropSequence BranchEnergy calibration quiet
        Assert.That(StudySearch.branchEnergy calibration quiet |> Array.item k, Is.EqualTo 0.0)
        Assert.That(List.head energy, Is.EqualTo k)
        Assert.That(List.sort energy, Is.EqualTo(box [ 0 .. n - 1 ]))
        Assert.That(StudySearch.dropSequence Suffix calibration quiet, Is.EqualTo(box [ n - 1 .. -1 .. 0 ]))
        // Dropping the silent block changes nothing.
        let x = List.head calibration
        let without = StudySearch.retainBlocksBy energy (n - 1) quiet
        Assert.That((Forward.run without x).Data, Is.EqualTo(box (Forward.run quiet x).Data))
        // Retaining by the suffix sequence is retainBlocks.
        StudySearch.retainBlocksBy [ n - 1 .. -1 .. 0 ] k m = StudySearch.retainBlocks k m)

module Tern.Tests.StudySearchTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core
open Tern.Studies

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

let private ``the search uses at most ceil(log2 n) + 2 evaluations per grid and reports what a linear sweep would use``
    ()
    =
    let r = Tiny.once.Force()

    let check (grid: int) (evaluations: int) (linear: int) =
        Expect.equal linear grid $"a linear sweep of {grid} evaluates every candidate"
        Expect.isLessThanOrEqual evaluations (bound grid) $"evaluations on a grid of {grid}"

    check r.BlockSearch.Grid.Length r.BlockSearch.Result.Evaluations r.BlockSearch.Result.LinearEvaluations
    check r.SparsitySearch.Grid.Length r.SparsitySearch.Result.Evaluations r.SparsitySearch.Result.LinearEvaluations

    Expect.equal r.BlockSearch.Grid [| 7; 6; 5; 4; 3; 2; 1; 0 |] "the block grid from 7 down to 0"
    Expect.equal r.Blocks 7 "7 blocks in the model"

let private ``the chosen model has B* blocks, r* zero weights, and meets the target on the full validation set when verified``
    ()
    =
    let r = Tiny.once.Force()

    match r.BStar, r.RStar with
    | Some b, Some s ->
        Expect.equal ((Model.residualBlocks r.Model).Length) b "the chosen model has B* blocks"
        Expect.isGreaterThanOrEqual r.WeightSparsity (s - 0.02) $"weight sparsity near r* = {s}"

        if r.BlockSearch.Result.Verified && r.SparsitySearch.Result.Verified then
            Expect.isGreaterThanOrEqual r.Accuracy r.Target "a verified choice meets the target"
    | _ -> Expect.isFalse r.BlockSearch.Result.Verified "without a choice the block search is unverified"

    Expect.equal (Model.validate r.Model) (Ok(): Result<unit, string>) "the chosen model is valid"

let private ``retaining B blocks keeps the first B and a valid model`` () =
    let m = Architectures.blocksFor (Shape3(32, 32, 1)) [ "a"; "b" ] 1
    let n = (Model.residualBlocks m).Length

    Prop.forAll (Arb.fromGen (Gen.choose (0, n))) (fun b ->
        let kept = StudySearch.retainBlocks b m
        (Model.residualBlocks kept).Length = b && Model.validate kept = Ok())

let private ``masks zero exactly the pruned weights`` () =
    let m = Architectures.plainFor (Shape3(16, 16, 1)) [ "a"; "b" ] 4
    let masks = PruneCriteria.unstructuredMasks 0.5 m
    let sparse = StudySearch.applyMasks masks m

    Expect.floatClose
        { absolute = 0.001; relative = 0.0 }
        (StudySearch.weightSparsity sparse)
        0.5
        "half the weights are zero"

    Expect.isLessThan
        (StudySearch.nonZeroParams sparse)
        (Model.totalParams m)
        "fewer non-zero parameters than the dense model"

let private ``an instruction budget is measured for every candidate and the chosen one fits it`` () =
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

    Expect.isGreaterThanOrEqual measured.Count r.BlockSearch.Grid.Length "every grid candidate is measured"

    match r.BStar with
    | Some b ->
        Expect.isLessThanOrEqual b 3 "at most the 3 blocks the budget allows"
        Expect.isEmpty r.BudgetViolations "no budget violation when a model is chosen"
    | None -> Expect.isNonEmpty r.BudgetViolations "without a choice the violations are reported"

    let ex =
        Expect.throwsC
            (fun () ->
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
            id

    Expect.equal (ex.GetType()) typeof<ArgumentException> "an instruction budget without a measurement is refused"
    Expect.stringContains ex.Message "instruction" "the message names the instruction budget"

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

let private ``the energy drop order drops a silent block first; the suffix order drops the last first`` () =
    let m = Architectures.blocksFor (Shape3(32, 32, 1)) [ "a"; "b" ] 3
    let n = (Model.residualBlocks m).Length
    let calibration = Generators.inputs 3 4 m.Input

    Prop.forAll (Arb.fromGen (Gen.choose (0, n - 1))) (fun k ->
        let quiet = silence k m
        let energy = StudySearch.dropSequence BranchEnergy calibration quiet

        Expect.equal
            (StudySearch.branchEnergy calibration quiet |> Array.item k)
            0.0
            $"block {k} silenced has no branch energy"

        Expect.equal (List.head energy) k $"silent block {k} is dropped first"
        Expect.equal (List.sort energy) [ 0 .. n - 1 ] "the energy order is a permutation of the blocks"

        Expect.equal
            (StudySearch.dropSequence Suffix calibration quiet)
            [ n - 1 .. -1 .. 0 ]
            "the suffix order drops the last first"
        // Dropping the silent block changes nothing.
        let x = List.head calibration
        let without = StudySearch.retainBlocksBy energy (n - 1) quiet

        Expect.equal
            ((Forward.run without x).Data)
            ((Forward.run quiet x).Data)
            "dropping the silent block changes nothing"
        // Retaining by the suffix sequence is retainBlocks.
        StudySearch.retainBlocksBy [ n - 1 .. -1 .. 0 ] k m = StudySearch.retainBlocks k m)

[<Tests>]
let tests =
    testList "StudySearchTests" [
        testCase
            "the search uses at most ceil(log2 n) + 2 evaluations per grid and reports what a linear sweep would use"
            ``the search uses at most ceil(log2 n) + 2 evaluations per grid and reports what a linear sweep would use``
        testCase
            "the chosen model has B* blocks, r* zero weights, and meets the target on the full validation set when verified"
            ``the chosen model has B* blocks, r* zero weights, and meets the target on the full validation set when verified``
        testPropertyWithConfig
            (Properties.tests 30)
            "retaining B blocks keeps the first B and a valid model"
            ``retaining B blocks keeps the first B and a valid model``
        testCase "masks zero exactly the pruned weights" ``masks zero exactly the pruned weights``
        testCase
            "an instruction budget is measured for every candidate and the chosen one fits it"
            ``an instruction budget is measured for every candidate and the chosen one fits it``
        testPropertyWithConfig
            (Properties.tests 20)
            "the energy drop order drops a silent block first; the suffix order drops the last first"
            ``the energy drop order drops a silent block first; the suffix order drops the last first``
    ]

/// Label smoothing and knowledge distillation inside training: Train's sessions (a teacher run on the student's
/// batches) and QAT teaching the ternary model its FP32 self.
module Tern.Tests.DistillationTests

open System
open Expecto
open Tern.Runtime
open Tern.Core

/// Helpers of this file only.
module private DistillGen =
    let randomArray (rng: Random) (n: int) (scale: float32) : float32[] =
        Array.init n (fun _ -> scale * (2.0f * float32 (rng.NextDouble()) - 1.0f))

    /// A small conv + dense model on 4x4x2 inputs, 3 classes (no BatchNorm: training and inference agree).
    let model (seed: int) : Model =
        let rng = Random(seed)

        {
            Name = $"m{seed}"
            Input = Shape3(4, 4, 2)
            Classes = [ "a"; "b"; "c" ]
            Layers = [
                Conv2d {
                    InChannels = 2
                    OutChannels = 3
                    KernelH = 3
                    KernelW = 3
                    StrideH = 1
                    StrideW = 1
                    Pad = Padding.symmetric 1 1
                    Weight = randomArray rng (3 * 9 * 2) 0.6f
                    Bias = randomArray rng 3 0.2f
                }
                ReLU
                Flatten
                Dense {
                    Inputs = 48
                    Outputs = 3
                    Weight = randomArray rng 144 0.4f
                    Bias = randomArray rng 3 0.2f
                }
            ]
            Meta = Map.empty
        }

    let batch (seed: int) (n: int) : float32[][] * int[] =
        let rng = Random(seed)
        Array.init n (fun _ -> randomArray rng 32 1.0f), Array.init n (fun i -> i % 3)

    let config (path: TrainPath) : TrainConfig = {
        Train.defaultConfig with
            Path = path
            BatchSize = 4
            Threads = 2
    }


    /// The QAT test task of QatTests: 8x8x1 with a bright quadrant per class, on the default architecture.
    let qatData (seed: int) (count: int) : float32[][] * int[] =
        let rng = Random(seed)
        let labels = Array.init count (fun i -> i % 3)

        let sample cls =
            let x = Array.init 64 (fun _ -> 0.2f * float32 (rng.NextDouble()))
            let r0, c0 = (if cls = 1 then 4 else 0), (if cls = 2 then 4 else 0)

            for r in r0 .. r0 + 3 do
                for c in c0 .. c0 + 3 do
                    x[r * 8 + c] <- x[r * 8 + c] + 0.8f

            x

        labels |> Array.map sample, labels

    let trainedOnce =
        lazy
            (let train = qatData 5 48

             let cfg = {
                 Train.defaultConfig with
                     Epochs = 2
                     BatchSize = 16
                     Patience = None
                     Threads = 2
             }

             let initial = Architectures.defaultFor (Shape3(8, 8, 1)) [ "a"; "b"; "c" ] 5
             (Train.fit cfg initial train None ignore).Model, train)

    let qatConfig = {
        Qat.defaultConfig with
            Epochs = 2
            BatchSize = 16
            Threads = 2
    }

open DistillGen

[<Tests>]
let tests =
    testList "DistillationTests" [
        testCase "Smoothing 0 and no teacher train exactly as the plain loss; the batch loss is the samples' mean"
        <| fun () ->
            let m = model 1
            let xs, ys = batch 2 4

            for path in [ Naive; Optimised ] do
                let plain = Train.gradients path m None xs ys
                let g, _ = Train.gradientsWith (config path) m xs ys
                Expect.equal g.Loss plain.Loss $"{path}: loss"
                Expect.equal g.Params plain.Params $"{path}: gradients"

                let e = 0.2
                let teacher = model 7
                let d = { Temperature = 3.0; Weight = 0.4 }

                let cfg = {
                    config path with
                        LabelSmoothing = e
                        Distill = Some(teacher, d)
                }

                let g, _ = Train.gradientsWith cfg m xs ys
                let z = Train.outputs path false m xs
                let t = Train.outputs path false teacher xs

                let expected =
                    Array.init xs.Length (fun i ->
                        let zi = z[i] |> Array.map float
                        let ti = t[i] |> Array.map float
                        fst (SoftmaxLoss.sample e (Some(d, ti)) zi ys[i]))
                    |> Array.average

                Expect.floatClose Accuracy.high g.Loss expected $"{path}: the mean of SoftmaxLoss.sample"

        testCase "Gradients with smoothing and a teacher match central differences of the loss, on both paths"
        <| fun () ->
            let m = model 3
            let teacher = model 4
            let xs, ys = batch 5 3

            for path in [ Naive; Optimised ] do
                let cfg = {
                    config path with
                        LabelSmoothing = 0.1
                        Distill = Some(teacher, { Temperature = 2.0; Weight = 0.5 })
                }

                let lossOf () =
                    (fst (Train.gradientsWith cfg m xs ys)).Loss

                let g, _ = Train.gradientsWith cfg m xs ys
                let rng = Random(9)

                for (li, name, grad) in g.Params do
                    let arr = GradCheck.paramArray m li name

                    for j in List.init 8 (fun _ -> rng.Next arr.Length) |> List.distinct do
                        let saved = arr[j]
                        let hi = saved + float32 GradCheck.eps
                        let lo = saved - float32 GradCheck.eps
                        arr[j] <- hi
                        let up = lossOf ()
                        arr[j] <- lo
                        let down = lossOf ()
                        arr[j] <- saved
                        let numeric = (up - down) / float (hi - lo)

                        Expect.isTrue
                            (GradCheck.close grad[j] numeric)
                            $"{path} layer {li} {name}[{j}]: analytic {grad[j]}, numeric {numeric}"

        testCase "A teacher equal to the student, at weight 1, gives zero loss and zero gradients"
        <| fun () ->
            let m = model 6
            let xs, ys = batch 8 4

            for path in [ Naive; Optimised ] do
                let cfg = {
                    config path with
                        Distill = Some(model 6, { Temperature = 4.0; Weight = 1.0 })
                }

                let g, _ = Train.gradientsWith cfg m xs ys
                Expect.equal g.Loss 0.0 $"{path}: loss"

                for _, name, grad in g.Params do
                    Expect.isTrue (grad |> Array.forall (fun v -> v = 0.0f)) $"{path}: {name} gradient"

        testCase "Weight 0 gives the plain gradients; a teacher of another shape is refused"
        <| fun () ->
            let m = model 1
            let xs, ys = batch 3 4
            let plain, _ = Train.gradientsWith (config Optimised) m xs ys

            let g, _ =
                Train.gradientsWith
                    {
                        config Optimised with
                            Distill = Some(model 2, { Temperature = 4.0; Weight = 0.0 })
                    }
                    m
                    xs
                    ys

            Expect.equal g.Loss plain.Loss "loss"
            Expect.equal g.Params plain.Params "gradients"

            let other = Architectures.defaultFor (Shape3(8, 8, 1)) [ "a"; "b"; "c" ] 1

            Expect.throwsT<ArgumentException>
                (fun () ->
                    Train.gradientsWith
                        {
                            config Optimised with
                                Distill = Some(other, SoftmaxLoss.defaultDistillation)
                        }
                        m
                        xs
                        ys
                    |> ignore)
                "a teacher with another input"

            Expect.throwsT<ArgumentException>
                (fun () ->
                    Train.gradientsWith
                        {
                            config Optimised with
                                LabelSmoothing = 1.0
                        }
                        m
                        xs
                        ys
                    |> ignore)
                "smoothing 1"

        testCase "QAT distils its FP32 model: weight 0 is plain QAT, weight 0.5 changes the weights, deterministically"
        <| fun () ->
            let model, train = trainedOnce.Force()

            let run cfg =
                Qat.trainTernary cfg model train None ignore

            let plain = run qatConfig

            let zero =
                run {
                    qatConfig with
                        Distill =
                            Some {
                                SoftmaxLoss.defaultDistillation with
                                    Weight = 0.0
                            }
                }

            Expect.equal (Generators.parameterArrays zero.Latent) (Generators.parameterArrays plain.Latent) "weight 0"

            let taught = {
                qatConfig with
                    Distill = Some SoftmaxLoss.defaultDistillation
            }

            let a = run taught
            let b = run { taught with Threads = 1 }

            Expect.notEqual
                (Generators.parameterArrays a.Latent)
                (Generators.parameterArrays plain.Latent)
                "the teacher is heard"

            Expect.equal
                (Generators.parameterArrays a.Latent)
                (Generators.parameterArrays b.Latent)
                "the same weights on 1 thread and on 2"

            let smoothed = run { qatConfig with LabelSmoothing = 0.1 }

            Expect.notEqual
                (Generators.parameterArrays smoothed.Latent)
                (Generators.parameterArrays plain.Latent)
                "smoothing reaches QAT"
    ]

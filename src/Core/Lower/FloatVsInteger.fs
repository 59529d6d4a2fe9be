namespace Tern.Core

open System
open Tern.Runtime

/// How far an integer model's logits are from its float parent's on the same inputs (the float-vs-integer figures
/// of ST's `stedgeai validate`).
type FloatVsIntegerFigures = {
    Samples: int
    /// Fraction of samples on which both give the same top-1 class.
    Top1Agreement: float
    /// L2 relative error ||int - float|| / ||float|| over every logit of every sample (NaN when the float logits
    /// are all zero and the integer ones are not).
    L2r: float
    /// Cosine similarity of the integer and float logits, every logit of every sample as one vector.
    Cosine: float
}

/// Float-vs-integer comparison of logits. Like stedgeai's, the L2r and the cosine are computed on the flattened
/// arrays (all logits of all samples at once), not averaged per sample; the integer logits are dequantized with
/// the output's scale and zero point first.
[<RequireQualifiedAccess>]
module FloatVsInteger =
    /// Metadata key of an integer model's float parent: the SHA-256 model hash of the float model `tern lower`
    /// lowered.
    let parentKey = "parent"

    /// The figures of integer logits (already dequantized) against float logits, sample by sample.
    let compare (floatLogits: float32[][]) (intLogits: float32[][]) : FloatVsIntegerFigures =
        if floatLogits.Length <> intLogits.Length then
            invalidArg "intLogits" $"{floatLogits.Length} float outputs but {intLogits.Length} integer ones"

        Array.iteri2
            (fun i (f: float32[]) (q: float32[]) ->
                if f.Length <> q.Length then
                    invalidArg "intLogits" $"sample {i}: {f.Length} float logits but {q.Length} integer ones")
            floatLogits
            intLogits

        let n = floatLogits.Length
        let mutable agree = 0
        let mutable ff = 0.0
        let mutable qq = 0.0
        let mutable fq = 0.0
        let mutable dd = 0.0

        for i in 0 .. n - 1 do
            let f = floatLogits[i]
            let q = intLogits[i]

            if Tensor.argmax f = Tensor.argmax q then
                agree <- agree + 1

            for k in 0 .. f.Length - 1 do
                let a = float f[k]
                let b = float q[k]
                ff <- ff + a * a
                qq <- qq + b * b
                fq <- fq + a * b
                dd <- dd + (b - a) * (b - a)

        {
            Samples = n
            Top1Agreement = (if n = 0 then 0.0 else float agree / float n)
            L2r =
                (if ff > 0.0 then sqrt dd / sqrt ff
                 elif dd = 0.0 then 0.0
                 else nan)
            Cosine =
                (if ff > 0.0 && qq > 0.0 then fq / (sqrt ff * sqrt qq)
                 elif ff = 0.0 && qq = 0.0 then 1.0
                 else 0.0)
        }

    /// The float parent's logits (Forward.run) on the float inputs.
    let floatLogits (parent: Model) (samples: float32[][]) : float32[][] =
        samples
        |> Array.Parallel.map (fun x -> (Forward.run parent (Tensor.ofArray parent.Input x)).Data)

    /// The figures of an integer model's int8 outputs (any runtime's, e.g. the device's) against its float parent
    /// on the same float inputs.
    let ofOutputs (parent: Model) (integer: IntModel) (samples: float32[][]) (outputs: sbyte[][]) =
        let p = Lower.outputParams integer
        compare (floatLogits parent samples) (outputs |> Array.map (Lower.dequantize p))

    /// Why a float model cannot be the parent of an integer model: input or classes differ, or the integer model
    /// records another parent (its `parent` hash). Ok when it can.
    let checkParent (parent: Model) (parentHash: string) (integer: IntModel) : Result<unit, string> =
        match integer.Metadata.TryGetValue parentKey with
        | true, h when not (String.Equals(h, parentHash, StringComparison.OrdinalIgnoreCase)) ->
            Error $"the integer model was lowered from the model with hash {h}, not from this one ({parentHash})"
        | _ when parent.Input <> integer.Input ->
            Error $"its input is {parent.Input}, the integer model's {integer.Input}"
        | _ when parent.Classes <> List.ofArray integer.ClassNames ->
            let a = String.Join(",", parent.Classes)
            let b = String.Join(",", integer.ClassNames)
            Error $"its classes ({a}) differ from the integer model's ({b})"
        | _ -> Ok()

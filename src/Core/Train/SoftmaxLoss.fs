namespace Tern.Core

open System

/// How a student learns from a teacher's logits (Hinton, Vinyals and Dean 2015): the loss of a sample is
/// (1 - Weight) * CE(labels) + Weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)), T = Temperature.
/// The T^2 keeps the soft term's gradient on the scale of the hard one's as T grows.
type Distillation = { Temperature: float; Weight: float }

/// The training loss of one sample from its logits: softmax cross-entropy against the label smoothed by e (targets
/// (1 - e) one-hot + e / K), optionally blended with distillation from a teacher's logits. Each function returns the
/// loss and its gradient with respect to the logits.
[<RequireQualifiedAccess>]
module SoftmaxLoss =

    /// T = 4 and an even blend (a = 0.5), the usual choice. Measured on sp-sw-har spectrograms (leave one subject
    /// out, QAT of the default CNN): mean per-subject ternary macro-F1 0.709 with it against 0.717 without (better on
    /// 8 of 23 subjects), so QAT leaves distillation off by default (Qat.defaultConfig).
    let defaultDistillation: Distillation = { Temperature = 4.0; Weight = 0.5 }

    /// Rejects a smoothing outside [0, 1) and a distillation with T <= 0 or a weight outside [0, 1] (ArgumentException).
    let check (smoothing: float) (distill: Distillation option) : unit =
        if not (smoothing >= 0.0 && smoothing < 1.0) then
            invalidArg "smoothing" $"label smoothing must lie in [0, 1), got {smoothing}"

        distill
        |> Option.iter (fun d ->
            if not (d.Temperature > 0.0 && Double.IsFinite d.Temperature) then
                invalidArg "distill" $"distillation temperature must be positive, got {d.Temperature}"

            if not (d.Weight >= 0.0 && d.Weight <= 1.0) then
                invalidArg "distill" $"distillation weight must lie in [0, 1], got {d.Weight}")

    /// Cross-entropy -sum_j y_j log p_j with p = softmax(z), y the smoothed target, and its gradient p - y. With
    /// smoothing 0 it is exactly the plain loss max z + log sum exp(z - max z) - z_label.
    let crossEntropy (smoothing: float) (z: float[]) (label: int) : float * float[] =
        let k = z.Length
        let mutable mx = z[0]

        for j in 1 .. k - 1 do
            if z[j] > mx then
                mx <- z[j]

        let probs = z |> Array.map (fun v -> exp (v - mx))
        let mutable sum = 0.0

        for p in probs do
            sum <- sum + p

        let off = smoothing / float k

        // Sum_j y_j z_j; the plain branch keeps smoothing 0 bit-identical to the unsmoothed loss.
        let targetLogit =
            if smoothing = 0.0 then
                z[label]
            else
                (1.0 - smoothing) * z[label] + off * Array.sum z

        let grad =
            Array.init k (fun j ->
                let target = (if j = label then 1.0 - smoothing else 0.0) + off
                probs[j] / sum - target)

        mx + log sum - targetLogit, grad

    // log softmax(v / T), computed as v / T - logsumexp(v / T).
    let private logSoftmax (temperature: float) (v: float[]) : float[] =
        let s = v |> Array.map (fun x -> x / temperature)
        let mx = Array.max s
        let lse = mx + log (s |> Array.sumBy (fun x -> exp (x - mx)))
        s |> Array.map (fun x -> x - lse)

    /// T^2 * KL(q || p) with q = softmax(teacher / T), p = softmax(z / T), and its gradient T * (p - q) with respect
    /// to z. Zero (loss and gradient) when the teacher's logits are the student's.
    let distillation (temperature: float) (z: float[]) (teacher: float[]) : float * float[] =
        let logP = logSoftmax temperature z
        let logQ = logSoftmax temperature teacher
        let mutable kl = 0.0

        for j in 0 .. z.Length - 1 do
            // A q_j that underflowed to 0 adds nothing (its log stays finite here).
            kl <- kl + exp logQ[j] * (logQ[j] - logP[j])

        let t2 = temperature * temperature
        t2 * kl, Array.init z.Length (fun j -> temperature * (exp logP[j] - exp logQ[j]))

    /// The loss of one sample: the smoothed cross-entropy alone, or blended with distillation from the teacher's
    /// logits as (1 - a) CE + a T^2 KL (gradient (1 - a)(p - y) + a T (p^T - q^T)).
    let sample
        (smoothing: float)
        (distill: (Distillation * float[]) option)
        (z: float[])
        (label: int)
        : float * float[] =
        let ce, g = crossEntropy smoothing z label

        match distill with
        | None -> ce, g
        | Some(d, teacher) ->
            let kd, gk = distillation d.Temperature z teacher
            let a = d.Weight
            (1.0 - a) * ce + a * kd, Array.map2 (fun h s -> (1.0 - a) * h + a * s) g gk

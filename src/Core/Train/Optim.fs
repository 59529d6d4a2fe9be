namespace Tern.Core

open System

/// An optimiser with its base learning rate.
type Optimizer =
    /// SGD with momentum (PyTorch form: buf = momentum * buf + g; Nesterov uses g + momentum * buf).
    | Sgd of rate: float * momentum: float * nesterov: bool
    /// Adam (Kingma and Ba, with bias correction); weight decay is added to the gradient (L2), not decoupled.
    | Adam of rate: float * beta1: float * beta2: float * eps: float

/// A learning-rate schedule; the rate is fixed within an epoch.
type Schedule =
    /// The base rate throughout.
    | Constant
    /// The base rate times gamma^(epoch / every).
    | StepDecay of every: int * gamma: float
    /// Linear warm-up over the first warmup epochs (rate * (e + 1) / warmup), then a cosine from the base rate
    /// towards zero over the remaining epochs.
    | Cosine of warmup: int

/// Mutable optimiser state of one parameter array (momentum, or Adam's two moments) and its step count.
type ParamState = {
    First: float32[]
    Second: float32[]
    mutable Steps: int
}

[<RequireQualifiedAccess>]
module Schedule =
    /// Learning rate of a 0-based epoch out of epochs, for the given base rate.
    let rate (schedule: Schedule) (baseRate: float) (epochs: int) (epoch: int) : float =
        match schedule with
        | Constant -> baseRate
        | StepDecay(every, gamma) -> baseRate * Math.Pow(gamma, float (epoch / max 1 every))
        | Cosine warmup ->
            if epoch < warmup then
                baseRate * float (epoch + 1) / float warmup
            else
                let span = max 1 (epochs - warmup)
                baseRate * 0.5 * (1.0 + cos (Math.PI * float (epoch - warmup) / float span))

[<RequireQualifiedAccess>]
module Optim =
    /// The optimiser's base learning rate.
    let baseRate (o: Optimizer) : float =
        match o with
        | Sgd(rate, _, _)
        | Adam(rate, _, _, _) -> rate

    /// Fresh state for a parameter array of n values.
    let newState (n: int) : ParamState = {
        First = Array.zeroCreate n
        Second = Array.zeroCreate n
        Steps = 0
    }

    /// One update of values (in place) from grad at the given rate. decay is the L2 coefficient added to the
    /// gradient (callers pass 0 for biases and BatchNorm parameters). Where keep is false the value, its state
    /// and so all later updates stay at zero (pruned weights).
    let update
        (o: Optimizer)
        (rate: float)
        (decay: float)
        (keep: bool[] option)
        (state: ParamState)
        (values: float32[])
        (grad: float32[])
        : unit =
        state.Steps <- state.Steps + 1

        let kept i =
            match keep with
            | Some k -> k[i]
            | None -> true

        match o with
        | Sgd(_, momentum, nesterov) ->
            for i in 0 .. values.Length - 1 do
                if kept i then
                    let g = float grad[i] + decay * float values[i]
                    let buf = momentum * float state.First[i] + g
                    state.First[i] <- float32 buf
                    let step = if nesterov then g + momentum * buf else buf
                    values[i] <- float32 (float values[i] - rate * step)
                else
                    values[i] <- 0.0f
        | Adam(_, b1, b2, eps) ->
            let c1 = 1.0 - Math.Pow(b1, float state.Steps)
            let c2 = 1.0 - Math.Pow(b2, float state.Steps)

            for i in 0 .. values.Length - 1 do
                if kept i then
                    let g = float grad[i] + decay * float values[i]
                    let m = b1 * float state.First[i] + (1.0 - b1) * g
                    let v = b2 * float state.Second[i] + (1.0 - b2) * g * g
                    state.First[i] <- float32 m
                    state.Second[i] <- float32 v
                    values[i] <- float32 (float values[i] - rate * (m / c1) / (sqrt (v / c2) + eps))
                else
                    values[i] <- 0.0f

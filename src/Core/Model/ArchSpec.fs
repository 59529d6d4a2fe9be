namespace Tern.Core

open System

/// How the stages of a parametric architecture are built.
type ArchFamily =
    /// Every stage a strided k x k convolution (BN, ReLU).
    | PlainStages
    /// Every stage a depthwise-separable block: strided depthwise k x k, BN, ReLU, pointwise, BN, ReLU.
    | SeparableStages
    /// A separable stage followed by a residual separable block at the same resolution (depthwise k x k, BN, ReLU,
    /// pointwise, BN, added to the block's input).
    | ResidualStages

/// How the last feature map reaches the dense classifier.
type ArchHead =
    /// Global average pooling: few weights, blind to where in the window a feature sits.
    | GapHead
    /// Flattening: the dense layer sees every position of the last map.
    | FlattenHead

/// A point of the architecture space `--arch auto` searches: a stem convolution (stride 2, first width) and one
/// stage per further width, each halving every side of at least 4. Kernels are k x k on spectrograms and 1 x k on
/// raw 1 x W windows. Its name, e.g. "sep-16-32-32-k5-gap", is accepted wherever an architecture name is.
type ArchSpec = {
    Family: ArchFamily
    /// Channels of the stem and of each stage, at least one.
    Widths: int list
    /// Kernel side (odd).
    Kernel: int
    Head: ArchHead
}

[<RequireQualifiedAccess>]
module ArchSpec =

    let private familyNames = [ PlainStages, "plain"; SeparableStages, "sep"; ResidualStages, "res" ]

    let private headNames = [ GapHead, "gap"; FlattenHead, "flat" ]

    /// The spec's name: family, widths, kernel and head joined by '-', e.g. "res-16-24-32-k3-flat".
    let name (spec: ArchSpec) : string =
        let family = familyNames |> List.find (fst >> (=) spec.Family) |> snd
        let head = headNames |> List.find (fst >> (=) spec.Head) |> snd

        String.Join("-", [ family ] @ (spec.Widths |> List.map string) @ [ $"k{spec.Kernel}"; head ])

    /// Parses a name made by `name`; Error says what is wrong, None when the text is not of this form at all (an
    /// architecture name of another kind).
    let tryParse (text: string) : Result<ArchSpec, string> option =
        let parts = text.Trim().ToLowerInvariant().Split '-'

        match familyNames |> List.tryFind (snd >> (=) parts[0]) with
        | _ when parts.Length = 1 -> None // "plain" alone is the fixed architecture of that name
        | None -> None
        | Some(family, _) when parts.Length < 4 ->
            Some(
                Error
                    $"architecture '{text}': expected {parts[0]}-WIDTH[-WIDTH...]-kK-HEAD, e.g. {parts[0]}-16-32-k3-gap"
            )
        | Some(family, _) ->
            let widthParts = parts[1 .. parts.Length - 3]
            let kernelPart = parts[parts.Length - 2]
            let headPart = parts[parts.Length - 1]

            let widths =
                widthParts
                |> Array.map (fun p ->
                    match Int32.TryParse p with
                    | true, w when w >= 1 && w <= 512 -> Ok w
                    | _ -> Error $"architecture '{text}': width '{p}' is not a whole number in 1..512")

            let kernel =
                match kernelPart.StartsWith "k", Int32.TryParse(kernelPart.Substring 1) with
                | true, (true, k) when k >= 1 && k <= 15 && k % 2 = 1 -> Ok k
                | _ -> Error $"architecture '{text}': kernel '{kernelPart}' is not k1, k3, ... k15"

            let head =
                match headNames |> List.tryFind (snd >> (=) headPart) with
                | Some(h, _) -> Ok h
                | None -> Error $"architecture '{text}': head '{headPart}' is not gap or flat"

            match
                widths
                |> Array.tryPick (function
                    | Error e -> Some e
                    | Ok _ -> None),
                kernel,
                head
            with
            | Some e, _, _ -> Some(Error e)
            | None, Error e, _
            | None, _, Error e -> Some(Error e)
            | None, Ok k, Ok h ->
                Some(
                    Ok {
                        Family = family
                        Widths =
                            widths
                            |> Array.map (function
                                | Ok w -> w
                                | Error _ -> 0)
                            |> List.ofArray
                        Kernel = k
                        Head = h
                    }
                )

namespace Tern.Core

[<RequireQualifiedAccess>]
module ActivationGrid =
    let ofRange (lo: float) (hi: float) : QParams = Quantize.affine 8 Asymmetric lo hi

    let fusedActivation (layers: Layer[]) (i: int) : Layer option =
        if i + 1 < layers.Length then
            let startsBlock =
                layers
                |> Array.indexed
                |> Array.exists (fun (j, l) ->
                    match l with
                    | ResidualAdd span -> j - span = i + 1
                    | _ -> false)

            match layers[i + 1] with
            | ReLU
            | ReLU6 when not startsBlock -> Some layers[i + 1]
            | _ -> None
        else
            None

    let ofModel (model: Model) : Map<int, int> =
        let layers = (Fold.batchNorm model).Layers |> List.toArray
        let mutable grids = Map [ 0, 0 ]
        let mutable current = 0
        let mutable i = 0

        while i < layers.Length do
            let consumed = if (fusedActivation layers i).IsSome then 2 else 1
            let outIndex = i + consumed

            match layers[i] with
            | Conv2d _
            | DepthwiseConv2d _
            | Pointwise _
            | Dense _ ->
                grids <- grids.Add(outIndex, outIndex)
                current <- outIndex
            | ResidualAdd _ ->
                // The sum needs its own range (it is wider than either term).
                grids <- grids.Add(outIndex, outIndex)
                current <- outIndex
            | MaxPool _
            | AvgPool _
            | GlobalAvgPool -> grids <- grids.Add(outIndex, current)
            | _ -> ()

            i <- i + consumed

        grids

    let ownRanges (model: Model) : Set<int> =
        ofModel model
        |> Seq.choose (fun kv -> if kv.Key = kv.Value then Some kv.Key else None)
        |> Set.ofSeq

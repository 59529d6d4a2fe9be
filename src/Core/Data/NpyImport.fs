namespace Tern.Core

open System
open Tern.Runtime

/// How the dimensions of a sample array are ordered.
type NpyLayout =
    /// (N, C, H, W), or (N, C, W) for 1-D signals: PyTorch's Conv2d / Conv1d order.
    | Nchw
    /// (N, H, W, C), or (N, W, C) for 1-D signals: TensorFlow / Keras order.
    | Nhwc

/// NumPy arrays -> Tern samples (HWC float32), labels and subjects.
///
/// Samples: rank 4 is (N, C, H, W) with Nchw or (N, H, W, C) with Nhwc; rank 3 is a 1-D signal, (N, C, W) with
/// Nchw (as PyTorch's Conv1d holds it) or (N, W, C) with Nhwc, and becomes H = 1 (Tern's 1 x W x C form).
/// float32, float64, int16 and uint8 are taken as they are (no scaling); NaN and infinities are refused.
/// Labels: integer class indices (any integer type) or strings naming the classes. Subjects: whole numbers
/// 0..65535 (the ids) or strings (names; ids index them in ordinal order).
[<RequireQualifiedAccess>]
module NpyImport =
    /// Sample element types accepted.
    let sampleTypes: string list = [ "float32"; "float64"; "int16"; "uint8" ]

    /// Parses "nchw" or "nhwc".
    let parseLayout (text: string) : Result<NpyLayout, string> =
        match text.ToLowerInvariant() with
        | "nchw" -> Ok Nchw
        | "nhwc" -> Ok Nhwc
        | _ -> Error $"layout '{text}': expected nchw or nhwc"

    /// "nchw" or "nhwc".
    let layoutName (l: NpyLayout) : string =
        match l with
        | Nchw -> "nchw"
        | Nhwc -> "nhwc"

    /// The HWC shape of one sample of an array of the given shape and layout, or why there is none.
    let sampleShape (layout: NpyLayout) (shape: int[]) : Result<Shape3, string> =
        match layout, shape with
        | Nchw, [| _; c; h; w |]
        | Nhwc, [| _; h; w; c |] -> Ok(Shape3(h, w, c))
        | Nchw, [| _; c; w |]
        | Nhwc, [| _; w; c |] -> Ok(Shape3(1, w, c))
        | _ ->
            let expected =
                match layout with
                | Nchw -> "(N, C, H, W), or (N, C, W) for 1-D signals"
                | Nhwc -> "(N, H, W, C), or (N, W, C) for 1-D signals"

            Error $"rank {shape.Length}, shape {Npy.shapeText shape}; samples must be {expected} ({layoutName layout})"

    /// The samples of x in HWC float32, with their shape; errors name the array and the sample.
    let samples (layout: NpyLayout) (x: NpyArray) : Result<Shape3 * float32[][], string> =
        if not (List.contains x.DType sampleTypes) then
            let allowed = String.Join(", ", sampleTypes)
            Error $"{x.Name}: dtype {x.DType}; samples must be one of {allowed}"
        else
            match sampleShape layout x.Shape with
            | Error e -> Error $"{x.Name}: {e}"
            | Ok _ when x.Shape[0] = 0 -> Error $"{x.Name}: shape {Npy.shapeText x.Shape} holds no samples"
            | Ok s when s.Size = 0 -> Error $"{x.Name}: shape {Npy.shapeText x.Shape} has an empty dimension"
            | Ok shape ->
                let n = x.Shape[0]
                let size = shape.Size

                let value: int -> float =
                    match x.Values with
                    | Float32s v -> fun i -> float v[i]
                    | Float64s v -> fun i -> v[i]
                    | Integers v -> fun i -> float v[i]
                    | Strings _ -> fun _ -> nan

                // Source offset of (h, w, c) within one sample, in the array's own order.
                let offset =
                    match layout with
                    | Nchw -> fun h w c -> (c * shape.H + h) * shape.W + w
                    | Nhwc -> fun h w c -> (h * shape.W + w) * shape.C + c

                let out = Array.init n (fun _ -> Array.zeroCreate<float32> size)
                let mutable problem = None
                let mutable i = 0

                while problem.IsNone && i < n do
                    let dst = out[i]
                    let mutable k = 0

                    for h in 0 .. shape.H - 1 do
                        for w in 0 .. shape.W - 1 do
                            for c in 0 .. shape.C - 1 do
                                let v = value (i * size + offset h w c)
                                let f = float32 v

                                if problem.IsNone && not (Single.IsFinite f) then
                                    let where =
                                        match layout, shape.H with
                                        | Nchw, 1 when x.Shape.Length = 3 -> $"[{i}, {c}, {w}]"
                                        | Nchw, _ -> $"[{i}, {c}, {h}, {w}]"
                                        | Nhwc, 1 when x.Shape.Length = 3 -> $"[{i}, {w}, {c}]"
                                        | Nhwc, _ -> $"[{i}, {h}, {w}, {c}]"

                                    let what =
                                        if Double.IsNaN v then "NaN"
                                        elif Double.IsInfinity v then "an infinity"
                                        else $"{v:R}, outside float32's range,"

                                    problem <- Some $"{x.Name}: sample {i} holds {what} at {where}"

                                dst[k] <- f
                                k <- k + 1

                    i <- i + 1

                match problem with
                | Some p -> Error p
                | None -> Ok(shape, out)

    /// A rank-1 array of n entries (or n x 1), or why it is not one.
    let private column (a: NpyArray) (what: string) (n: int) (xName: string) : Result<unit, string> =
        match a.Shape with
        | [| m |]
        | [| m; 1 |] when m = n -> Ok()
        | [| m |]
        | [| m; 1 |] -> Error $"{xName} holds {n} samples but {a.Name} holds {m} {what}"
        | s -> Error $"{a.Name}: shape {Npy.shapeText s}; {what} must be one value per sample, shape (N,)"

    // The distinct names in ordinal order: string labels' default classes, string subjects' table.
    let private ordinalDistinct (names: string[]) : string[] =
        names
        |> Array.distinct
        |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b))

    /// Class indices and class names from a label array (n labels). Integer labels index the classes (default
    /// names class0..class(K-1), K = largest label + 1); string labels are names (default classes: the sorted
    /// distinct labels). Given classes fix the list; a label outside it is an error naming the sample.
    let labels
        (y: NpyArray)
        (n: int)
        (xName: string)
        (classes: string list option)
        : Result<int[] * string list, string> =
        match column y "labels" n xName with
        | Error e -> Error e
        | Ok() ->
            let given = classes |> Option.map (fun cs -> String.Join(",", cs))

            match y.Values with
            | Integers v ->
                // Without --classes the classes are 0..largest label, at most a data set's 256.
                let k =
                    match classes with
                    | Some cs -> cs.Length
                    | None ->
                        if v.Length = 0 then
                            0
                        else
                            int (min (Array.max v + 1L) 256L)

                match v |> Array.tryFindIndex (fun l -> l < 0L || l >= int64 k), given with
                | Some i, _ when v[i] < 0L -> Error $"{y.Name}: sample {i} has label {v[i]}; class indices start at 0"
                | Some i, Some g ->
                    Error $"{y.Name}: sample {i} has label {v[i]}, but --classes names {k} classes ({g})"
                | Some i, None -> Error $"{y.Name}: sample {i} has label {v[i]}; a data set holds at most 256 classes"
                | None, _ ->
                    let names =
                        classes |> Option.defaultWith (fun () -> List.init k (fun c -> $"class{c}"))

                    Ok(v |> Array.map int, names)
            | Strings s ->
                match s |> Array.tryFindIndex String.IsNullOrEmpty with
                | Some i -> Error $"{y.Name}: sample {i} has an empty label"
                | None ->
                    let names =
                        classes |> Option.defaultWith (fun () -> ordinalDistinct s |> List.ofArray)

                    let index = names |> List.mapi (fun i c -> c, i) |> dict

                    match s |> Array.tryFindIndex (fun l -> not (index.ContainsKey l)) with
                    | Some i ->
                        Error
                            $"{y.Name}: sample {i} has label '{s[i]}', which --classes does not name ({defaultArg given String.Empty})"
                    | None -> Ok(s |> Array.map (fun l -> index[l]), names)
            | Float32s _
            | Float64s _ ->
                Error $"{y.Name}: dtype {y.DType}; labels must be integer class indices or strings (class names)"

    /// Subject ids and names from a subject array (n entries): whole numbers 0..65535 are ids (no names);
    /// strings are names, and ids index them in ordinal order.
    let subjects (s: NpyArray) (n: int) (xName: string) : Result<int[] * string list, string> =
        match column s "subject ids" n xName with
        | Error e -> Error e
        | Ok() ->
            match s.Values with
            | Integers v ->
                match v |> Array.tryFindIndex (fun x -> x < 0L || x > 65535L) with
                | Some i ->
                    Error
                        $"{s.Name}: sample {i} has subject id {v[i]} outside 0..65535 (give subjects as strings to name them freely)"
                | None -> Ok(v |> Array.map int, [])
            | Strings names ->
                match names |> Array.tryFindIndex String.IsNullOrEmpty with
                | Some i -> Error $"{s.Name}: sample {i} has an empty subject name"
                | None ->
                    let table = ordinalDistinct names

                    if table.Length > 65536 then
                        Error $"{s.Name}: {table.Length} distinct subjects; a data set holds at most 65536"
                    else
                        let index = table |> Array.mapi (fun i c -> c, i) |> dict
                        Ok(names |> Array.map (fun x -> index[x]), List.ofArray table)
            | Float32s _
            | Float64s _ -> Error $"{s.Name}: dtype {s.DType}; subjects must be whole numbers or strings"

    /// A data set from sample, label and (optional) subject arrays; without subjects every sample is subject 0.
    let dataset
        (layout: NpyLayout)
        (classes: string list option)
        (x: NpyArray)
        (y: NpyArray)
        (subjectArray: NpyArray option)
        : Result<Dataset, string> =
        let describe (a: NpyArray) =
            $"{IO.Path.GetFileName a.Name} ({a.DType}, shape {Npy.shapeText a.Shape})"

        match classes with
        | Some cs when cs.IsEmpty -> Error "--classes names no class"
        | Some cs when (List.distinct cs).Length <> cs.Length -> Error "--classes names a class twice"
        | Some cs when cs |> List.exists String.IsNullOrWhiteSpace -> Error "--classes holds an empty name"
        | _ ->
            match samples layout x with
            | Error e -> Error e
            | Ok(shape, xs) ->
                let n = xs.Length

                match labels y n x.Name classes with
                | Error e -> Error e
                | Ok(_, names) when names.Length > 256 ->
                    Error $"{y.Name}: {names.Length} classes; a data set holds at most 256"
                | Ok(ys, names) ->
                    let subjectResult =
                        match subjectArray with
                        | None -> Ok(Array.zeroCreate n, [])
                        | Some s -> subjects s n x.Name

                    match subjectResult with
                    | Error e -> Error e
                    | Ok(ids, subjectNames) ->
                        let parts = [
                            $"samples {describe x} read as {layoutName layout}"
                            $"labels {describe y}"
                            match subjectArray with
                            | Some s -> $"subjects {describe s}"
                            | None -> "no subjects (all 0)"
                        ]

                        let source =
                            "NumPy arrays: "
                            + String.Join("; ", parts)
                            + "; values as stored, converted to float32."

                        let d = {
                            Shape = shape
                            Classes = names
                            Samples = xs
                            Labels = ys
                            Subjects = ids
                            SubjectNames = subjectNames
                            Source = source
                            Augment = NoAugmentation
                        }

                        Dataset.validate d |> Result.map (fun () -> d)

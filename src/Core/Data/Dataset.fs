namespace Tern.Core

open System
open System.IO
open System.Text.Json
open System.Buffers.Binary
open System.Security.Cryptography
open Tern.Runtime

type Dataset = {
    Shape: Shape3
    Classes: string list
    Samples: float32[][]
    Labels: int[]
    Subjects: int[]
    SubjectNames: string list
    Source: string
    Augment: Augmentation
}

[<RequireQualifiedAccess>]
module Dataset =
    let private formatName = "tern-dataset"
    let private version = 1

    let pick (idx: int[]) (d: Dataset) : float32[][] * int[] =
        idx |> Array.map (fun i -> d.Samples[i]), idx |> Array.map (fun i -> d.Labels[i])

    let subjectName (d: Dataset) (id: int) : string =
        if d.SubjectNames.IsEmpty then
            string id
        else
            d.SubjectNames[id]

    let validate (d: Dataset) : Result<unit, string> =
        let n = d.Samples.Length

        if d.Shape.H < 1 || d.Shape.W < 1 || d.Shape.C < 1 then
            Error $"shape {d.Shape} is empty"
        elif d.Shape.SizeInt64 * 4L > int64 Array.MaxLength then
            Error $"shape {d.Shape} takes {d.Shape.SizeInt64 * 4L} bytes a sample, more than an array can hold"
        elif d.Classes.IsEmpty then
            Error "no classes"
        elif d.Labels.Length <> n || d.Subjects.Length <> n then
            Error $"{n} samples but {d.Labels.Length} labels and {d.Subjects.Length} subject ids"
        else
            match d.Samples |> Array.tryFindIndex (fun s -> s.Length <> d.Shape.Size) with
            | Some i -> Error $"sample {i} has {d.Samples[i].Length} values, expected {d.Shape.Size} ({d.Shape})"
            | None ->
                match d.Labels |> Array.tryFindIndex (fun l -> l < 0 || l >= d.Classes.Length) with
                | Some i -> Error $"sample {i} has label {d.Labels[i]}, but there are {d.Classes.Length} classes"
                | None ->
                    let names = d.SubjectNames.Length

                    match d.Subjects |> Array.tryFindIndex (fun s -> s < 0 || s > 65535) with
                    | Some i -> Error $"sample {i} has subject id {d.Subjects[i]} outside 0..65535"
                    | None when names > 65536 -> Error $"{names} subject names; a data set holds at most 65536"
                    | None when d.SubjectNames |> List.exists String.IsNullOrEmpty -> Error "an empty subject name"
                    | None when (List.distinct d.SubjectNames).Length <> names -> Error "subject names must be distinct"
                    | None when names > 0 && d.Subjects |> Array.exists (fun s -> s >= names) ->
                        let i = d.Subjects |> Array.findIndex (fun s -> s >= names)
                        Error $"sample {i} has subject id {d.Subjects[i]}, but there are {names} subject names"
                    | None ->
                        match
                            d.Samples
                            |> Array.tryFindIndex (Array.exists (fun v -> not (Single.IsFinite v)))
                        with
                        | Some i -> Error $"sample {i} holds a value that is not a finite number"
                        | None -> Augment.fits d.Augment d.Shape |> Result.mapError (fun e -> $"augment: {e}")

    let fingerprint (d: Dataset) : string =
        use h = IncrementalHash.CreateHash HashAlgorithmName.SHA256
        let word = Array.zeroCreate<byte> 4

        let int32 (v: int) =
            BinaryPrimitives.WriteInt32LittleEndian(Span word, v)
            h.AppendData word

        let text (s: string) =
            let b = Text.Encoding.UTF8.GetBytes s
            int32 b.Length
            h.AppendData b

        h.AppendData(Text.Encoding.UTF8.GetBytes "tern-dataset-fingerprint 1")
        int32 d.Shape.H
        int32 d.Shape.W
        int32 d.Shape.C
        int32 d.Classes.Length
        List.iter text d.Classes
        int32 d.Samples.Length
        let values = Array.zeroCreate<byte>(d.Shape.Size * 4)

        for i in 0 .. d.Samples.Length - 1 do
            let s = d.Samples[i]

            for k in 0 .. s.Length - 1 do
                BinaryPrimitives.WriteSingleLittleEndian(Span(values, 4 * k, 4), s[k])

            h.AppendData(values, 0, 4 * s.Length)
            int32 d.Labels[i]
            text (subjectName d d.Subjects[i])

        Convert.ToHexString(h.GetHashAndReset()).ToLowerInvariant()


    let save (dir: string) (d: Dataset) : unit =
        match validate d with
        | Error e -> invalidArg "d" e
        | Ok() ->
            Directory.CreateDirectory dir |> ignore
            let meta = Path.Combine(dir, "dataset.json")

            if File.Exists meta then
                File.Delete meta

            let total = int64 d.Samples.Length * d.Shape.SizeInt64 * 4L

            if total > int64 Array.MaxLength then
                invalidArg
                    "d"
                    $"{d.Samples.Length} samples of {d.Shape} take {total} bytes, more than a data set can hold"

            let samples = Array.zeroCreate<byte>(int total)

            d.Samples
            |> Array.iteri (fun i s -> Buffer.BlockCopy(s, 0, samples, i * d.Shape.Size * 4, s.Length * 4))

            if not BitConverter.IsLittleEndian then
                failwith "data sets are little-endian; this machine is not"

            AtomicFile.writeBytes (Path.Combine(dir, "samples.f32")) samples
            AtomicFile.writeBytes (Path.Combine(dir, "labels.u8")) (d.Labels |> Array.map byte)

            AtomicFile.writeBytes
                (Path.Combine(dir, "subjects.u16"))
                (d.Subjects |> Array.collect (fun s -> [| byte s; byte (s >>> 8) |]))

            let json =
                JsonSerializer.Serialize(
                    {|
                        format = formatName
                        version = version
                        shape = [| d.Shape.H; d.Shape.W; d.Shape.C |]
                        count = d.Samples.Length
                        classes = d.Classes
                        source = d.Source
                        augment = Augment.name d.Augment
                        // Absent (null, not written) when subjects are plain ids, so such folders stay as before.
                        subject_names =
                            if d.SubjectNames.IsEmpty then
                                null
                            else
                                List.toArray d.SubjectNames
                    |},
                    JsonSerializerOptions(
                        WriteIndented = true,
                        DefaultIgnoreCondition = Serialization.JsonIgnoreCondition.WhenWritingNull
                    )
                )

            AtomicFile.writeBytes meta (Text.Encoding.UTF8.GetBytes json)

    let load (dir: string) : Result<Dataset, string> =
        let meta = Path.Combine(dir, "dataset.json")

        try
            if not (Directory.Exists dir) then
                Error $"{dir}: no such folder"
            elif not (File.Exists meta) then
                Error $"{dir}: not a Tern data set (no dataset.json)"
            else
                use doc = JsonDocument.Parse(File.ReadAllText meta)
                let root = doc.RootElement

                let field (name: string) =
                    match root.TryGetProperty name with
                    | true, v -> v
                    | _ -> failwith $"{meta}: missing field '{name}'"

                if (field "format").GetString() <> formatName then
                    failwith $"{meta}: not a Tern data set (format is not '{formatName}')"

                let v = (field "version").GetInt32()

                if v <> version then
                    failwith $"{meta}: unsupported data set version {v} (this build reads version {version})"

                let dims = [| for x in (field "shape").EnumerateArray() -> x.GetInt32() |]

                if dims.Length <> 3 || dims |> Array.exists (fun d -> d < 1) then
                    failwith $"{meta}: shape must be three positive numbers [H, W, C]"

                let shape = Shape3(dims[0], dims[1], dims[2])
                let count = (field "count").GetInt32()

                // In 64 bits: a shape of [4096, 262145, 1] once wrapped to 16384 bytes a sample and passed the size
                // check. samples.f32 is read whole, so it too must fit in an array.
                let sampleBytes = shape.SizeInt64 * 4L

                if count < 0 then
                    failwith $"{meta}: count {count} is negative"

                if sampleBytes * int64 count > int64 Array.MaxLength then
                    failwith
                        $"{meta}: {count} samples of shape [{dims[0]}, {dims[1]}, {dims[2]}] take {sampleBytes * int64 count} bytes, more than the {Array.MaxLength} a data set can hold"

                let classes = [ for x in (field "classes").EnumerateArray() -> x.GetString() ]

                let source =
                    match root.TryGetProperty "source" with
                    | true, s -> s.GetString()
                    | _ -> ""

                // Data sets written before the field existed declare no augmentation.
                let augment =
                    match root.TryGetProperty "augment" with
                    | true, a ->
                        match Augment.parse (a.GetString()) with
                        | Ok x -> x
                        | Error e -> failwith $"{meta}: augment: {e}"
                    | _ -> NoAugmentation

                // Folders whose subjects are plain ids have no name table.
                let subjectNames =
                    match root.TryGetProperty "subject_names" with
                    | true, a -> [ for x in a.EnumerateArray() -> x.GetString() ]
                    | _ -> []

                let read (name: string) (bytesPer: int64) =
                    let path = Path.Combine(dir, name)

                    if not (File.Exists path) then
                        failwith $"{path}: missing"

                    let expected = int64 count * bytesPer
                    let actual = FileInfo(path).Length

                    if actual <> expected then
                        failwith
                            $"{path}: {actual} bytes, expected {expected} for {count} samples (truncated or foreign)"

                    File.ReadAllBytes path

                let raw = read "samples.f32" sampleBytes
                let labels = read "labels.u8" 1L |> Array.map int

                let subjects =
                    read "subjects.u16" 2L
                    |> Array.chunkBySize 2
                    |> Array.map (fun b -> int b[0] ||| (int b[1] <<< 8))

                let samples =
                    Array.init count (fun i ->
                        let s = Array.zeroCreate<float32> shape.Size
                        Buffer.BlockCopy(raw, i * shape.Size * 4, s, 0, shape.Size * 4)
                        s)

                let d = {
                    Shape = shape
                    Classes = classes
                    Samples = samples
                    Labels = labels
                    Subjects = subjects
                    SubjectNames = subjectNames
                    Source = source
                    Augment = augment
                }

                validate d
                |> Result.mapError (fun e -> $"{dir}: {e}")
                |> Result.map (fun () -> d)
        with
        | Failure msg -> Error msg
        | :? JsonException as e -> Error $"{meta}: not valid JSON ({e.Message})"
        | :? InvalidOperationException as e -> Error $"{meta}: a field has the wrong type ({e.Message})"
        | :? IOException as e -> Error $"{dir}: {e.Message}"

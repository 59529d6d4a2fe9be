namespace Tern.Core

open System
open System.IO
open System.IO.Compression
open NumSharp

/// The values of an array read from a .npy file, in C (row-major) order, by kind.
type NpyValues =
    | Float32s of float32[]
    | Float64s of float[]
    /// Any integer type (int8 to int64, uint8 to uint64), widened.
    | Integers of int64[]
    /// numpy unicode ('<U..') or bytes ('S..', decoded as UTF-8) strings, trailing NULs removed.
    | Strings of string[]

/// One array of a .npy file or an .npz member.
type NpyArray = {
    /// Where it came from (the file, or archive:member), for messages.
    Name: string
    /// numpy's name of the element type: float32, int16, uint8, <U4, |S8, ...
    DType: string
    /// Dimensions, outermost first (C order); empty for a scalar.
    Shape: int[]
    Values: NpyValues
}

/// Reads and writes NumPy's .npy files (format versions 1.0, 2.0 and 3.0) and reads members of .npz archives.
/// Parsing is NumSharp's np.load_npy (header dict, dtype descr with either byte order, Fortran or C order,
/// truncation checks); this module checks the magic itself, refuses pickled object arrays, and turns every
/// failure into one message that names the file.
[<RequireQualifiedAccess>]
module Npy =
    let private magic = [| 0x93uy; byte 'N'; byte 'U'; byte 'M'; byte 'P'; byte 'Y' |]

    /// Largest header NumSharp is allowed to parse (numpy's default limit is 10,000 bytes).
    let private maxHeader = 65536L

    /// The shape as a text numpy would print: (2, 3).
    let shapeText (shape: int[]) : string =
        match shape with
        | [| n |] -> $"({n},)"
        | _ -> "(" + String.Join(", ", shape) + ")"

    let private numpyName (code: NPTypeCode) : string option =
        match code with
        | NPTypeCode.Single -> Some "float32"
        | NPTypeCode.Double -> Some "float64"
        | NPTypeCode.SByte -> Some "int8"
        | NPTypeCode.Byte -> Some "uint8"
        | NPTypeCode.Int16 -> Some "int16"
        | NPTypeCode.UInt16 -> Some "uint16"
        | NPTypeCode.Int32 -> Some "int32"
        | NPTypeCode.UInt32 -> Some "uint32"
        | NPTypeCode.Int64 -> Some "int64"
        | NPTypeCode.UInt64 -> Some "uint64"
        | _ -> None

    /// Why NumSharp refused the bytes, in words a user can act on.
    let private explain (e: exn) : string =
        let m = e.Message

        if m.Contains "allow_pickle" || m.Contains "pickled" then
            "holds pickled Python objects (dtype object); Tern refuses them: save a numeric or string array"
        elif m.StartsWith "EOF" || m.Contains "No data left" then
            $"truncated ({m})"
        elif e.GetType().Name = "ArrayMemoryError" then
            $"the header's shape is too large to hold ({m}); is the file truncated or foreign?"
        else
            m

    let private convert (name: string) (a: NDArray) : Result<NpyArray, string> =
        let shape = a.shape

        if
            shape |> Array.exists (fun d -> d > int64 Int32.MaxValue)
            || a.size > int64 Int32.MaxValue
        then
            Error $"{name}: shape {a.shape} is too large (at most {Int32.MaxValue} values)"
        else
            let shape = shape |> Array.map int

            let values =
                match a.typecode, numpyName a.typecode with
                | NPTypeCode.Single, Some n -> Ok(n, Float32s(a.ToArray<float32>()))
                | NPTypeCode.Double, Some n -> Ok(n, Float64s(a.ToArray<float>()))
                | NPTypeCode.SByte, Some n -> Ok(n, Integers(a.ToArray<sbyte>() |> Array.map int64))
                | NPTypeCode.Byte, Some n -> Ok(n, Integers(a.ToArray<byte>() |> Array.map int64))
                | NPTypeCode.Int16, Some n -> Ok(n, Integers(a.ToArray<int16>() |> Array.map int64))
                | NPTypeCode.UInt16, Some n -> Ok(n, Integers(a.ToArray<uint16>() |> Array.map int64))
                | NPTypeCode.Int32, Some n -> Ok(n, Integers(a.ToArray<int>() |> Array.map int64))
                | NPTypeCode.UInt32, Some n -> Ok(n, Integers(a.ToArray<uint32>() |> Array.map int64))
                | NPTypeCode.Int64, Some n -> Ok(n, Integers(a.ToArray<int64>()))
                | NPTypeCode.UInt64, Some n ->
                    let v = a.ToArray<uint64>()

                    match v |> Array.tryFindIndex (fun x -> x > uint64 Int64.MaxValue) with
                    | Some i -> Error $"{name}: element {i} ({v[i]}) of the uint64 array is too large"
                    | None -> Ok(n, Integers(v |> Array.map int64))
                | NPTypeCode.String, _ when a.dtype.char = 'U' -> Ok(a.dtype.str, Strings(NDArray.AsStringArray a))
                | NPTypeCode.String, _ when a.dtype.char = 'S' ->
                    let n = int a.size

                    let decoded =
                        Array.init n (fun i ->
                            match a.item (i) with
                            | :? (byte[]) as b -> Text.Encoding.UTF8.GetString(b).TrimEnd('\000')
                            | x -> string x)

                    Ok(a.dtype.str, Strings decoded)
                | _ ->
                    Error
                        $"{name}: dtype {a.dtype.str} is not supported (Tern reads float32, float64, integer and string arrays)"

            values
            |> Result.map (fun (dtype, v) -> {
                Name = name
                DType = dtype
                Shape = shape
                Values = v
            })

    /// Parses the bytes of a .npy file; name is used in messages.
    let parse (name: string) (bytes: byte[]) : Result<NpyArray, string> =
        let prefix = min bytes.Length magic.Length

        if bytes.Length = 0 then
            Error $"{name}: empty file (truncated; not a .npy file)"
        elif bytes[.. prefix - 1] <> magic[.. prefix - 1] then
            if bytes.Length >= 4 && bytes[0] = byte 'P' && bytes[1] = byte 'K' then
                Error $"{name}: a zip archive (an .npz?), not a .npy file"
            else
                Error $"{name}: not a .npy file (bad magic: it does not start with \\x93NUMPY)"
        elif bytes.Length < magic.Length + 2 then
            Error $"{name}: truncated ({bytes.Length} bytes, the .npy preamble alone takes 10)"
        else
            try
                convert name (np.load_npy (bytes, false, maxHeader))
            with e ->
                Error $"{name}: {explain e}"

    /// Reads a .npy file.
    let read (path: string) : Result<NpyArray, string> =
        try
            if not (File.Exists path) then
                Error $"{path}: no such file"
            else
                parse path (File.ReadAllBytes path)
        with
        | :? IOException as e -> Error $"{path}: {e.Message}"
        | :? UnauthorizedAccessException as e -> Error $"{path}: {e.Message}"

    /// Reads the named members of an .npz archive (numpy stores array "x" as member "x.npy"); members not in the
    /// archive are absent from the result.
    let readNpz (path: string) (members: string list) : Result<Map<string, NpyArray>, string> =
        try
            if not (File.Exists path) then
                Error $"{path}: no such file"
            else
                use zip = ZipFile.OpenRead path

                members
                |> List.fold
                    (fun acc m ->
                        match acc with
                        | Error e -> Error e
                        | Ok map ->
                            match zip.GetEntry(m + ".npy") with
                            | null -> Ok map
                            | entry ->
                                use s = entry.Open()
                                use buffer = new MemoryStream()
                                s.CopyTo buffer

                                parse $"{path}:{m}.npy" (buffer.ToArray())
                                |> Result.map (fun a -> Map.add m a map))
                    (Ok Map.empty)
        with
        | :? InvalidDataException as e -> Error $"{path}: not a readable .npz (zip) archive ({e.Message})"
        | :? IOException as e -> Error $"{path}: {e.Message}"
        | :? UnauthorizedAccessException as e -> Error $"{path}: {e.Message}"

    /// The bytes of a .npy file holding the values in C order with the given shape.
    let private encode (shape: int[]) (values: Array) : byte[] =
        let a = np.array(values).reshape(shape |> Array.map int64)
        use s = new MemoryStream()
        np.save (s, a, false)
        s.ToArray()


    let private checkSize (shape: int[]) (length: int) =
        if Array.fold (fun p d -> p * int64 d) 1L shape <> int64 length then
            invalidArg "values" $"{length} values do not fill shape {shapeText shape}"

    /// Writes float32 values as a .npy file ('<f4', C order), through a temporary file renamed into place.
    let writeFloat32 (path: string) (shape: int[]) (values: float32[]) : unit =
        checkSize shape values.Length
        AtomicFile.writeBytes path (encode shape values)

    /// Writes int8 values as a .npy file ('|i1', C order), through a temporary file renamed into place.
    let writeInt8 (path: string) (shape: int[]) (values: sbyte[]) : unit =
        checkSize shape values.Length
        AtomicFile.writeBytes path (encode shape values)

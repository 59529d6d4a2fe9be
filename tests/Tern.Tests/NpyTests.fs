module Tern.Tests.NpyTests

open System
open System.IO
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Tests.Assertions

/// .npy bytes written by hand from the format's description (independent of the reader under test).
module NpyBytes =
    /// An element type: descr without byte order, item size, and how one value becomes bytes (little-endian).
    type Kind = {
        Code: string
        Size: int
        Name: string
    }

    let kinds = [
        {
            Code = "f4"
            Size = 4
            Name = "float32"
        }
        {
            Code = "f8"
            Size = 8
            Name = "float64"
        }
        { Code = "i1"; Size = 1; Name = "int8" }
        {
            Code = "u1"
            Size = 1
            Name = "uint8"
        }
        {
            Code = "i2"
            Size = 2
            Name = "int16"
        }
        {
            Code = "u2"
            Size = 2
            Name = "uint16"
        }
        {
            Code = "i4"
            Size = 4
            Name = "int32"
        }
        {
            Code = "u4"
            Size = 4
            Name = "uint32"
        }
        {
            Code = "i8"
            Size = 8
            Name = "int64"
        }
        {
            Code = "u8"
            Size = 8
            Name = "uint64"
        }
    ]

    /// The file: magic, version, header length (2 bytes for 1.0, 4 for 2.0 and 3.0), the header dict padded with
    /// spaces and a newline to a multiple of 64 bytes, then the data.
    let file (version: int) (descr: string) (fortran: bool) (shape: int[]) (data: byte[]) : byte[] =
        let dims =
            match shape with
            | [| n |] -> $"({n},)"
            | _ -> "(" + String.Join(", ", shape) + ")"

        let order = if fortran then "True" else "False"
        let dict = $"{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {dims}, }}"
        let lengthBytes = if version = 1 then 2 else 4
        let encoding = if version = 3 then Encoding.UTF8 else Encoding.Latin1
        let raw = encoding.GetBytes dict
        let preamble = 6 + 2 + lengthBytes
        let total = (preamble + raw.Length + 1 + 63) / 64 * 64

        let header =
            Array.append
                raw
                (Array.append (Array.create (total - preamble - raw.Length - 1) (byte ' ')) [| byte '\n' |])

        let length =
            if version = 1 then
                BitConverter.GetBytes(uint16 header.Length)
            else
                BitConverter.GetBytes(uint32 header.Length)

        Array.concat [
            [|
                0x93uy
                byte 'N'
                byte 'U'
                byte 'M'
                byte 'P'
                byte 'Y'
                byte version
                0uy
            |]
            length
            header
            data
        ]

    /// Element positions in file order: C order, or Fortran order (first index fastest).
    let fileOrder (shape: int[]) (fortran: bool) : int[] =
        let n = Array.fold (*) 1 shape

        if not fortran then
            Array.init n id
        else
            // C-order strides; walk indices with the first dimension fastest.
            let strides = Array.init shape.Length (fun d -> Array.fold (*) 1 shape[d + 1 ..])

            Array.init n (fun k ->
                let mutable rest = k
                let mutable offset = 0

                for d in 0 .. shape.Length - 1 do
                    offset <- offset + (rest % shape[d]) * strides[d]
                    rest <- rest / shape[d]

                offset)

    /// An element's little-endian bytes in the file's byte order.
    let ordered (bigEndian: bool) (b: byte[]) = if bigEndian then Array.rev b else b

    /// Bytes of one integer of the kind (the value fits it).
    let integer (k: Kind) (bigEndian: bool) (v: int64) : byte[] =
        let b =
            match k.Code with
            | "i1" -> [| byte (sbyte v) |]
            | "u1" -> [| byte v |]
            | "i2" -> BitConverter.GetBytes(int16 v)
            | "u2" -> BitConverter.GetBytes(uint16 v)
            | "i4" -> BitConverter.GetBytes(int v)
            | "u4" -> BitConverter.GetBytes(uint32 v)
            | "i8" -> BitConverter.GetBytes v
            | _ -> BitConverter.GetBytes(uint64 v)

        ordered bigEndian b

    /// numpy's 'U' element: UTF-32 code points, NUL-padded to the width.
    let unicode (width: int) (bigEndian: bool) (s: string) : byte[] =
        let points = [|
            let mutable i = 0

            while i < s.Length do
                let cp = Char.ConvertToUtf32(s, i)
                yield cp
                i <- i + (if Char.IsSurrogatePair(s, i) then 2 else 1)
        |]

        Array.init width (fun j -> if j < points.Length then points[j] else 0)
        |> Array.collect (fun cp -> ordered bigEndian (BitConverter.GetBytes cp))

    /// numpy's 'S' element: the bytes, NUL-padded to the width.
    let bytesOf (width: int) (s: string) : byte[] =
        let b = Encoding.ASCII.GetBytes s
        Array.append b (Array.zeroCreate (width - b.Length))

/// One generated array: the file bytes and what reading them must give.
type Case = {
    Bytes: byte[]
    DType: string
    Shape: int[]
    Expected: NpyValues
}

let private shapes =
    gen {
        let! rank = Gen.choose (0, 4)
        return! Gen.arrayOfLength rank (Gen.choose (1, 4))
    }

let private cases =
    gen {
        let! shape = shapes
        let n = Array.fold (*) 1 shape
        let! version = Gen.elements [ 1; 2; 3 ]
        let! fortran = Gen.elements [ false; true ]
        let! big = Gen.elements [ false; true ]
        let order = NpyBytes.fileOrder shape fortran
        let! which = Gen.choose (0, NpyBytes.kinds.Length + 1)

        if which < NpyBytes.kinds.Length then
            let k = NpyBytes.kinds[which]

            let endian =
                if k.Size = 1 then "|"
                elif big then ">"
                else "<"

            // The case of k's file: element i's bytes in file order, and the values reading must give.
            let case (element: int -> byte[]) (expected: NpyValues) = {
                Bytes = NpyBytes.file version (endian + k.Code) fortran shape (order |> Array.collect element)
                DType = k.Name
                Shape = shape
                Expected = expected
            }

            match k.Code with
            | "f4" ->
                let! v =
                    Gen.arrayOfLength n (Gen.choose (-1000000, 1000000) |> Gen.map (fun i -> float32 i / 64.0f))

                return case (fun i -> NpyBytes.ordered big (BitConverter.GetBytes v[i])) (Float32s v)
            | "f8" ->
                let! v =
                    Gen.arrayOfLength n (Gen.choose (-1000000, 1000000) |> Gen.map (fun i -> float i / 3.0))

                return case (fun i -> NpyBytes.ordered big (BitConverter.GetBytes v[i])) (Float64s v)
            | code ->
                let lo, hi =
                    match code with
                    | "i1" -> -128L, 127L
                    | "u1" -> 0L, 255L
                    | "i2" -> -32768L, 32767L
                    | "u2" -> 0L, 65535L
                    | "i4" -> int64 Int32.MinValue, int64 Int32.MaxValue
                    | "u4" -> 0L, int64 UInt32.MaxValue
                    | "i8" -> Int64.MinValue, Int64.MaxValue
                    | _ -> 0L, Int64.MaxValue

                // Values at both ends of the type's range as well as inside it.
                let value =
                    Gen.frequency [
                        1, Gen.elements [ lo; hi; 0L ]
                        3,
                        Gen.choose (0, 1000000)
                        |> Gen.map (fun i -> int64 (decimal lo + (decimal hi - decimal lo) * decimal i / 1000000m))
                    ]

                let! v = Gen.arrayOfLength n value
                return case (fun i -> NpyBytes.integer k big v[i]) (Integers v)
        elif which = NpyBytes.kinds.Length then
            // Unicode strings, some outside the BMP (two UTF-16 units, one code point).
            let! width = Gen.choose (1, 5)
            let alphabet = [| "a"; "Z"; "0"; "é"; "ö"; "€"; "\U0001F600"; " " |]

            let! v =
                Gen.arrayOfLength
                    n
                    (Gen.choose (0, width)
                     |> Gen.bind (fun m -> Gen.arrayOfLength m (Gen.elements alphabet) |> Gen.map String.Concat))
            // numpy drops trailing NULs only; trailing spaces stay.
            let data = order |> Array.collect (fun i -> NpyBytes.unicode width big v[i])
            let endian = if big then ">" else "<"

            return {
                Bytes = NpyBytes.file version $"{endian}U{width}" fortran shape data
                DType = $"<U{width}"
                Shape = shape
                Expected = Strings v
            }
        else
            let! width = Gen.choose (1, 5)

            let! v =
                Gen.arrayOfLength
                    n
                    (Gen.choose (0, width)
                     |> Gen.bind (fun m ->
                         Gen.arrayOfLength m (Gen.elements [| "a"; "b"; "S"; "1"; "_" |])
                         |> Gen.map String.Concat))

            let data = order |> Array.collect (fun i -> NpyBytes.bytesOf width v[i])

            return {
                Bytes = NpyBytes.file version $"|S{width}" fortran shape data
                DType = $"|S{width}"
                Shape = shape
                Expected = Strings v
            }
    }

let private caseArb = Arb.fromGen cases

let private fixture = Fixtures.npy

// ------------------------------------------------------------------ reading

let private ``any array written in npy form reads back equal: every dtype, byte order, C or Fortran order, version``
    ()
    =
    Prop.forAll caseArb (fun c ->
        match Npy.parse "t.npy" c.Bytes with
        | Error e -> failwith e
        | Ok a ->
            (a.Shape = c.Shape && a.DType = c.DType && a.Values = c.Expected)
            |> Prop.classify (c.Shape.Length = 0) "scalar"
            |> Prop.collect c.DType)

let private ``every truncation of a valid file is a clean error naming the file, never an exception`` () =
    Prop.forAll caseArb (fun c ->
        [ 0 .. c.Bytes.Length - 1 ]
        |> List.forall (fun len ->
            match Npy.parse "cut.npy" c.Bytes[.. len - 1] with
            | Ok _ -> false
            | Error e -> e.StartsWith "cut.npy: "))

let private ``the committed fixtures' truncations are clean errors too`` () =
    for name in
        [
            "x_nchw_f32.npy"
            "x_nchw_f32_v2.npy"
            "s_names_v3.npy"
            "x_nchw_u8_fortran.npy"
        ] do
        let bytes = File.ReadAllBytes(fixture name)

        for len in 0 .. bytes.Length - 1 do
            match Npy.parse name bytes[.. len - 1] with
            | Ok _ -> failtest $"{name} cut to {len} bytes was accepted"
            | Error e -> Expect.stringStarts e (name + ": ") $"{name} cut to {len} bytes: the error names the file"

let private ``a cut in the data says truncated; bad magic, a zip and pickled objects are named`` () =
    let bytes = File.ReadAllBytes(fixture "x_nchw_f32.npy")
    Expect.stringContains (err (Npy.parse "x.npy" bytes[.. bytes.Length - 5])) "truncated" "a cut in the data"
    Expect.stringContains (err (Npy.parse "x.npy" bytes[..3])) "truncated" "a cut in the magic"
    let bad = Array.copy bytes
    bad[1] <- byte 'X'
    Expect.stringContains (err (Npy.parse "x.npy" bad)) "bad magic" "a damaged magic"
    Expect.stringContains (err (Npy.read (fixture "data.npz"))) "zip archive" "an npz read as npy"
    Expect.stringContains (err (Npy.read (fixture "objects.npy"))) "pickled" "an object array"
    Expect.stringContains (err (Npy.read (fixture "no-such.npy"))) "no such file" "a missing file"

let private ``a header that is not a numpy dict, or an unsupported dtype, is an error naming the file`` () =
    let garbage = NpyBytes.file 1 "<f4" false [| 2 |] (Array.zeroCreate 8)
    let text = Encoding.Latin1.GetString garbage
    let broken = Encoding.Latin1.GetBytes(text.Replace("'shape'", "'shapes'"))
    Expect.stringStarts (err (Npy.parse "h.npy" broken)) "h.npy: " "a header without 'shape'"
    let complex = NpyBytes.file 1 "<c8" false [| 1 |] (Array.zeroCreate 8)
    Expect.stringContains (err (Npy.parse "c.npy" complex)) "c.npy: dtype" "a complex dtype"

    let huge =
        NpyBytes.file 1 "<f4" false [| 100000; 100000; 1000 |] (Array.zeroCreate 8)

    Expect.stringStarts (err (Npy.parse "big.npy" huge)) "big.npy: " "a shape too large for its data"

let private ``npz members are read by name; a missing member is absent; a damaged archive is an error`` () =
    let arrays =
        Npy.readNpz (fixture "data.npz") [ "x"; "y"; "subjects"; "extra" ] |> ok

    Expect.equal arrays.Count 3 "three of the four names are members"
    Expect.equal arrays["x"].Shape [| 6; 2; 3; 4 |] "the shape of x"
    Expect.stringEnds arrays["y"].Name "data.npz:y.npy" "a member is named archive:member"

    let compressed = Npy.readNpz (fixture "data_compressed.npz") [ "x"; "y" ] |> ok

    Expect.equal compressed["x"].Values arrays["x"].Values "x compressed and stored"
    Expect.stringContains (err (Npy.readNpz (fixture "x_nchw_f32.npy") [ "x" ])) ".npz" "an npy read as npz"
    let bytes = File.ReadAllBytes(fixture "data.npz")
    let cut = Path.Combine(Path.GetTempPath(), $"tern-cut-{Guid.NewGuid():N}.npz")

    try
        File.WriteAllBytes(cut, bytes[.. bytes.Length - 30])
        Expect.stringStarts (err (Npy.readNpz cut [ "x" ])) cut "a cut archive: the error names it"
    finally
        File.Delete cut

// ------------------------------------------------------------------ writing

let private ``written float32 and int8 files read back equal, through no leftover temporary file`` () =
    let arrays =
        gen {
            let! rows = Gen.choose (0, 5)
            let! cols = Gen.choose (1, 6)

            let! f =
                Gen.arrayOfLength (rows * cols) (Gen.choose (-100000, 100000) |> Gen.map (fun i -> float32 i / 7.0f))

            let! q = Gen.arrayOfLength (rows * cols) (Gen.choose (-128, 127) |> Gen.map sbyte)
            return rows, cols, f, q
        }
        |> Arb.fromGen

    Prop.forAll arrays (fun (rows, cols, f, q) ->
        let dir = Path.Combine(Path.GetTempPath(), $"tern-npyw-{Guid.NewGuid():N}")
        Directory.CreateDirectory dir |> ignore

        try
            let ff = Path.Combine(dir, "f.npy")
            let qf = Path.Combine(dir, "q.npy")
            Npy.writeFloat32 ff [| rows; cols |] f
            Npy.writeInt8 qf [| rows; cols |] q
            let a = Npy.read ff |> ok
            let b = Npy.read qf |> ok
            let header = Encoding.Latin1.GetString(File.ReadAllBytes ff)

            a.Shape = [| rows; cols |]
            && a.Values = Float32s f
            && a.DType = "float32"
            && b.Values = Integers(q |> Array.map int64)
            && b.DType = "int8"
            && header.Contains "'descr': '<f4'"
            && header.Contains "'fortran_order': False"
            && Directory.GetFiles(dir).Length = 2
        finally
            Directory.Delete(dir, true))

[<Tests>]
let tests =
    testList "NpyTests" [
        testPropertyWithConfig
            (Properties.tests 200)
            "any array written in npy form reads back equal: every dtype, byte order, C or Fortran order, version"
            ``any array written in npy form reads back equal: every dtype, byte order, C or Fortran order, version``
        testPropertyWithConfig
            (Properties.tests 15)
            "every truncation of a valid file is a clean error naming the file, never an exception"
            ``every truncation of a valid file is a clean error naming the file, never an exception``
        testCase
            "the committed fixtures' truncations are clean errors too"
            ``the committed fixtures' truncations are clean errors too``
        testCase
            "a cut in the data says truncated; bad magic, a zip and pickled objects are named"
            ``a cut in the data says truncated; bad magic, a zip and pickled objects are named``
        testCase
            "a header that is not a numpy dict, or an unsupported dtype, is an error naming the file"
            ``a header that is not a numpy dict, or an unsupported dtype, is an error naming the file``
        testCase
            "npz members are read by name; a missing member is absent; a damaged archive is an error"
            ``npz members are read by name; a missing member is absent; a damaged archive is an error``
        testPropertyWithConfig
            (Properties.tests 40)
            "written float32 and int8 files read back equal, through no leftover temporary file"
            ``written float32 and int8 files read back equal, through no leftover temporary file``
    ]

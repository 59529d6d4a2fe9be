/// Model files written byte by byte (docs/model-file.md), independently of ModelFile, so that tests can put on disk
/// a file the writer would refuse and check the reader against a layout spelled out once more.
module Tern.Tests.ModelFileBytes

open System.IO
open System.Security.Cryptography
open System.Text
open Tern.Runtime

/// A version 1 file around a hand-written payload: header, payload, SHA-256 of the payload.
let frame (kind: byte) (payload: byte[]) : byte[] =
    use ms = new MemoryStream()
    use w = new BinaryWriter(ms)
    w.Write "TERN"B
    w.Write 1us
    w.Write kind
    w.Write(uint32 payload.Length)
    w.Write payload
    w.Write(SHA256.HashData payload)
    w.Flush()
    ms.ToArray()

/// The bytes a writer puts down.
let payload (write: BinaryWriter -> unit) : byte[] =
    use ms = new MemoryStream()
    use w = new BinaryWriter(ms)
    write w
    w.Flush()
    ms.ToArray()

/// A string: its UTF-8 length (u32), then its bytes.
let str (w: BinaryWriter) (s: string) =
    let b = Encoding.UTF8.GetBytes s
    w.Write(uint32 b.Length)
    w.Write b

/// A shape: height, width, channels.
let shape (w: BinaryWriter) (s: Shape3) =
    w.Write s.H
    w.Write s.W
    w.Write s.C

namespace Tern.Core

open System

type SectionBits = {
    Table: int
    Payload: int
} with

    member s.Total = s.Table + s.Payload

    static member Zero = { Table = 0; Payload = 0 }

type CodecError =
    | Truncated of needed: int * available: int
    | BadMagic
    | UnsupportedVersion of int
    | TrailingBytes of declared: int * available: int
    | BadChecksum of stored: uint32 * computed: uint32
    | BadHeader of string
    | BadTable of section: string * reason: string
    | BadSymbol of section: string * reason: string
    | BadVector of frame: int * block: int
    | Overrun of section: string
    | BadPadding

exception CodecFailure of CodecError

[<Sealed>]
type BitWriter() =
    let mutable buffer: byte[] = Array.zeroCreate 256
    let mutable length = 0
    // Pending bits, right-aligned; fewer than 32 between calls, flushed 32 at a time.
    let mutable acc = 0UL
    let mutable pending = 0

    let ensure (extra: int) =
        if length + extra > buffer.Length then
            Array.Resize(&buffer, max (buffer.Length * 2) (length + extra))

    member _.Write(value: uint32, width: int) =
        if width > 0 then
            acc <- (acc <<< width) ||| (uint64 value &&& ((1UL <<< width) - 1UL))
            pending <- pending + width

            if pending >= 32 then
                pending <- pending - 32
                ensure 4
                Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(buffer, length, 4), uint32 (acc >>> pending))
                length <- length + 4
                acc <- acc &&& ((1UL <<< pending) - 1UL)

    member _.BitCount: int = length * 8 + pending

    member this.Align() : int =
        let pad = (8 - pending % 8) % 8
        this.Write(0u, pad)
        pad

    member _.ToArray() : byte[] =
        if pending % 8 <> 0 then
            invalidOp "BitWriter.ToArray before Align"

        let out = Array.zeroCreate (length + pending / 8)
        Array.blit buffer 0 out 0 length

        for k in 0 .. pending / 8 - 1 do
            out[length + k] <- byte (acc >>> (pending - 8 * (k + 1)))

        out

[<RequireQualifiedAccess>]
module Bits =

    let inline peek (data: byte[]) (pos: int) (width: int) : int =
        let i = pos >>> 3

        let w =
            if i + 4 <= data.Length then
                Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(data, i, 4))
            else
                let inline at k =
                    if k < data.Length then uint32 data[k] else 0u

                (at i <<< 24) ||| (at (i + 1) <<< 16) ||| (at (i + 2) <<< 8) ||| at (i + 3)

        if width = 0 then
            0
        else
            int ((w <<< (pos &&& 7)) >>> (32 - width))

[<Sealed>]
type BitReader(data: byte[], startByte: int, endBit: int) =
    let mutable pos = startByte * 8

    member _.Position: int = pos

    member _.Remaining: int = endBit - pos

    member _.Peek(width: int) : int = Bits.peek data pos width

    member _.Data: byte[] = data

    member _.End: int = endBit

    member _.Seek(p: int, section: string) =
        if p > endBit then
            raise (CodecFailure(Overrun section))

        pos <- p

    member _.Skip(width: int, section: string) =
        if pos + width > endBit then
            raise (CodecFailure(Overrun section))

        pos <- pos + width

    member this.Read(width: int, section: string) : int =
        let v = this.Peek width
        this.Skip(width, section)
        v

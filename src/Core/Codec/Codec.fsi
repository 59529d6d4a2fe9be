namespace Tern.Core

open Tern.Runtime

/// How the frames of a group are coded.
type Prediction =

    /// Every frame quantized and entropy-coded on its own (the "uniform" methods); any number of frames.
    | Intra

    /// Unidirectional: frame 0 is the anchor and predicts frame 1 (t-1 predicts t); two frames.
    | Uni

    /// Seed 004's bidirectional form: frame 1 (t) is the anchor and predicts frames 0 (t-1) and 2 (t+1); three frames.
    | Bi

/// One codec method: quantizer, prediction, motion search, entropy coder, optional residual.
type CodecOptions = {

    /// N, 2..8.
    Bits: int
    Quant: QuantSource
    Prediction: Prediction

    /// Ignored for Intra.
    Motion: MotionParams

    /// Coder of every section (anchor codes, motion vectors, residual).
    Entropy: Entropy

    /// Send the N-bit quantized prediction error of predicted frames (seed 004 sends none).
    Residual: bool
}

/// Every stage's bits; Total = 8 * stream bytes.
type BitReport = {

    /// The fixed header.
    Header: int

    /// The quantized anchor (Intra: all frames).
    Anchor: SectionBits

    /// The motion vectors of all predicted frames.
    Vectors: SectionBits

    /// The residual of all predicted frames.
    Residual: SectionBits

    /// Zero bits up to the byte boundary.
    Padding: int

    /// The CRC-32.
    Checksum: int
    Total: int
}

/// An encoded group: the stream, the encoder's own reconstruction (what the decoder returns), the vectors.
type Encoded = {
    Stream: byte[]

    /// int8 frames as the decoder rebuilds them, in input order.
    Reconstruction: sbyte[][]

    /// Vectors of each frame (empty for the anchor and for Intra), in input order.
    Vectors: MotionVector[][]
    Quant: CodecQuant
    Bits: BitReport
}

/// A decoded group.
type Decoded = {
    Shape: Shape3
    Frames: sbyte[][]

    /// Index of the anchor frame (0 for Intra).
    Anchor: int
    Predicted: bool
    Vectors: MotionVector[][]
    Quant: CodecQuant
    Bits: BitReport
}

/// The feature-map codec (seed 004): int8 HWC feature maps -> versioned bitstream -> int8 feature maps.
/// Integer-only; every decision the stream depends on is documented in docs/codec.md for a C encoder.
[<RequireQualifiedAccess>]
module Codec =

    /// Bytes of the fixed header.
    /// Public for the tests only.
    val headerBytes: int

    /// Bytes of the CRC-32 trailer.
    /// Public for the tests only.
    val checksumBytes: int

    /// Frames in one group of the prediction (Intra: 1, though Intra streams may hold more).
    val groupSize: prediction: Prediction -> int

    /// Seed 004's settings: N bits from the int8 parameters, three-step search with SAD, 4x4 blocks, range 7.
    val defaults: bits: int -> prediction: Prediction -> entropy: Entropy -> CodecOptions

    /// Bits of the frames as float32 (the "raw float" method).
    val rawFloatBits: shape: Shape3 -> frames: int -> int64

    /// Bits of the frames as int8 (the reference of ratio_vs_int8).
    val int8Bits: shape: Shape3 -> frames: int -> int64

    /// Encodes a predicted group of any length >= 2 whose frame `anchor` predicts every other frame (Intra:
    /// every frame quantized on its own, anchor ignored). The stream format already carries F and the anchor;
    /// longer groups amortise the header, tables and anchor over more frames.
    /// Public for the tests only.
    val encodeGroup:
        options: CodecOptions ->
        anchor: int ->
        zeroPoint: int ->
        shape: Shape3 ->
        frames: sbyte[][] ->
            Result<Encoded, string>

    /// Encodes a group of int8 frames (HWC, zero point zeroPoint) into one stream: Intra any number of frames,
    /// Uni exactly 2 (anchor 0), Bi exactly 3 (anchor 1).
    val encode: options: CodecOptions -> zeroPoint: int -> shape: Shape3 -> frames: sbyte[][] -> Result<Encoded, string>

    /// Anchor of a group of `frames` frames: Uni the first (it predicts the later ones), Bi the middle one
    /// (frames / 2: it predicts the earlier and the later ones), Intra 0. For 2 and 3 frames as `anchorIndex`.
    /// Public for the tests only.
    val groupAnchor: prediction: Prediction -> frames: int -> int

    /// Bits of the coded sections alone (anchor, vectors, residual with their tables), without header, padding and CRC.
    /// Public for the tests only.
    val payloadBits: bits: BitReport -> int

    /// Encodes a sequence as consecutive groups of `groupFrames` frames (>= the prediction's group size; Intra
    /// streams then hold groupFrames frames each), the anchor at `groupAnchor`; a last group shorter than the
    /// prediction's size is coded Intra. `encodeSequenceGrouped o (groupSize o.Prediction)` = `encodeSequence o`.
    val encodeSequenceGrouped:
        options: CodecOptions ->
        groupFrames: int ->
        zeroPoint: int ->
        shape: Shape3 ->
        frames: sbyte[][] ->
            Result<Encoded list, string>

    /// Encodes a sequence as consecutive groups of the prediction's size; a last, shorter group is coded
    /// Intra with the same quantizer and entropy coder. One stream per group, in order.
    /// Public for the tests only.
    val encodeSequence:
        options: CodecOptions -> zeroPoint: int -> shape: Shape3 -> frames: sbyte[][] -> Result<Encoded list, string>

    /// Describes a decoder error in words.
    val describe: e: CodecError -> string

    /// Decodes a stream, or says why it is rejected (truncated, corrupted, malformed).
    val decode: stream: byte[] -> Result<Decoded, CodecError>

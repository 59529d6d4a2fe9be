namespace Tern.Core

open Tern.Runtime

/// A model read from a file: float (before quantization) or integer (ready for the runtime and the device).
type LoadedModel =
    | FloatModel of Model
    | IntegerModel of IntModel

/// The versioned binary model file.
///
/// Layout (little-endian): magic "TERN" (4 bytes), format version (u16: the lowest that holds the model, see
/// floatVersion and intVersion; versions 1 to 3 are read), model kind (u8: 1 float, 2 integer),
/// payload length (u32), payload, SHA-256 of the payload (32 bytes). The payload repeats the kind in its first
/// byte, so the checksum (and the model hash) covers it. Inside the payload: strings are a u32 byte count and
/// UTF-8; arrays are an i32 count and their elements; shapes are three i32 (H, W, C).
/// Float payload: kind, name, input shape, class names, layers (u8 tag + fields, tags listed in floatTag).
/// Integer payload: kind, name, input shape, input scale (f32), input zero (i32), class names, layers
/// (u8 IntLayerKind, name, input shape, output shape, kind-specific fields).
/// Version 3 payloads give convolutions and pools, float and integer layers alike, four paddings (i32 top, bottom,
/// left, right, right after the strides) where versions 1 and 2 give a convolution two (height, width: symmetric)
/// and a pool none, and end with the metadata: a count and key, value strings in key order. A model needs version 3
/// when it has metadata, a convolution with asymmetric padding or a padded pool.
[<RequireQualifiedAccess>]
module ModelFile =

    /// Serializes a float model; throws ArgumentException if it is invalid (a file that could not be loaded is never written).
    val serializeFloat: model: Model -> byte[]

    /// The lowest format version that holds an integer model.
    /// Public for the tests only.
    val intVersion: model: IntModel -> uint16

    /// Serializes an integer model; throws ArgumentException if IntModel.Validate rejects it.
    val serializeInt: model: IntModel -> byte[]

    /// Reads a serialized model; returns Error saying what is wrong for any malformed input, never throws.
    val deserialize: bytes: byte[] -> Result<LoadedModel, string>

    /// Lowercase hex SHA-256 of the payload of a serialized model (the model hash); throws ArgumentException on a malformed frame.
    val hash: bytes: byte[] -> string

    /// Saves a float model atomically (temporary file in the same folder, then rename over the target).
    val saveFloat: path: string -> model: Model -> unit

    /// Saves an integer model atomically (temporary file in the same folder, then rename over the target).
    val saveInt: path: string -> model: IntModel -> unit

    /// Loads a model file; the error names the file and says what is wrong.
    val load: path: string -> Result<LoadedModel, string>

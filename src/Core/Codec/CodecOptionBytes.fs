namespace Tern.Core

/// Codec options as the device reads them: the 9 bytes of tern_codec_options_t (hil/include/tern_codec.h), which
/// the protocol's SPLIT body and the C encoder's test harness carry in the same order.
[<RequireQualifiedAccess>]
module CodecOptionBytes =

    // The C enumerator values of tern_codec.h.
    let private quantCode (q: QuantSource) : int =
        match q with
        | FromInt8 -> 0
        | MinMaxAffine -> 1
        | MinMaxSymmetric -> 2

    let private predictionCode (p: Prediction) : int =
        match p with
        | Intra -> 0
        | Uni -> 1
        | Bi -> 2

    let private entropyCode (e: Entropy) : int =
        match e with
        | Fixed -> 0
        | Zvc -> 1
        | Huffman -> 2
        | Rle -> 3

    let private searchCode (s: MotionSearch) : int =
        match s with
        | ThreeStep -> 0
        | FullSearch -> 1

    let private costCode (c: BlockCost) : int =
        match c with
        | Sad -> 0
        | Mad -> 1
        | Mse -> 2

    /// The bytes in field order: bits, quant, prediction, entropy, residual, block, range, search, cost.
    let ofOptions (o: CodecOptions) : byte[] = [|
        byte o.Bits
        byte (quantCode o.Quant)
        byte (predictionCode o.Prediction)
        byte (entropyCode o.Entropy)
        (if o.Residual then 1uy else 0uy)
        byte o.Motion.Block
        byte o.Motion.Range
        byte (searchCode o.Motion.Search)
        byte (costCode o.Motion.Cost)
    |]

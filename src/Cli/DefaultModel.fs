/// The embedded default model: the default architecture trained on the default synthetic radar data, fine-tuned
/// for ternary weights with 45 % pruning and lowered to integers. models/README.md names the command that
/// reproduces models/default.tern exactly.
module Tern.Cli.DefaultModel

open System.IO
open System.Reflection
open Tern.Core
open Tern.Studies
open Tern.Runtime

/// The logical name of the embedded file (see Tern.Cli.fsproj).
let resourceName: string = "default.tern"

/// The embedded file's bytes.
let bytes () : byte[] =
    use s = Assembly.GetExecutingAssembly().GetManifestResourceStream resourceName

    if isNull s then
        failwith $"this build of tern lacks its embedded {resourceName}"

    use m = new MemoryStream()
    s.CopyTo m
    m.ToArray()

/// The embedded integer model (throws if the build embedded a broken file: a build defect, not bad input).
let load () : IntModel =
    match ModelFile.deserialize (bytes ()) with
    | Ok(IntegerModel m) -> m
    | Ok(FloatModel _) -> failwith $"the embedded {resourceName} is a float model, expected the lowered one"
    | Error e -> failwith $"the embedded {resourceName} is unreadable: {e}"

/// Held-out radar samples for the default model: subjects the training never saw (data seed 2; the model was
/// trained on seed 1), count samples evenly spread over subjects and classes, with their labels.
let heldOut (count: int) : float32[][] * int[] =
    let perClass = 20
    let subjects = max 1 ((count + perClass * 5 - 1) / (perClass * 5))
    let d = RadarSim.synth RadarSim.defaultConfig subjects perClass 2
    let n = d.Samples.Length

    let idx =
        Array.init (min count n) (fun k -> int (int64 k * int64 n / int64 (min count n)))

    idx |> Array.map (fun i -> d.Samples[i]), idx |> Array.map (fun i -> d.Labels[i])

/// Held-out radar streams for split inference, where frames are predicted from their neighbours: the first
/// count windows of the codec study's default stream shape (CodecStudy.defaultStreamShape: consecutive windows
/// a few STFT frames apart, one stream per subject and class, 30 windows each, a multiple of the uni and bi
/// group sizes), data seed 2 as heldOut.
let heldOutStream (count: int) : float32[][] * int[] =
    let _, windows, hop = CodecStudy.defaultStreamShape
    let perSubject = windows * RadarSim.classes.Length
    let subjects = max 1 ((count + perSubject - 1) / perSubject)
    let s = RadarSim.stream RadarSim.defaultConfig subjects windows hop 2
    Array.truncate count s.Data.Samples, Array.truncate count s.Data.Labels

namespace Tern.Core

open Tern.Runtime

/// A labelled set of float samples (spectrograms or raw windows), each tagged with its subject.
type Dataset = {
    Shape: Shape3
    Classes: string list

    /// Samples in HWC order, each Shape.Size values.
    Samples: float32[][]
    Labels: int[]

    /// Subject ids; when SubjectNames is not empty, indices into it.
    Subjects: int[]

    /// Names of the subjects when the data names them (e.g. "S01"), in id order; empty when the ids are the
    /// subjects' own numbers.
    SubjectNames: string list

    /// Where the data came from and its licence, shown wherever results are reported.
    Source: string

    /// The training-time augmentation that keeps this data's labels true, declared by whoever made it (the radar
    /// simulator's steady periodic activities admit a time shift; short transitions such as sitting down do not).
    Augment: Augmentation
}

/// The on-disk form of a data set: a folder with dataset.json (shape, classes, count, source, subject names when
/// the subjects have names), samples.f32 (count x H x W x C float32, little-endian), labels.u8 and subjects.u16
/// (little-endian). dataset.json is written last, so a folder without it is an unfinished write, never a data set.
[<RequireQualifiedAccess>]
module Dataset =

    /// The samples and labels at the given indices, in that order.
    val pick: idx: int[] -> d: Dataset -> float32[][] * int[]

    /// How reports name a subject: its name when the data names its subjects, else its id.
    val subjectName: d: Dataset -> id: int -> string

    /// Checks lengths, label range and values; returns the first problem.
    val validate: d: Dataset -> Result<unit, string>

    /// SHA-256 (lower-case hex) of what the data says: shape, class names, and per sample its values, label and
    /// subject (by name, so renumbered ids do not matter). The source text and the declared augmentation are left
    /// out, so importing the same recordings again gives the same fingerprint. Model files name the data set they
    /// were trained on by it (holdout.data).
    val fingerprint: d: Dataset -> string

    /// Writes a data set folder (each file to a temporary name, then renamed; dataset.json last).
    val save: dir: string -> d: Dataset -> unit

    /// Reads a data set folder; errors name the file and what is wrong.
    val load: dir: string -> Result<Dataset, string>

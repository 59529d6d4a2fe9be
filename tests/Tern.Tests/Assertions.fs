/// Small assertions several test files share: a Result's value or error.
module Tern.Tests.Assertions

/// The value of an Ok; an Error fails the test with its message.
let ok (r: Result<'a, string>) : 'a =
    match r with
    | Ok v -> v
    | Error e -> failwith e

/// The message of an Error; an Ok fails the test.
let err (r: Result<'a, string>) : string =
    match r with
    | Ok _ -> failwith "expected an error"
    | Error e -> e

/// A character a terminal shows as itself: no control (C0, DEL, C1), format (bidi), unassigned or private-use
/// character, no line or paragraph separator, no lone surrogate, no replacement character (undecodable bytes).
/// Letters of any script are fine. The test oracle for messages that quote user files.
let shownAsItself (c: char) =
    match System.Char.GetUnicodeCategory c with
    | System.Globalization.UnicodeCategory.Control
    | System.Globalization.UnicodeCategory.Format
    | System.Globalization.UnicodeCategory.Surrogate
    | System.Globalization.UnicodeCategory.PrivateUse
    | System.Globalization.UnicodeCategory.OtherNotAssigned
    | System.Globalization.UnicodeCategory.LineSeparator
    | System.Globalization.UnicodeCategory.ParagraphSeparator -> false
    | _ -> c <> '\uFFFD'

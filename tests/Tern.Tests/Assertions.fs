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

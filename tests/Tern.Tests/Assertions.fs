/// Small assertions several test files share: NUnit's EqualTo with its type fixed, a Result's value or error.
module Tern.Tests.Assertions

open NUnit.Framework

/// NUnit's EqualTo with the type fixed (its overloads are ambiguous from F# for arrays and lists).
let eq (x: 'T) = Is.EqualTo<'T>(x)

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

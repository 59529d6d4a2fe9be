/// ToolRequirement: a missing tool skips the test on a developer's machine and fails it under CI, naming the Debian
/// packages either way.
module Tern.Tests.ToolRequirementTests

open NUnit.Framework
open Tern.Tests

[<TestCase("true")>]
[<TestCase("TRUE")>]
[<TestCase(" True ")>]
[<TestCase("1")>]
let ``under CI a missing tool fails the test, naming the packages`` (ci: string) =
    let e =
        Assert.Throws<AssertionException>(fun () ->
            ToolRequirement.enforce ci [ "gcc-arm-none-eabi"; "qemu-system-arm" ])

    Assert.That(e.Message, Does.Contain "needs Debian packages: gcc-arm-none-eabi qemu-system-arm")

[<TestCase(null: string)>]
[<TestCase("")>]
[<TestCase("false")>]
[<TestCase("0")>]
[<TestCase("yes")>]
let ``outside CI a missing tool skips the test, naming the packages`` (ci: string) =
    let e =
        Assert.Throws<IgnoreException>(fun () -> ToolRequirement.enforce ci [ "socat" ])

    Assert.That(e.Message, Does.Contain "needs Debian packages: socat")

[<TestCase(null: string)>]
[<TestCase("true")>]
let ``nothing missing lets the test run`` (ci: string) =
    Assert.DoesNotThrow(fun () -> ToolRequirement.enforce ci [])

[<Test>]
let ``a program on PATH is found and one nowhere is named in the skip or failure`` () =
    // `sh` is on every machine the tests run on; the second name exists nowhere.
    Assert.DoesNotThrow(fun () -> ToolRequirement.require [ "sh", "dash" ])

    let e =
        Assert.Catch(fun () -> ToolRequirement.require [ "tern-no-such-program", "tern-no-such-package" ])

    Assert.That(e, Is.InstanceOf<IgnoreException>().Or.InstanceOf<AssertionException>())
    Assert.That(e.Message, Does.Contain "tern-no-such-package")

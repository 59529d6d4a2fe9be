/// ToolRequirement: a missing tool skips the test on a developer's machine and fails it under CI, naming the Debian
/// packages either way.
module Tern.Tests.ToolRequirementTests

open Expecto
open Tern.Tests

[<Tests>]
let tests =
    testList "ToolRequirementTests" [
        testList "under CI a missing tool fails the test, naming the packages" [
            for ci in [ "true"; "TRUE"; " True "; "1" ] ->
                testCase $"ci=%A{ci}"
                <| fun () ->
                    let e =
                        Expect.throwsC
                            (fun () -> ToolRequirement.enforce ci [ "gcc-arm-none-eabi"; "qemu-system-arm" ])
                            id

                    Expect.isTrue (e :? AssertException) $"a failure, not {e.GetType().Name}"

                    Expect.stringContains
                        e.Message
                        "needs Debian packages: gcc-arm-none-eabi qemu-system-arm"
                        "the failure names the packages"
        ]

        testList "outside CI a missing tool skips the test, naming the packages" [
            for ci in [ null; ""; "false"; "0"; "yes" ] ->
                testCase $"ci=%A{ci}"
                <| fun () ->
                    let e = Expect.throwsC (fun () -> ToolRequirement.enforce ci [ "socat" ]) id
                    Expect.isTrue (e :? IgnoreException) $"a skip, not {e.GetType().Name}"
                    Expect.stringContains e.Message "needs Debian packages: socat" "the skip names the package"
        ]

        testList "nothing missing lets the test run" [
            for ci in [ null; "true" ] -> testCase $"ci=%A{ci}" <| fun () -> ToolRequirement.enforce ci []
        ]

        testCase "a program on PATH is found and one nowhere is named in the skip or failure"
        <| fun () ->
            // `sh` is on every machine the tests run on; the second name exists nowhere.
            ToolRequirement.require [ "sh", "dash" ]

            let e =
                Expect.throwsC (fun () -> ToolRequirement.require [ "tern-no-such-program", "tern-no-such-package" ]) id

            Expect.isTrue (e :? IgnoreException || e :? AssertException) $"a skip or a failure, not {e.GetType().Name}"
            Expect.stringContains e.Message "tern-no-such-package" "the skip or failure names the package"
    ]

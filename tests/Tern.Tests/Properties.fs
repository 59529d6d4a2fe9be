/// FsCheck settings for Expecto's testPropertyWithConfig: how many cases a property tries, and a pinned replay.
module Tern.Tests.Properties

open Expecto

/// The default configuration with `n` cases (FsCheck's default is 100).
let tests (n: int) : FsCheckConfig = {
    FsCheckConfig.defaultConfig with
        maxTest = n
}

/// A property pinned to one case FsCheck once reported: its seed, gamma and size (FsCheck's "Replay" triple).
let replay (seed: uint64) (gamma: uint64) (size: int) : FsCheckConfig = {
    FsCheckConfig.defaultConfig with
        maxTest = 1
        replay = Some(seed, gamma, Some size)
}

module Tern.Bench.Benchmarks

[<EntryPoint>]
let main argv = 0

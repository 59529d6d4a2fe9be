module Tern.Cli.Program

[<EntryPoint>]
let main argv = 0

module Tern.Cli.Json

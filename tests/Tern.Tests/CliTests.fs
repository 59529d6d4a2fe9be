module Tern.Tests.CliTests

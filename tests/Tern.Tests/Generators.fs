module Tern.Tests.Generators

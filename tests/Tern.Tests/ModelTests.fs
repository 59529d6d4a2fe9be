module Tern.Tests.ModelTests

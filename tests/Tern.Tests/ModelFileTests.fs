module Tern.Tests.ModelFileTests

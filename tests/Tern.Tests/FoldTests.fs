module Tern.Tests.FoldTests

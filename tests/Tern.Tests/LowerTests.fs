module Tern.Tests.LowerTests

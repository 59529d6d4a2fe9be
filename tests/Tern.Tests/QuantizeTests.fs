module Tern.Tests.QuantizeTests

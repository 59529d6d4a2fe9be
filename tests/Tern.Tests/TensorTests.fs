module Tern.Tests.TensorTests

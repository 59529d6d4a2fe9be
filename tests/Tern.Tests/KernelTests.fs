module Tern.Tests.KernelTests

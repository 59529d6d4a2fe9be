namespace Tern.Core

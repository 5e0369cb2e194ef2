// Block handovers are tracked process-wide (BlockHandover): an integrity check that finds a suspect waits for every
// allocation, realloc and free in progress on any thread, in any region. Tests that count those waits run in this
// collection, one at a time and after the parallel tests, so that another test's allocations cannot add a wait.
using Xunit;

namespace MemTrace.Tests.Poisoning;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HandoverCollection
{
    public const string Name = "Handovers";
}

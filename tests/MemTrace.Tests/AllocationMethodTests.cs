using Xunit;

namespace MemTrace.Tests;

public class AllocationMethodTests
{
    [Theory]
    [InlineData(AllocationMethod.Malloc, "heap_caps_malloc")]
    [InlineData(AllocationMethod.Calloc, "heap_caps_calloc")]
    [InlineData(AllocationMethod.Realloc, "heap_caps_realloc")]
    [InlineData(AllocationMethod.AlignedAlloc, "heap_caps_aligned_alloc")]
    [InlineData(AllocationMethod.AlignedCalloc, "heap_caps_aligned_calloc")]
    [InlineData(AllocationMethod.MallocPrefer, "heap_caps_malloc_prefer")]
    [InlineData(AllocationMethod.CallocPrefer, "heap_caps_calloc_prefer")]
    [InlineData(AllocationMethod.ReallocPrefer, "heap_caps_realloc_prefer")]
    [InlineData(AllocationMethod.MallocDefault, "heap_caps_malloc_default")]
    [InlineData(AllocationMethod.ReallocDefault, "heap_caps_realloc_default")]
    [InlineData(AllocationMethod.Free, "heap_caps_free")]
    [InlineData(AllocationMethod.AlignedAllocDefault, "heap_caps_aligned_alloc_default")]
    [InlineData(AllocationMethod.CheckIntegrity, "heap_caps_check_integrity")]
    [InlineData(AllocationMethod.Unknown, "unknown")]
    public void C_names_are_those_the_seed_logs(AllocationMethod method, string name) => Assert.Equal(name, method.ToCName());
}

// The call site a tracker records for a resize names the entry point that made it, as the failure
// callback and the error reports do: heap_caps_realloc_prefer / heap_caps_realloc_default
// (heap_caps.c), not heap_caps_realloc.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsReallocRecordMethodTests
{
    [Fact]
    public void A_block_resized_by_realloc_prefer_is_recorded_as_realloc_prefer() =>
        Assert.Equal(AllocationMethod.ReallocPrefer, MethodRecordedForResize(h => (nint)h.Malloc(64, MallocCaps.Internal), (h, p) => (nint)h.ReallocPrefer((void*)p, 128, MallocCaps.Spiram)));

    [Fact]
    public void A_block_resized_by_realloc_default_with_external_memory_is_recorded_as_realloc_default() =>
        Assert.Equal(AllocationMethod.ReallocDefault, MethodRecordedForResize(h => (nint)h.MallocDefault(64), (h, p) => (nint)h.ReallocDefault((void*)p, 20_000)));

    [Fact]
    public void A_block_resized_by_realloc_is_recorded_as_realloc() =>
        Assert.Equal(AllocationMethod.Realloc, MethodRecordedForResize(h => (nint)h.Malloc(64, MallocCaps.Internal), (h, p) => (nint)h.Realloc((void*)p, 128, MallocCaps.Spiram)));

    /// <summary>The method a tracker records for the one live block, allocated then resized on the ESP32 layout's heap directly.</summary>
    private static AllocationMethod MethodRecordedForResize(Func<HeapCaps, nint> allocate, Func<HeapCaps, nint, nint> resize)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var q = resize(f.Heap, allocate(f.Heap));
        var method = Assert.Single(tracker.GetAllocations()).ReallocatedAt!.Value.Method;
        f.Heap.Free((void*)q);
        return method;
    }
}

// The call site a tracker records for a resize names the entry point that made it, as the failure
// callback and the error reports do: heap_caps_realloc_prefer / heap_caps_realloc_default
// (heap_caps.c), not heap_caps_realloc.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsReallocRecordMethodTests
{
    [Fact]
    public void A_block_resized_by_realloc_prefer_is_recorded_as_realloc_prefer()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var p = f.Heap.Malloc(64, MallocCaps.Internal);
        var q = f.Heap.ReallocPrefer(p, 128, MallocCaps.Spiram);
        var r = Assert.Single(tracker.GetAllocations());
        Assert.Equal(AllocationMethod.ReallocPrefer, r.ReallocatedAt!.Value.Method);
        f.Heap.Free(q);
    }

    [Fact]
    public void A_block_resized_by_realloc_default_with_external_memory_is_recorded_as_realloc_default()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var p = f.Heap.MallocDefault(64);
        var q = f.Heap.ReallocDefault(p, 20_000);
        var r = Assert.Single(tracker.GetAllocations());
        Assert.Equal(AllocationMethod.ReallocDefault, r.ReallocatedAt!.Value.Method);
        f.Heap.Free(q);
    }

    [Fact]
    public void A_block_resized_by_realloc_is_recorded_as_realloc()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var p = f.Heap.Malloc(64, MallocCaps.Internal);
        var q = f.Heap.Realloc(p, 128, MallocCaps.Spiram);
        var r = Assert.Single(tracker.GetAllocations());
        Assert.Equal(AllocationMethod.Realloc, r.ReallocatedAt!.Value.Method);
        f.Heap.Free(q);
    }
}

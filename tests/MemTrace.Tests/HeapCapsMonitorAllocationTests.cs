// heap_caps_monitor_local_minimum_free_size_start (heap_caps.c) keeps the saved minimums in an array it
// allocates with heap_caps_malloc(sizeof(size_t) * heap count, MALLOC_CAP_DEFAULT) before it resets the
// minimums, on the first start of a window; _stop restores the minimums, then frees the array. So the
// window costs DEFAULT memory while it is open, and that allocation shows in the minimum after it.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsMonitorAllocationTests
{
    [Fact]
    public void The_minimum_free_window_holds_one_chip_size_t_per_region_of_DEFAULT_memory_while_it_is_open()
    {
        var layout = HeapLayout.Esp32();
        nuint cost;
        using (var reference = new ChipFixture(layout))
        {
            var before = reference.Heap.GetFreeSize(MallocCaps.Default);
            var array = reference.Heap.Malloc((nuint)(4 * layout.Regions.Count), MallocCaps.Default);
            cost = before - reference.Heap.GetFreeSize(MallocCaps.Default);
            reference.Heap.Free(array);
        }

        using var f = new ChipFixture(layout);
        var free = f.Heap.GetFreeSize(MallocCaps.Default);
        var minimum = f.Heap.GetMinimumFreeSize(MallocCaps.Default);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStart());
        Assert.Equal(free - cost, f.Heap.GetFreeSize(MallocCaps.Default));
        Assert.Equal(free - cost, f.Heap.GetMinimumFreeSize(MallocCaps.Default)); // Reset after the array was taken.
        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStart()); // Already open: no second array.
        Assert.Equal(free - cost, f.Heap.GetFreeSize(MallocCaps.Default));

        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStop());
        Assert.Equal(free, f.Heap.GetFreeSize(MallocCaps.Default));
        Assert.Equal(minimum - cost, f.Heap.GetMinimumFreeSize(MallocCaps.Default));
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }
}

// heap_caps_monitor_local_minimum_free_size_start (heap_caps.c) keeps the saved minimums in an array it
// allocates with heap_caps_malloc(sizeof(size_t) * heap count, MALLOC_CAP_DEFAULT) before it resets the
// minimums, on the first start of a window; _stop restores the minimums, then frees the array. So the
// window costs DEFAULT memory while it is open, and that allocation shows in the minimum after it.
using System.Runtime.InteropServices;
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

    [Fact]
    public void A_region_added_while_a_window_is_open_leaves_every_other_regions_saved_minimum_with_its_region()
    {
        // heap_caps.c keeps the saved minimums by list position (values[counter] for the counter-th heap from
        // SLIST_FIRST) and heap_caps_add_region_with_caps puts the new heap at the head, so on the chip _stop gives each
        // saved minimum to the heap before its own and the last heap's is lost: the differential run against
        // heap_caps.c showed the DEFAULT minimum forgetting a 100000-byte dip and a D/IRAM heap (EXEC) taking it. MemTrace
        // keeps each region's saved minimum with that region (the documented meaning of the window).
        using var f = new ChipFixture(HeapLayout.Esp32());
        var invented = (MallocCaps)(1u << 30);
        var buffer = (byte*)NativeMemory.AlignedAlloc(3500, 16);
        try
        {
            var dip = f.Heap.MallocDefault(100000);
            Assert.True(dip != null);
            f.Heap.Free(dip);
            var minimumDefault = f.Heap.GetMinimumFreeSize(MallocCaps.Default);
            var minimumExec = f.Heap.GetMinimumFreeSize(MallocCaps.Exec);

            Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStart());
            Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([invented, 0, 0], buffer, buffer + 3500));
            Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStop());

            Assert.True(f.Heap.GetMinimumFreeSize(MallocCaps.Default) <= minimumDefault); // The dip is still there.
            Assert.Equal(minimumExec, f.Heap.GetMinimumFreeSize(MallocCaps.Exec));
            Assert.True(f.Heap.CheckIntegrityAll(print: false));
            f.Heap.Dispose(); // Before the region's memory goes back.
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }
}

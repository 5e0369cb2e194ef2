// heap_caps_realloc between regions that have the same capabilities (heap_caps_base.c's
// heap_caps_realloc_base): when the block's own heap has the caps but cannot grow it (its
// multi_heap_realloc fails), the block is allocated anywhere the caps allow, the smaller of the two
// sizes copied and the old block freed. An ESP32 has two DRAM heaps with the same caps.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsReallocAcrossRegionsTests
{
    [Fact]
    public void A_realloc_that_cannot_grow_in_its_full_region_moves_to_the_other_region_with_the_same_caps()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var heap = f.Heap;
        var dram = new List<HeapWalkRegion>();
        heap.Walk(MallocCaps.Bit8 | MallocCaps.Dma, (region, _) =>
        {
            if (region.Name == "DRAM")
            {
                dram.Add(region);
            }

            return false;
        });
        var (small, large) = (dram[0], dram[1]); // List order: 6 KiB, then 180 KiB.
        Assert.Equal((nuint)6432, small.End - small.Start);

        var p = (byte*)heap.Malloc(64, MallocCaps.Bit8);
        Assert.True(Inside(small, p));
        new Span<byte>(p, 64).Fill(0x5A);

        // Fill the rest of the small DRAM region, so that the block cannot grow where it is.
        var fillers = new List<nint>();
        foreach (nuint size in new nuint[] { 512, 64, 12 })
        {
            while (true)
            {
                var filler = (byte*)heap.Malloc(size, MallocCaps.Bit8);
                if (!Inside(small, filler))
                {
                    heap.Free(filler);
                    break;
                }

                fillers.Add((nint)filler);
            }
        }

        var smallRegion = heap.RegionNumberOf(p);
        var freeBefore = heap.FreeBytesOfRegion(smallRegion);
        var oldUsable = heap.GetAllocatedSize(p);

        var q = (byte*)heap.Realloc(p, 1024, MallocCaps.Bit8);

        Assert.True(q != null);
        Assert.True(Inside(large, q), "the block did not move to the other DRAM region");
        Assert.Equal(heap.Layout.Regions[heap.RegionNumberOf(q)].AllCaps, heap.Layout.Regions[smallRegion].AllCaps);
        Assert.True(new Span<byte>(q, 64).IndexOfAnyExcept((byte)0x5A) < 0, "contents lost in the move");
        Assert.True(heap.GetAllocatedSize(q) >= 1024);
        Assert.Equal(0u, heap.GetAllocatedSize(p)); // The old block was freed ...
        Assert.Equal(freeBefore + oldUsable + 4, heap.FreeBytesOfRegion(smallRegion)); // ... in its own region.
        Assert.Empty(f.Failures.Calls);
        Assert.True(heap.CheckIntegrityAll(print: false));

        heap.Free(q);
        fillers.ForEach(b => heap.Free((void*)b));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Fact]
    public void When_no_region_with_the_caps_has_room_the_realloc_fails_and_leaves_the_block_where_it_was()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var heap = f.Heap;
        var p = (byte*)heap.Malloc(64, MallocCaps.Exec);
        new Span<byte>(p, 64).Fill(0x33);
        var region = heap.RegionNumberOf(p);
        var free = heap.FreeBytesOfRegion(region);

        // Larger than any EXEC region (IRAM 90 KiB, D/IRAM 111 KiB).
        Assert.True(heap.Realloc(p, 200 * 1024, MallocCaps.Exec) == null);

        Assert.Equal([((nuint)(200 * 1024), MallocCaps.Exec, "heap_caps_realloc")], f.Failures.Calls);
        Assert.Equal(free, heap.FreeBytesOfRegion(region));
        Assert.True(new Span<byte>(p, 64).IndexOfAnyExcept((byte)0x33) < 0);
        Assert.True(heap.GetAllocatedSize(p) >= 64);
        heap.Free(p);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    private static bool Inside(HeapWalkRegion region, void* p) => (nuint)p >= region.Start && (nuint)p < region.End;
}

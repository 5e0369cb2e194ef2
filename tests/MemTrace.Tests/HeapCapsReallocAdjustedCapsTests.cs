// heap_caps_realloc with caps that esp_heap_adjust_alignment_to_hw rewrites. heap_caps_base.c's
// heap_caps_realloc_base adjusts alignment, size and caps first, then tests the block's own heap
// against the adjusted caps: CACHE_ALIGNED is stripped and DMA_DESC_AHB/AXI become DMA, so on a chip
// whose internal memory is not cached (alignment stays 4) a DMA block asked for with those caps is
// resized in its own heap, in place when it can be, not moved.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsReallocAdjustedCapsTests
{
    [Theory]
    [InlineData(MallocCaps.Dma | MallocCaps.CacheAligned)]
    [InlineData(MallocCaps.CacheAligned)]
    [InlineData(MallocCaps.DmaDescAhb)]
    public void Realloc_with_caps_the_hardware_adjust_rewrites_shrinks_in_place_in_the_blocks_own_region(MallocCaps caps)
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = f.Heap.Malloc(64, MallocCaps.Dma);

        var q = f.Heap.Realloc(p, 48, caps);

        Assert.True(p == q);
        Assert.Empty(f.Failures.Calls);
        f.Heap.Free(q);
    }

    [Fact]
    public void ReallocPrefer_with_cache_aligned_caps_shrinks_in_place_in_the_blocks_own_region()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = f.Heap.Malloc(64, MallocCaps.Dma);

        var q = f.Heap.ReallocPrefer(p, 48, MallocCaps.Dma | MallocCaps.CacheAligned);

        Assert.True(p == q);
        f.Heap.Free(q);
    }
}

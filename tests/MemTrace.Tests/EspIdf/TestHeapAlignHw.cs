// Ports of ESP-IDF's test_heap_align_hw.c, and the hardware alignment rules of heap_align_hw.c.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestHeapAlignHw
{
    [Fact]
    public void Prefer_and_calloc_prefer_with_DMA_return_DMA_memory()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var a = f.Heap.MallocPrefer(40, MallocCaps.Dma);
        var b = f.Heap.CallocPrefer(1, 40, MallocCaps.Dma);

        Assert.Contains(f.RegionOf(a), new[] { "DRAM", "D/IRAM" });
        Assert.Contains(f.RegionOf(b), new[] { "DRAM", "D/IRAM" });
        f.Heap.Free(a);
        f.Heap.Free(b);
    }

    [Theory]
    [InlineData(MallocCaps.Dma)]
    [InlineData(MallocCaps.DmaDescAhb)]
    [InlineData(MallocCaps.DmaDescAxi)]
    [InlineData(MallocCaps.Dma | MallocCaps.Spiram)]
    [InlineData(MallocCaps.CacheAligned | MallocCaps.Spiram)]
    public void Test_alignment_for_dma(MallocCaps caps)
    {
        using var f = new ChipFixture(HeapLayout.Esp32S3(4));

        var p = (byte*)f.Heap.Malloc(33, caps);

        Assert.True(p != null, caps.ToCapsString());
        var expected = (caps & MallocCaps.Spiram) != 0 ? 32u : (caps & MallocCaps.DmaDescAxi) != 0 ? 8u : 4u;
        Assert.Equal(0u, (nuint)p % expected);
        new Span<byte>(p, 33).Fill(0x5A); // Writes up to the cache-aligned size must not corrupt the heap.
        Assert.True(f.Heap.GetAllocatedSize(p) >= ((caps & MallocCaps.Spiram) != 0 ? 64u : 36u));
        // DMA memory comes from the smallest DMA-capable DRAM-type region first (STACK/DRAM on the S3).
        Assert.Equal((caps & MallocCaps.Spiram) != 0 ? "SPIRAM" : "STACK/DRAM", f.RegionOf(p));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        f.Heap.Free(p);
    }
}

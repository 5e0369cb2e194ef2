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
        var expected = (caps & MallocCaps.Spiram) != 0 ? 32u : 4u; // No AXI GDMA on the S3: AXI descriptors need no 8 bytes.
        Assert.Equal(0u, (nuint)p % expected);
        new Span<byte>(p, 33).Fill(0x5A); // Writes up to the cache-aligned size must not corrupt the heap.
        Assert.True(f.Heap.GetAllocatedSize(p) >= ((caps & MallocCaps.Spiram) != 0 ? 64u : 36u));
        // DMA memory comes from the smallest DMA-capable DRAM-type region first (STACK/DRAM on the S3).
        Assert.Equal((caps & MallocCaps.Spiram) != 0 ? "SPIRAM" : "STACK/DRAM", f.RegionOf(p));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        f.Heap.Free(p);
    }

    [Fact]
    public void SIMD_memory_is_aligned_to_16_bytes_with_its_size_rounded_up_and_never_resized_in_place()
    {
        // heap_align_hw.c: MALLOC_CAP_SIMD raises the alignment to SOC_SIMD_PREFERRED_DATA_ALIGNMENT (16) and rounds
        // the size up to it; heap_caps_realloc does not resize such a block in place. The chip layouts' only SIMD
        // memory is PSRAM, so a custom map with internal SIMD memory and a 4-byte plain alignment.
        var layout = HeapLayout.CreateBuilder("simd").WithAlignment(4)
            .AddRegion("RAM", 64 * 1024, MallocCaps.Default | MallocCaps.Bit8, MallocCaps.Simd | MallocCaps.Internal)
            .Build();
        using var f = new ChipFixture(layout);
        var plain = f.Heap.Malloc(4, MallocCaps.Default); // Puts the next block off a 16-byte boundary.

        var p = (byte*)f.Heap.Malloc(33, MallocCaps.Simd);
        var q = (byte*)f.Heap.AlignedAlloc(8, 20, MallocCaps.Simd | MallocCaps.Internal);

        Assert.True(p != null && q != null);
        Assert.Equal(0u, (nuint)p % 16);
        Assert.Equal(0u, (nuint)q % 16);
        Assert.True(f.Heap.GetAllocatedSize(p) >= 48);
        Assert.True(f.Heap.GetAllocatedSize(q) >= 32);
        new Span<byte>(p, 48).Fill(0x5A);

        var moved = (byte*)f.Heap.Realloc(p, 40, MallocCaps.Simd);

        Assert.True(moved != null && moved != p);
        Assert.Equal(0u, (nuint)moved % 16);
        Assert.True(new Span<byte>(moved, 40).IndexOfAnyExcept((byte)0x5A) < 0);
        Assert.True(f.Heap.CheckIntegrityAll(print: true));
        f.Heap.Free(moved);
        f.Heap.Free(q);
        f.Heap.Free(plain);
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }
}

// MALLOC_CAP_DMA_DESC_AXI on the ESP32 and ESP32-S3. esp_heap_adjust_alignment_to_hw
// (components/esp_hw_support/heap_align_hw.c) raises the alignment of AXI DMA descriptors to
// GDMA_LL_AXI_DESC_ALIGNMENT (8) only under SOC_HAS(AXI_GDMA), which neither chip has (they have no
// GDMA, or only AHB GDMA), and their internal memory is not cached: the request keeps the plain
// 4-byte alignment, its size rounded to 4, and the cap becomes DMA.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsDmaDescAxiTests
{
    public static TheoryData<string> Chips => new() { "esp32", "esp32s3" };

    [Theory]
    [MemberData(nameof(Chips))]
    public void A_DMA_DESC_AXI_block_on_a_chip_without_AXI_GDMA_has_the_plain_alignment_and_size(string chip)
    {
        using var f = new ChipFixture(HeapLayout.FromName(chip));

        var p = f.Heap.Malloc(33, MallocCaps.DmaDescAxi);

        Assert.True(p != null);
        Assert.Equal((nuint)36, f.Heap.GetAllocatedSize(p));
        f.Heap.Free(p);
    }

    [Theory]
    [MemberData(nameof(Chips))]
    public void A_DMA_block_reallocated_with_DMA_DESC_AXI_on_a_chip_without_AXI_GDMA_shrinks_in_place(string chip)
    {
        using var f = new ChipFixture(HeapLayout.FromName(chip));
        var p = f.Heap.Malloc(64, MallocCaps.Dma);

        var q = f.Heap.Realloc(p, 48, MallocCaps.DmaDescAxi);

        Assert.True(p == q);
        f.Heap.Free(q);
    }
}

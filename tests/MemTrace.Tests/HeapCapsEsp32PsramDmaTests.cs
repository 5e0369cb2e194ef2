// DMA-capable and cache-aligned PSRAM buffers on the ESP32. esp_heap_adjust_alignment_to_hw aligns them
// to esp_cache_get_alignment(caps), the data cache line of external memory, which the ESP32's
// cache_hal_get_cache_line_size (components/hal/esp32/cache_hal_esp32.c) gives as 4 bytes: the request
// keeps the plain 4-byte alignment and its size rounded to 4, and a realloc with those caps stays in place.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsEsp32PsramDmaTests
{
    [Theory]
    [InlineData(MallocCaps.Spiram | MallocCaps.Dma)]
    [InlineData(MallocCaps.Spiram | MallocCaps.CacheAligned)]
    public void A_DMA_or_cache_aligned_PSRAM_block_on_an_ESP32_is_aligned_to_the_4_byte_external_cache_line(MallocCaps caps)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var p = f.Heap.Malloc(33, caps);

        Assert.True(p != null);
        Assert.Equal("SPIRAM", f.RegionOf(p));
        Assert.Equal((nuint)36, f.Heap.GetAllocatedSize(p));

        var q = f.Heap.Realloc(p, 20, caps);

        Assert.True(p == q);
        f.Heap.Free(q);
    }
}

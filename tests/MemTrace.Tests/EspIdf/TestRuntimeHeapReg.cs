// Ports of ESP-IDF's test_runtime_heap_reg.c.
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestRuntimeHeapReg
{
    private const nuint HeapOverheadMax = 3248;
    private const nuint BufferSize = 3500;

    [Fact]
    public void Allocate_new_heap_at_runtime()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var buffer = (byte*)NativeMemory.AlignedAlloc(BufferSize, 16);
        try
        {
            var before = f.Heap.GetFreeSize(MallocCaps.Default);

            Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Bit32, 0], buffer, buffer + BufferSize));

            Assert.True(f.Heap.GetFreeSize(MallocCaps.Default) >= before + BufferSize - HeapOverheadMax);
            f.Heap.Dispose(); // Before the memory goes back.
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    [Fact]
    public void Allocate_new_heap_with_new_capability()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var invented = (MallocCaps)(1u << 30);
        Assert.True(f.Heap.Malloc(64, invented) == null);
        var buffer = (byte*)f.Heap.MallocDefault(BufferSize);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([invented, 0, 0], buffer, buffer + BufferSize));

        var p = f.Heap.Malloc(64, invented);
        Assert.True(p != null);
        Assert.True(p >= buffer && p < buffer + BufferSize);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Add_bss_memory_to_heap_region_runtime_twice_fails()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var buffer = (byte*)f.Heap.MallocDefault(BufferSize);
        var before = f.Heap.GetFreeSize(MallocCaps.Default);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Default | MallocCaps.Bit8, 0, 0], buffer, buffer + BufferSize));
        Assert.True(f.Heap.GetFreeSize(MallocCaps.Default) >= before + BufferSize - HeapOverheadMax);

        Assert.NotEqual(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Default | MallocCaps.Bit8, 0, 0], buffer, buffer + BufferSize));
    }

    [Theory]
    [InlineData(0x0, 0x1000, true)]
    [InlineData(0x3000, 0x4000, true)]
    [InlineData(0x1000, 0x2999, true)]
    [InlineData(0x1001, 0x3000, true)]
    [InlineData(0x1001, 0x2999, true)]
    [InlineData(0x0, 0x2000, false)]
    [InlineData(0x0, 0x4000, false)]
    [InlineData(0x1000, 0x4000, false)]
    [InlineData(0x2000, 0x4000, false)]
    [InlineData(0x1000, 0x3000, false)]
    public void Add_heap_region_address_range_checks(uint start, uint end, bool allowed) =>
        Assert.Equal(allowed, HeapCaps.IsAddRegionAllowed(0x1000, 0x3000, start, end));

    [Fact]
    public void Bad_arguments_give_ESP_IDF_results()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var buffer = (byte*)f.Heap.MallocDefault(2048);

        Assert.Equal(HeapCapsResult.InvalidArgument, f.Heap.AddRegionWithCaps([], buffer, buffer + 2048));
        Assert.Equal(HeapCapsResult.InvalidArgument, f.Heap.AddRegionWithCaps([MallocCaps.Default, 0, 0], null, buffer + 2048));
        Assert.Equal(HeapCapsResult.InvalidArgument, f.Heap.AddRegionWithCaps([MallocCaps.Default, 0, 0], buffer, buffer));
        Assert.Equal(HeapCapsResult.InvalidArgument, f.Heap.AddRegionWithCaps([MallocCaps.Default, 0, 0], buffer + 16, buffer));
        Assert.Equal(HeapCapsResult.InvalidSize, f.Heap.AddRegionWithCaps([MallocCaps.Default, 0, 0], buffer, buffer + 100));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void A_region_added_at_run_time_goes_first_for_the_caps_it_has()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var buffer = (byte*)f.Heap.MallocDefault(4096);
        f.Heap.AddRegionWithCaps([MallocCaps.Default | MallocCaps.Bit8, MallocCaps.Internal, 0], buffer, buffer + 4096);

        var p = (byte*)f.Heap.Malloc(64, MallocCaps.Default);

        Assert.True(p >= buffer && p < buffer + 4096);
        Assert.Equal("runtime", f.RegionOf(p));

        // Blocks of the nested region are found in it, not in the region around it.
        Assert.True(f.Heap.GetAllocatedSize(p) >= 64);
        f.Heap.Free(p);
        Assert.Equal(0, f.Heap.ErrorCount);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }
}

// Ports of ESP-IDF's test_runtime_heap_reg.c, and heap_caps_add_region_with_caps's rules beyond them
// (components/heap/heap_caps_init.c, multi_heap.c multi_heap_register_impl).
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

    // esp_heap_caps.h: heaps added at runtime "are not taken into account in the minimum free size calculation".
    [Fact]
    public void Runtime_heap_counts_zero_in_minimum_free_size_until_a_monitor_window_resets_it()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var invented = (MallocCaps)(1u << 30);
        var buffer = (byte*)f.Heap.MallocDefault(BufferSize);
        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([invented, 0, 0], buffer, buffer + BufferSize));
        var free = f.Heap.GetFreeSize(invented);
        Assert.True(free > BufferSize - HeapOverheadMax);

        Assert.Equal((nuint)0, f.Heap.GetMinimumFreeSize(invented));
        Assert.Equal((nuint)0, f.Heap.GetInfo(invented).MinimumFreeBytes);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStart());
        Assert.Equal(free, f.Heap.GetMinimumFreeSize(invented));
        var p = f.Heap.Malloc(100, invented);
        Assert.True(p != null);
        Assert.True(f.Heap.GetMinimumFreeSize(invented) < free);
        f.Heap.Free(p);
        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStop());
        Assert.Equal((nuint)0, f.Heap.GetMinimumFreeSize(invented)); // The window's low is above the saved 0.
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
    [InlineData(0x1000, 0x2000, true)] // In ESP-IDF v4.x's version of the case: starts with the heap, ends inside it.
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
    public void A_region_below_1_KiB_is_accepted_down_to_what_multi_heap_register_needs()
    {
        // multi_heap_register fails (ESP_ERR_INVALID_SIZE) only when the multi_heap header, the TLSF control structure
        // and one block do not fit; there is no other floor.
        using var f = new ChipFixture(HeapLayout.Esp32());
        var minimum = (nuint)MemTrace.Tlsf.TlsfHeap.MinimumRegionSize(4);
        Assert.True(minimum < 512, $"minimum {minimum}");
        var buffer = (byte*)f.Heap.MallocDefault(1024);

        Assert.Equal(HeapCapsResult.InvalidSize, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer, buffer + minimum - 4));
        Assert.Equal(HeapCapsResult.InvalidSize, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer + 2, buffer + 2 + 512)); // Not 4-byte aligned.
        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer, buffer + minimum));
        var p = f.Heap.Malloc(4, MallocCaps.Pid2);
        Assert.True(p >= buffer && p < buffer + minimum);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));

        using var second = new ChipFixture(HeapLayout.Esp32());
        var small = (byte*)second.Heap.MallocDefault(600);
        Assert.Equal(HeapCapsResult.Ok, second.Heap.AddRegionWithCaps([MallocCaps.Pid3, 0, 0], small, small + 600));
        Assert.Equal(600u, second.Heap.GetTotalSize(MallocCaps.Pid3));
    }

    [Fact]
    public void The_regions_descriptor_is_charged_to_internal_8BIT_memory_as_heap_caps_malloc_would()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var buffer = (byte*)f.Heap.MallocDefault(BufferSize);
        var before = f.Heap.GetInfo(MallocCaps.Internal | MallocCaps.Bit8);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer, buffer + BufferSize));

        // heap_caps_malloc(sizeof(heap_t) = 36, INTERNAL|8BIT): one more block, 36 bytes of it plus the 4-byte TLSF header.
        var after = f.Heap.GetInfo(MallocCaps.Internal | MallocCaps.Bit8);
        Assert.Equal(before.AllocatedBlocks + 1, after.AllocatedBlocks);
        Assert.Equal(before.TotalFreeBytes - (HeapCaps.RegionDescriptorSize + 4), after.TotalFreeBytes);
        Assert.Equal(before.TotalAllocatedBytes + HeapCaps.RegionDescriptorSize, after.TotalAllocatedBytes);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void A_failed_registration_gives_the_descriptor_back()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var buffer = (byte*)f.Heap.MallocDefault(BufferSize);
        var before = f.Heap.GetInfo(MallocCaps.Internal | MallocCaps.Bit8);

        Assert.Equal(HeapCapsResult.InvalidSize, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer, buffer + 16));

        Assert.Equal(before, f.Heap.GetInfo(MallocCaps.Internal | MallocCaps.Bit8) with { MinimumFreeBytes = before.MinimumFreeBytes });
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void No_internal_memory_for_the_descriptor_gives_NoMemory()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var buffer = (byte*)f.Heap.Malloc(BufferSize, MallocCaps.Spiram);
        var filler = new List<nint>();
        foreach (nuint size in new nuint[] { 4096, 256, 16 })
        {
            for (void* p; (p = f.Heap.Malloc(size, MallocCaps.Internal | MallocCaps.Bit8)) != null;)
            {
                filler.Add((nint)p);
            }
        }

        f.Failures.Calls.Clear();

        Assert.Equal(HeapCapsResult.NoMemory, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer, buffer + BufferSize));
        Assert.Equal([((nuint)HeapCaps.RegionDescriptorSize, MallocCaps.Internal | MallocCaps.Bit8, "heap_caps_malloc")], f.Failures.Calls);
        Assert.True(f.Heap.Malloc(4, MallocCaps.Pid2) == null);

        f.Heap.Free((void*)filler[^1]);
        f.Heap.Free((void*)filler[^2]);
        f.Heap.Free((void*)filler[^3]);
        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer, buffer + BufferSize));
        filler.ForEach(p => f.Heap.Free((void*)p));
    }

    [Fact]
    public void A_layout_without_internal_8BIT_memory_cannot_add_regions()
    {
        var layout = HeapLayout.CreateBuilder("psram-only").WithAlignment(4)
            .AddRegion("SPIRAM", 64 * 1024, MallocCaps.Spiram | MallocCaps.Default, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32)
            .Build();
        using var f = new ChipFixture(layout);
        var buffer = (byte*)f.Heap.Malloc(BufferSize, MallocCaps.Spiram);

        Assert.Equal(HeapCapsResult.NoMemory, f.Heap.AddRegionWithCaps([MallocCaps.Pid2, 0, 0], buffer, buffer + BufferSize));
        Assert.Equal(0u, f.Heap.GetTotalSize(MallocCaps.Pid2)); // Nothing was added.
        Assert.Equal(64u * 1024, f.Heap.GetTotalSize(MallocCaps.None));
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

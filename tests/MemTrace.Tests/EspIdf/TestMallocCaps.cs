// Ports of ESP-IDF's test_malloc_caps.c (components/heap/test_apps/heap_tests/main), in its order.
// Not applicable, so not ported: "heap_caps_xxx functions work with flash cache disabled" (see the
// note after Heap_caps_metadata_test).
using System.Diagnostics;
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestMallocCaps
{
    [Fact]
    public void Capabilities_allocator_test()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var heap = f.Heap;
        var free8Start = heap.GetFreeSize(MallocCaps.Bit8);
        var free32Start = heap.GetFreeSize(MallocCaps.Bit32);
        Assert.True(free32Start >= free8Start);

        // 8-bit memory comes from DRAM and lowers both figures.
        var m1 = heap.Malloc(10 * 1024, MallocCaps.Bit8);
        Assert.True(heap.GetFreeSize(MallocCaps.Bit8) <= free8Start - (10 * 1024));
        Assert.True(heap.GetFreeSize(MallocCaps.Bit32) <= free32Start - (10 * 1024));
        Assert.True(f.InDram(m1));
        heap.Free(m1);

        // 32-bit memory comes from IRAM and leaves 8-bit memory alone.
        var freeIram = heap.GetFreeSize(MallocCaps.Internal) - heap.GetFreeSize(MallocCaps.Bit8 | MallocCaps.Internal);
        var alloc32 = Math.Min(freeIram / 2, 10 * 1024) & ~(nuint)3;
        Assert.True(freeIram > 0);
        m1 = heap.Malloc(alloc32, MallocCaps.Bit32);
        Assert.True(f.InIram(m1));
        Assert.True(heap.GetFreeSize(MallocCaps.Bit32) <= free32Start - alloc32);
        Assert.Equal(free8Start, heap.GetFreeSize(MallocCaps.Bit8));
        heap.Free(m1);

        // Impossible caps.
        Assert.True(heap.Malloc(10 * 1024, MallocCaps.Bit8 | MallocCaps.Exec) == null);

        // Priorities exhaust IRAM first, then go on in DRAM.
        var m2 = new nint[10];
        for (var x = 0; x < m2.Length; x++)
        {
            m2[x] = (nint)heap.Malloc(alloc32, MallocCaps.Bit32);
        }

        Assert.True(f.InIram((void*)m2[0]));
        Assert.True(f.InDram((void*)m2[9]));

        // Executable memory still comes from IRAM or D/IRAM with the dedicated IRAM depleted.
        freeIram = heap.GetFreeSize(MallocCaps.Exec);
        m1 = heap.Malloc(Math.Min(freeIram / 2, 10 * 1024), MallocCaps.Exec);
        Assert.True(f.InIram(m1) || f.InDiram(m1));
        foreach (var p in m2)
        {
            heap.Free((void*)p);
        }

        heap.Free(m1);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void IRAM_8BIT_capability_test()
    {
        // With CONFIG_ESP32_IRAM_AS_8BIT_ACCESSIBLE_MEMORY the IRAM type gains IRAM_8BIT; without it the cap has no memory.
        using (var plain = new ChipFixture(HeapLayout.Esp32()))
        {
            Assert.True(plain.Heap.Malloc(16, MallocCaps.Iram8Bit) == null);
        }

        var layout = HeapLayout.CreateBuilder("esp32-iram8bit").WithAlignment(4)
            .AddRegion("DRAM", 0x2D138, MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32)
            .AddRegion("IRAM", 0x16BB4, MallocCaps.Internal | MallocCaps.Exec | MallocCaps.Bit32 | MallocCaps.Iram8Bit)
            .Build();
        using var f = new ChipFixture(layout);
        var freeSize = f.Heap.GetFreeSize(MallocCaps.Iram8Bit);
        var freeSize32 = f.Heap.GetFreeSize(MallocCaps.Bit32);
        var largest = f.Heap.GetLargestFreeBlock(MallocCaps.Iram8Bit);

        var ptr = f.Heap.Malloc(largest, MallocCaps.Iram8Bit);

        Assert.True(f.InIram(ptr));
        Assert.True(f.Heap.GetFreeSize(MallocCaps.Iram8Bit) <= freeSize - f.Heap.GetAllocatedSize(ptr));
        Assert.True(f.Heap.GetFreeSize(MallocCaps.Bit32) <= freeSize32 - f.Heap.GetAllocatedSize(ptr));
        f.Heap.Free(ptr);
    }

    [Fact]
    public void Heap_caps_metadata_test()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var original = f.Heap.GetInfo(MallocCaps.Bit8);

        var b = f.Heap.Malloc(original.LargestFreeBlock, MallocCaps.Bit8);
        Assert.True(b != null);
        var after = f.Heap.GetInfo(MallocCaps.Bit8);
        Assert.True(after.LargestFreeBlock <= original.LargestFreeBlock);
        Assert.True(after.TotalFreeBytes <= original.TotalFreeBytes);

        f.Heap.Free(b);
        after = f.Heap.GetInfo(MallocCaps.Bit8);
        Assert.InRange((long)after.TotalFreeBytes - (long)original.TotalFreeBytes, -200, 200);
        Assert.InRange((long)after.LargestFreeBlock - (long)original.LargestFreeBlock, -200, 200);
        Assert.True(after.MinimumFreeBytes < original.TotalFreeBytes);
    }

    // "heap_caps_xxx functions work with flash cache disabled": NOT APPLICABLE, deliberately not ported.
    // On the chip, iram_malloc_test() runs from IRAM with the flash cache disabled
    // (spi_flash_guard_get()->start()) and does heap_caps_malloc(64, EXEC), heap_caps_realloc(x, 32, EXEC)
    // and heap_caps_free; it checks that the heap code and data were placed in IRAM/DRAM, not flash
    // (CONFIG_HEAP_PLACE_FUNCTION_INTO_FLASH off). The model has no flash, no cache and no code placement,
    // so nothing here could fail the way that test can; a port would pass whatever the model did. The
    // allocations it makes are covered by TestRealloc.Realloc_shrink_buffer_with_EXEC_CAPS.

    [Fact]
    public void Heap_caps_minimum_free_bytes_monitoring()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        const MallocCaps caps = MallocCaps.Default;
        var held = f.Heap.Malloc(2000, caps); // Lower the lifetime minimum first, as a running app would have.
        f.Heap.Free(held);
        var reference = f.Heap.GetMinimumFreeSize(caps);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStart());
        var local = f.Heap.GetMinimumFreeSize(caps);
        Assert.True(local >= reference);

        var ptr = f.Heap.Malloc(400, caps);
        Assert.True(ptr != null);
        f.Heap.Free(ptr);
        Assert.True(f.Heap.GetMinimumFreeSize(caps) <= local - 400);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStop());
        Assert.True(local >= f.Heap.GetMinimumFreeSize(caps));
        Assert.Equal(reference, f.Heap.GetMinimumFreeSize(caps));
    }

    [Fact]
    public void Heap_registered_after_startup_should_not_affect_minimum_free_size()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var invented = (MallocCaps)(1u << 29);
        var minimumBefore = f.Heap.GetMinimumFreeSize(MallocCaps.Default);
        var buffer = f.Heap.MallocDefault(3500);

        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([invented, 0, 0], buffer, (byte*)buffer + 3500));

        Assert.Equal(0u, f.Heap.GetMinimumFreeSize(invented));
        Assert.True(f.Heap.GetMinimumFreeSize(MallocCaps.Default) <= minimumBefore);
        Assert.True(f.Heap.Malloc(64, invented) != null);
    }

    [Fact]
    public void Heap_caps_minimum_free_bytes_fault_cases()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStart());
        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStart());
        Assert.Equal(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStop());
        Assert.NotEqual(HeapCapsResult.Ok, f.Heap.MonitorLocalMinimumFreeSizeStop());
    }

    [Fact]
    public void A_second_start_keeps_the_lower_saved_minimum()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var lifetime = f.Heap.GetMinimumFreeSize(MallocCaps.Default);
        f.Heap.MonitorLocalMinimumFreeSizeStart();
        var big = f.Heap.Malloc(100_000, MallocCaps.Default);
        f.Heap.Free(big);
        f.Heap.MonitorLocalMinimumFreeSizeStart(); // Saves min(lifetime, window) = the window's minimum.
        f.Heap.MonitorLocalMinimumFreeSizeStop();

        Assert.True(f.Heap.GetMinimumFreeSize(MallocCaps.Default) <= lifetime - 100_000);
    }

    [Fact]
    public void When_enabled_allocation_operation_failure_generates_an_abort()
    {
        var result = TestHost.Run("abort-on-allocation-failure");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Mem alloc fail. size 0x08000000 caps 0x00001000", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("callback ran", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("not reached", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void User_provided_alloc_failed_hook_must_be_called_when_allocation_fails()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        const nuint stupid = 128 * 1024 * 1024;

        var ptr = f.Heap.Malloc(stupid, MallocCaps.Default);
        ptr = f.Heap.Realloc(ptr, stupid, MallocCaps.Default);
        ptr = f.Heap.AlignedAlloc(0x200, stupid, MallocCaps.Default);

        Assert.True(ptr == null);
        Assert.Equal(["heap_caps_malloc", "heap_caps_realloc", "heap_caps_aligned_alloc"], f.Failures.Calls.Select(c => c.Function));
        Assert.All(f.Failures.Calls, c => Assert.Equal(stupid, c.Size));
    }

    [Fact]
    public void Allocation_with_invalid_capability_should_also_trigger_the_alloc_failed_hook()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var ptr = f.Heap.Malloc(64, MallocCaps.Invalid);
        ptr = f.Heap.Realloc(ptr, 64, MallocCaps.Invalid);
        ptr = f.Heap.AlignedAlloc(0x200, 64, MallocCaps.Invalid);

        Assert.True(ptr == null);
        Assert.Equal(3, f.Failures.Calls.Count);
        Assert.All(f.Failures.Calls, c => Assert.Equal(MallocCaps.Invalid, c.Caps));
    }

    [Fact]
    public void RTC_memory_should_be_lowest_priority_and_its_free_size_should_be_big_enough()
    {
        using var f = new ChipFixture(HeapLayout.Esp32S3());

        var ptr = f.Heap.Malloc(4 * 1024, MallocCaps.Default);

        Assert.True(ptr != null);
        Assert.NotEqual("RTCRAM", f.RegionOf(ptr));
        var minimumRtc = f.Heap.GetMinimumFreeSize(MallocCaps.Rtcram);
        var freeRtc = f.Heap.GetFreeSize(MallocCaps.Rtcram);
        Assert.Equal(minimumRtc, freeRtc);
        Assert.True(freeRtc >= 8 * 1024 * 8 / 10);
        f.Heap.Free(ptr);
    }

    [Fact]
    public void Test_memory_protection_features()
    {
        // On the ESP32 model (no memory protection) EXEC memory is IRAM; the ESP32-S3 model has
        // memory protection on, which leaves no executable heap.
        using (var f = new ChipFixture(HeapLayout.Esp32()))
        {
            var iram = f.Heap.Malloc(4, MallocCaps.Exec);
            Assert.True(f.InIram(iram));
            f.Heap.Free(iram);
        }

        using (var s3 = new ChipFixture(HeapLayout.Esp32S3()))
        {
            Assert.True(s3.Heap.Malloc(4, MallocCaps.Exec) == null);
        }
    }
}

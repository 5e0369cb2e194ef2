// heap_caps_*_prefer and the libc-style *_default functions on chip layouts.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsPreferTests
{
    [Fact]
    public void Malloc_prefer_takes_the_first_caps_that_succeed()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var p = f.Heap.MallocPrefer(100, MallocCaps.Exec | MallocCaps.Bit8, MallocCaps.Spiram, MallocCaps.Internal);

        Assert.True(f.InPsram(p));
        Assert.Empty(f.Failures.Calls);
        f.Heap.Free(p);
    }

    [Fact]
    public void When_every_option_fails_there_is_one_callback_with_the_last_caps_tried()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.True(f.Heap.MallocPrefer(100, MallocCaps.Spiram, MallocCaps.Rtcram) == null);
        Assert.True(f.Heap.MallocPrefer(100) == null);

        Assert.Equal([((nuint)100, MallocCaps.Rtcram, "heap_caps_malloc_prefer"), (100, MallocCaps.Default, "heap_caps_malloc_prefer")], f.Failures.Calls);
    }

    [Fact]
    public void Size_zero_stops_at_once_without_callback()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.True(f.Heap.MallocPrefer(0, MallocCaps.Default, MallocCaps.Internal) == null);
        Assert.True(f.Heap.CallocPrefer(8, 0, MallocCaps.Default) == null);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Calloc_prefer_zeroes_and_its_callback_gets_size_not_n_times_size()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = (byte*)f.Heap.CallocPrefer(10, 10, MallocCaps.Spiram, MallocCaps.Internal);
        Assert.True(new Span<byte>(p, 100).IndexOfAnyExcept((byte)0) < 0);

        Assert.True(f.Heap.CallocPrefer(1_000_000, 10, MallocCaps.Spiram, MallocCaps.Internal) == null);

        Assert.Equal([((nuint)10, MallocCaps.Internal, "heap_caps_calloc_prefer")], f.Failures.Calls);
        f.Heap.Free(p);
    }

    [Fact]
    public void Realloc_prefer_moves_to_the_first_caps_that_succeed_and_keeps_contents()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var p = (byte*)f.Heap.Malloc(64, MallocCaps.Internal);
        new Span<byte>(p, 64).Fill(0x77);

        var q = (byte*)f.Heap.ReallocPrefer(p, 128, MallocCaps.Rtcram, MallocCaps.Spiram);

        Assert.True(f.InPsram(q));
        Assert.True(new Span<byte>(q, 64).IndexOfAnyExcept((byte)0x77) < 0);
        Assert.True(f.Heap.ReallocPrefer(q, 0, MallocCaps.Default) == null); // Size 0 frees.
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void A_failed_realloc_prefer_keeps_the_block_and_calls_back_once()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = (byte*)f.Heap.Malloc(64, MallocCaps.Default);
        p[0] = 9;

        Assert.True(f.Heap.ReallocPrefer(p, 64, MallocCaps.Spiram, MallocCaps.Rtcram) == null);

        Assert.Single(f.Failures.Calls);
        Assert.Equal(9, p[0]);
        Assert.True(f.Heap.GetAllocatedSize(p) >= 64);
        f.Heap.Free(p);
    }

    [Fact]
    public void Realloc_prefer_of_a_freed_block_is_reported()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = f.Heap.Malloc(64, MallocCaps.Default);
        f.Heap.Free(p);

        Assert.True(f.Heap.ReallocPrefer(p, 128, MallocCaps.Default) == null);

        Assert.Equal(MemoryErrorKind.ReallocOfFreedBlock, Assert.Single(f.Heap.RecentErrors).Kind);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Malloc_default_keeps_small_requests_internal_and_sends_large_ones_to_PSRAM()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var small = f.Heap.MallocDefault(HeapLayout.DefaultAlwaysInternalLimit);
        var large = f.Heap.MallocDefault(HeapLayout.DefaultAlwaysInternalLimit + 1);

        Assert.True(f.InDram(small) || f.InDiram(small));
        Assert.True(f.InPsram(large));
        f.Heap.Free(small);
        f.Heap.Free(large);
    }

    [Fact]
    public void Malloc_default_falls_back_to_any_default_memory_and_calls_back_with_DEFAULT()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(2));

        var big = f.Heap.MallocDefault(1024 * 1024); // Only PSRAM can hold it.
        var tooBig = f.Heap.MallocDefault(3 * 1024 * 1024);

        Assert.True(f.InPsram(big));
        Assert.True(tooBig == null);
        Assert.Equal([((nuint)(3 * 1024 * 1024), MallocCaps.Default, "heap_caps_malloc_default")], f.Failures.Calls);
        f.Heap.Free(big);
    }

    [Fact]
    public void Without_PSRAM_malloc_default_is_malloc_with_DEFAULT_and_INTERNAL()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.True(f.Heap.MallocDefault(1024 * 1024) == null);

        Assert.Equal([((nuint)(1024 * 1024), MallocCaps.Default | MallocCaps.Internal, "heap_caps_malloc")], f.Failures.Calls);
    }

    [Fact]
    public void Malloc_extmem_enable_turns_PSRAM_on_for_malloc()
    {
        var layout = HeapLayout.CreateBuilder("psram-not-yet-enabled").WithAlignment(4)
            .AddRegion("DRAM", 64 * 1024, MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32)
            .AddRegion("SPIRAM", 1024 * 1024, MallocCaps.Spiram | MallocCaps.Default, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32, addedAtRuntime: true)
            .Build();
        using var f = new ChipFixture(layout);
        var before = f.Heap.MallocDefault(32 * 1024);
        Assert.Equal("DRAM", f.RegionOf(before));

        f.Heap.MallocExtmemEnable(16384);
        var after = f.Heap.MallocDefault(32 * 1024);

        Assert.Equal("SPIRAM", f.RegionOf(after));
        f.Heap.Free(before);
        f.Heap.Free(after);
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(uint.MaxValue)]
    public void A_layouts_PSRAM_threshold_at_the_disable_value_keeps_malloc_internal_as_MallocExtmemEnable_does(ulong disable)
    {
        // The builder took the value as given, so such a layout left PSRAM on for malloc() where MallocExtmemEnable with
        // the same value turned it off.
        var layout = HeapLayout.CreateBuilder("psram-disabled").WithAlignment(4)
            .AddRegion("DRAM", 64 * 1024, MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32)
            .AddRegion("SPIRAM", 1024 * 1024, MallocCaps.Spiram | MallocCaps.Default, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32, addedAtRuntime: true)
            .WithExternalMemoryAlwaysInternalLimit((nuint)disable)
            .Build();
        Assert.Null(layout.ExternalMemoryAlwaysInternalLimit);
        using var f = new ChipFixture(layout);

        Assert.True(f.Heap.MallocDefault(300_000) == null);
        Assert.Equal([(300_000u, MallocCaps.Default | MallocCaps.Internal, "heap_caps_malloc")], f.Failures.Calls);
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(uint.MaxValue)] // The chip's SIZE_MAX, which ESP-IDF stores in its int limit as -1.
    public void Malloc_extmem_enable_with_the_disable_value_keeps_malloc_internal_again(ulong disable)
    {
        // MALLOC_DISABLE_EXTERNAL_ALLOCS is -1: heap_caps_malloc_default is then heap_caps_malloc(size, DEFAULT|INTERNAL).
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var big = 300_000u;

        f.Heap.MallocExtmemEnable((nuint)disable);

        Assert.True(f.Heap.MallocDefault(big) == null);
        Assert.Equal([(big, MallocCaps.Default | MallocCaps.Internal, "heap_caps_malloc")], f.Failures.Calls);
        var small = f.Heap.MallocDefault(32 * 1024);
        Assert.False(f.InPsram(small));

        f.Heap.MallocExtmemEnable(16384);
        var again = f.Heap.MallocDefault(big);

        Assert.True(f.InPsram(again));
        f.Heap.Free(small);
        f.Heap.Free(again);
        Assert.True(f.Heap.CheckIntegrityAll(print: true));
    }

    [Fact]
    public void Realloc_default_records_the_caps_that_served_it()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var p = f.Heap.MallocDefault(20_000);
        Assert.True(f.InPsram(p));
        Assert.Equal(MallocCaps.Default | MallocCaps.Spiram, Assert.Single(tracker.GetAllocations()).Caps);

        var q = f.Heap.ReallocDefault(p, 10); // Up to the limit: DEFAULT|INTERNAL first, and it serves.

        Assert.False(f.InPsram(q));
        Assert.Equal(MallocCaps.Default | MallocCaps.Internal, Assert.Single(tracker.GetAllocations()).Caps);
        f.Heap.Free(q);
    }

    [Fact]
    public void Calloc_default_checks_overflow_and_zeroes()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var p = (byte*)f.Heap.CallocDefault(100, 200);
        Assert.True(new Span<byte>(p, 20000).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(f.InPsram(p));

        Assert.True(f.Heap.CallocDefault(nuint.MaxValue, 2) == null);
        f.Heap.Free(p);
    }

    [Fact]
    public void Realloc_default_moves_a_block_to_PSRAM_when_it_grows_past_the_threshold()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var p = (byte*)f.Heap.MallocDefault(100);
        Assert.False(f.InPsram(p));
        new Span<byte>(p, 100).Fill(3);

        var q = (byte*)f.Heap.ReallocDefault(p, 100_000);

        Assert.True(f.InPsram(q));
        Assert.True(new Span<byte>(q, 100).IndexOfAnyExcept((byte)3) < 0);
        Assert.True(f.Heap.ReallocDefault(q, 0) == null);
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }
}

// HeapCaps over the host layout: ESP-IDF's results for every edge case of heap_caps_*.
using System.Numerics;
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsHostTests
{
    [Fact]
    public void Malloc_returns_writable_16_byte_aligned_memory()
    {
        using var f = new HostFixture();

        var p = (byte*)f.Heap.Malloc(100, MallocCaps.Default);

        Assert.True(p != null);
        Assert.Equal(0u, (nuint)p % 16);
        new Span<byte>(p, 100).Fill(0x5A);
        Assert.All(new Span<byte>(p, 100).ToArray(), b => Assert.Equal(0x5A, b));
        Assert.True(f.Heap.GetAllocatedSize(p) >= 100);
        f.Heap.Free(p);
        Assert.Empty(f.Failures.Calls);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Theory]
    [InlineData(MallocCaps.Bit8)]
    [InlineData(MallocCaps.Bit32)]
    [InlineData(MallocCaps.Dma)]
    [InlineData(MallocCaps.Spiram)]
    [InlineData(MallocCaps.Internal)]
    [InlineData(MallocCaps.Default)]
    [InlineData(MallocCaps.Bit8 | MallocCaps.Dma | MallocCaps.Internal)]
    public void Host_region_accepts_the_caps_it_offers(MallocCaps caps)
    {
        using var f = new HostFixture();

        var p = f.Heap.Malloc(64, caps);

        Assert.True(p != null);
        f.Heap.Free(p);
    }

    [Theory]
    [InlineData(MallocCaps.Exec)]
    [InlineData(MallocCaps.Rtcram)]
    [InlineData(MallocCaps.Iram8Bit)]
    [InlineData(MallocCaps.Invalid)]
    [InlineData(MallocCaps.Default | MallocCaps.Invalid)]
    [InlineData(MallocCaps.Bit8 | MallocCaps.Retention)]
    public void Caps_no_region_offers_give_null_and_call_the_failure_callback(MallocCaps caps)
    {
        using var f = new HostFixture();

        var p = f.Heap.Malloc(64, caps);

        Assert.True(p == null);
        Assert.Equal([((nuint)64, caps, "heap_caps_malloc")], f.Failures.Calls);
    }

    [Fact]
    public void Caps_zero_match_no_region_at_any_priority_as_in_ESP_IDF()
    {
        using var f = new HostFixture();

        Assert.True(f.Heap.Malloc(16, MallocCaps.None) == null);
        Assert.Single(f.Failures.Calls);
    }

    [Theory]
    [InlineData(MallocCaps.Exec | MallocCaps.Bit8)]
    [InlineData(MallocCaps.Exec | MallocCaps.Dma)]
    public void Exec_with_8bit_or_DMA_is_impossible(MallocCaps caps)
    {
        using var f = new HostFixture();

        Assert.True(f.Heap.Malloc(32, caps) == null);
        Assert.Equal("heap_caps_malloc", Assert.Single(f.Failures.Calls).Function);
    }

    [Fact]
    public void Malloc_of_zero_gives_null_and_no_failure_callback()
    {
        using var f = new HostFixture();

        Assert.True(f.Heap.Malloc(0, MallocCaps.Default) == null);
        Assert.True(f.Heap.Calloc(0, 0, MallocCaps.Default) == null);
        Assert.True(f.Heap.Calloc(4, 0, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedAlloc(16, 0, MallocCaps.Default) == null);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Calloc_with_zero_elements_calls_back_with_size_zero_as_ESP_IDF_does()
    {
        // heap_caps_calloc calls the hook whenever the element size is not 0, with n * size.
        using var f = new HostFixture();

        Assert.True(f.Heap.Calloc(0, 8, MallocCaps.Default) == null);
        Assert.Equal([((nuint)0, MallocCaps.Default, "heap_caps_calloc")], f.Failures.Calls);
    }

    [Fact]
    public void Calloc_zeroes_and_multiplies()
    {
        using var f = new HostFixture();

        var p = (byte*)f.Heap.Calloc(10, 30, MallocCaps.Bit8);

        Assert.True(p != null);
        Assert.True(f.Heap.GetAllocatedSize(p) >= 300);
        Assert.True(new Span<byte>(p, 300).IndexOfAnyExcept((byte)0) < 0);
        f.Heap.Free(p);
    }

    [Theory]
    [InlineData(ulong.MaxValue / 2 + 4, 2ul)]
    [InlineData(ulong.MaxValue - 1, 2ul)]
    [InlineData(2ul, ulong.MaxValue - 1)]
    [InlineData(1ul << 32, 1ul << 32)]
    public void Calloc_overflow_gives_null_and_calls_back_with_the_wrapped_product(ulong n, ulong size)
    {
        using var f = new HostFixture();

        Assert.True(f.Heap.Calloc((nuint)n, (nuint)size, MallocCaps.Default) == null);
        var call = Assert.Single(f.Failures.Calls);
        Assert.Equal(unchecked((nuint)(n * size)), call.Size);
        Assert.Equal("heap_caps_calloc", call.Function);
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(ulong.MaxValue - 1)]
    [InlineData(ulong.MaxValue / 2)]
    [InlineData(ulong.MaxValue - 256)]
    public void Unreasonable_allocs_should_all_fail(ulong size)
    {
        // ESP-IDF test_malloc.c "alloc overflows should all fail" / "unreasonable allocs should all fail".
        using var f = new HostFixture();

        Assert.True(f.Heap.Malloc((nuint)size, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc((nuint)size, MallocCaps.Bit32) == null);
        Assert.Equal(2, f.Failures.Calls.Count);
        Assert.All(f.Failures.Calls, c => Assert.Equal((nuint)size, c.Size));
    }

    [Fact]
    public void Realloc_of_null_is_malloc()
    {
        using var f = new HostFixture();

        var p = f.Heap.Realloc(null, 40, MallocCaps.Default);

        Assert.True(p != null);
        Assert.True(f.Heap.GetAllocatedSize(p) >= 40);
        f.Heap.Free(p);
    }

    [Fact]
    public void Realloc_to_zero_frees_and_gives_null_without_callback()
    {
        using var f = new HostFixture();
        var p = f.Heap.Malloc(40, MallocCaps.Default);

        Assert.True(f.Heap.Realloc(p, 0, MallocCaps.Default) == null);

        Assert.Equal(0u, f.Heap.GetAllocatedSize(p));
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Realloc_keeps_contents_when_growing_and_shrinking()
    {
        using var f = new HostFixture();
        var p = (byte*)f.Heap.Malloc(64, MallocCaps.Default);
        for (var i = 0; i < 64; i++)
        {
            p[i] = (byte)i;
        }

        var grown = (byte*)f.Heap.Realloc(p, 100_000, MallocCaps.Default);
        Assert.True(grown != null);
        for (var i = 0; i < 64; i++)
        {
            Assert.Equal((byte)i, grown[i]);
        }

        var shrunk = (byte*)f.Heap.Realloc(grown, 16, MallocCaps.Default);
        Assert.True(shrunk != null);
        for (var i = 0; i < 16; i++)
        {
            Assert.Equal((byte)i, shrunk[i]);
        }

        Assert.Equal(1u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        f.Heap.Free(shrunk);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void A_failed_realloc_leaves_the_block_intact_and_calls_back()
    {
        using var f = new HostFixture();
        var p = (byte*)f.Heap.Malloc(32, MallocCaps.Default);
        new Span<byte>(p, 32).Fill(0xA5);

        Assert.True(f.Heap.Realloc(p, nuint.MaxValue - 8, MallocCaps.Default) == null);

        Assert.Equal([(nuint.MaxValue - 8, MallocCaps.Default, "heap_caps_realloc")], f.Failures.Calls);
        Assert.True(f.Heap.GetAllocatedSize(p) >= 32);
        Assert.True(new Span<byte>(p, 32).IndexOfAnyExcept((byte)0xA5) < 0);
        f.Heap.Free(p);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void A_realloc_that_the_native_heap_refuses_leaves_the_block_intact()
    {
        using var f = new HostFixture();
        var p = (byte*)f.Heap.Malloc(32, MallocCaps.Default);
        new Span<byte>(p, 32).Fill(0x3C);

        // Below the layout's limit, above what any machine can give.
        Assert.True(f.Heap.Realloc(p, (nuint)1 << 60, MallocCaps.Default) == null);

        Assert.Single(f.Failures.Calls);
        Assert.True(new Span<byte>(p, 32).IndexOfAnyExcept((byte)0x3C) < 0);
        f.Heap.Free(p);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Realloc_to_caps_the_region_lacks_fails_and_keeps_the_block()
    {
        using var f = new HostFixture();
        var p = f.Heap.Malloc(32, MallocCaps.Default);

        Assert.True(f.Heap.Realloc(p, 64, MallocCaps.Exec) == null);

        Assert.Equal("heap_caps_realloc", Assert.Single(f.Failures.Calls).Function);
        Assert.True(f.Heap.GetAllocatedSize(p) >= 32);
        f.Heap.Free(p);
    }

    public static TheoryData<ulong> PowersOfTwo()
    {
        var data = new TheoryData<ulong>();
        for (var a = 1ul; a <= 4096; a <<= 1)
        {
            data.Add(a);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PowersOfTwo))]
    public void Aligned_alloc_honours_every_power_of_two(ulong alignment)
    {
        // ESP-IDF test_aligned_alloc_caps.c: a-aligned, with a+137 bytes writable.
        using var f = new HostFixture();
        var size = (nuint)(alignment + 137);

        var p = (byte*)f.Heap.AlignedAlloc((nuint)alignment, size, MallocCaps.Default);
        var z = (byte*)f.Heap.AlignedCalloc((nuint)alignment, 1, size, MallocCaps.Default);

        Assert.True(p != null && z != null);
        Assert.Equal(0ul, (ulong)p % alignment);
        Assert.Equal(0ul, (ulong)z % alignment);
        new Span<byte>(p, (int)size).Fill(0xEE);
        Assert.True(new Span<byte>(z, (int)size).IndexOfAnyExcept((byte)0) < 0);
        f.Heap.Free(p);
        f.Heap.Free(z);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Theory]
    [InlineData(0ul)]
    [InlineData(3ul)]
    [InlineData(24ul)]
    [InlineData(1000ul)]
    [InlineData(ulong.MaxValue)]
    public void Aligned_alloc_with_bad_alignment_gives_null_and_no_callback(ulong alignment)
    {
        using var f = new HostFixture();

        Assert.True(f.Heap.AlignedAlloc((nuint)alignment, 64, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc((nuint)alignment, 2, 32, MallocCaps.Default) == null);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Aligned_calloc_overflow_gives_null_and_no_callback()
    {
        using var f = new HostFixture();

        Assert.True(f.Heap.AlignedCalloc(64, nuint.MaxValue / 2 + 4, 2, MallocCaps.Default) == null);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Aligned_blocks_can_be_reallocated_and_keep_their_alignment()
    {
        using var f = new HostFixture();
        var p = (byte*)f.Heap.AlignedAlloc(256, 100, MallocCaps.Default);
        p[0] = 42;

        var q = (byte*)f.Heap.Realloc(p, 100_000, MallocCaps.Default);

        Assert.True(q != null);
        Assert.Equal(42, q[0]);
        Assert.Equal(0u, (nuint)q % 256);
        f.Heap.Free(q);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Free_of_null_is_a_no_op()
    {
        using var f = new HostFixture();

        f.Heap.Free(null);

        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Register_failed_alloc_callback_rejects_null_and_replaces_the_previous_one()
    {
        using var f = new HostFixture();
        var second = new FailedAllocations();

        Assert.Throws<ArgumentNullException>(() => f.Heap.RegisterFailedAllocCallback(null!));
        f.Heap.RegisterFailedAllocCallback(second.Record);
        f.Heap.Malloc(1, MallocCaps.Exec);

        Assert.Empty(f.Failures.Calls);
        Assert.Single(second.Calls);
    }

    [Fact]
    public void Info_counts_live_host_blocks_and_reports_free_figures_as_unbounded()
    {
        using var f = new HostFixture();
        var a = f.Heap.Malloc(10, MallocCaps.Default);
        var b = f.Heap.Malloc(100, MallocCaps.Default);

        var info = f.Heap.GetInfo(MallocCaps.Default);

        Assert.True(info.IsUnbounded);
        Assert.Equal(2u, info.AllocatedBlocks);
        Assert.Equal(16u + 112u, info.TotalAllocatedBytes);
        Assert.Equal(nuint.MaxValue, info.TotalFreeBytes);
        Assert.Equal(nuint.MaxValue, f.Heap.GetFreeSize(MallocCaps.Default));
        Assert.Equal(nuint.MaxValue, f.Heap.GetLargestFreeBlock(MallocCaps.Default));
        Assert.Equal(nuint.MaxValue, f.Heap.GetMinimumFreeSize(MallocCaps.Default));
        Assert.Equal(nuint.MaxValue, f.Heap.GetTotalSize(MallocCaps.Default));
        Assert.Equal(0u, f.Heap.GetTotalSize(MallocCaps.Exec));
        Assert.Equal(default, f.Heap.GetInfo(MallocCaps.Exec));
        f.Heap.Free(a);
        f.Heap.Free(b);
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.Default).AllocatedBlocks);
    }

    [Fact]
    public void Print_heap_info_uses_ESP_IDF_format_and_says_unbounded()
    {
        using var f = new HostFixture();
        var p = f.Heap.Malloc(48, MallocCaps.Default);
        var output = new StringWriter();

        f.Heap.PrintHeapInfo(MallocCaps.Default, output);

        var text = output.ToString();
        Assert.StartsWith("Heap summary for capabilities 0x00001000:", text, StringComparison.Ordinal);
        Assert.Contains("len unbounded free unbounded allocated 48 min_free unbounded", text, StringComparison.Ordinal);
        Assert.Contains("largest_free_block unbounded alloc_blocks 1 free_blocks 0 total_blocks 1", text, StringComparison.Ordinal);
        Assert.Contains("  Totals:", text, StringComparison.Ordinal);
        f.Heap.Free(p);
    }

    [Fact]
    public void Walk_like_statistics_survive_many_blocks()
    {
        using var f = new HostFixture();
        var blocks = new List<nint>();
        for (var i = 0; i < 10_000; i++)
        {
            blocks.Add((nint)f.Heap.Malloc((nuint)(1 + (i % 300)), MallocCaps.Default));
        }

        Assert.Equal(10_000u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        foreach (var p in blocks)
        {
            f.Heap.Free((void*)p);
        }

        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void A_disposed_heap_refuses_work()
    {
        var heap = new HeapCaps(HeapLayout.Host());
        heap.Dispose();

        Assert.Throws<ObjectDisposedException>(() => heap.Malloc(1, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => heap.Free((void*)16));
        Assert.Throws<ObjectDisposedException>(() => heap.GetInfo(MallocCaps.Default));
        heap.Dispose();
    }

    [Fact]
    public void Disposing_the_heap_releases_blocks_still_live()
    {
        var heap = new HeapCaps(HeapLayout.Host());
        for (var i = 0; i < 100; i++)
        {
            heap.Malloc(1000, MallocCaps.Default);
        }

        heap.Dispose(); // Under a leak checker (valgrind) nothing of these remains.
        Assert.Throws<ObjectDisposedException>(() => heap.GetInfo(MallocCaps.None));
    }
}

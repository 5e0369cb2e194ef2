// size_t is 32 bits on the chip and 64 on the PC that runs MemTrace. A chip layout computes what the chip computes in
// its size_t (a calloc's n * size: overflow checked and wrapped at 32 bits, heap_caps_calloc, heap_caps_aligned_calloc,
// calloc()), and takes a size that only a 64-bit caller can pass as a size above HEAP_SIZE_MAX: null, and the failure
// callback with the size as given. A layout with a process-heap region keeps 64-bit arithmetic.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsChipSizeWidthTests
{
    private const ulong Bit32 = 1ul << 32;

    private static readonly nuint Big = (nuint)1 << 32;

    [Theory]
    [InlineData(65536ul, 65537ul, 65536ul)]
    [InlineData(65536ul, 65536ul, 0ul)]
    [InlineData(3ul, 0x55555556ul, 2ul)]
    [InlineData(0x55555556ul, 3ul, 2ul)]
    public void A_calloc_whose_product_overflows_32_bits_fails_as_on_the_chip(ulong n, ulong size, ulong wrapped)
    {
        // heap_caps.c: heap_caps_calloc calls heap_caps_alloc_failed(n * size, …) when size > 0, with the product as the
        // chip's size_t wraps it; heap_caps_calloc_prefer calls it with size; heap_caps_aligned_calloc and calloc() return
        // NULL on __builtin_mul_overflow before anything can call it. MemTrace multiplied in 64 bits: no overflow, a
        // request of 4 GiB and more that failed as too large, the callback for all four with the 64-bit product.
        foreach (var layout in (HeapLayout[])[HeapLayout.Esp32(), HeapLayout.Esp32(psramMiB: 4), HeapLayout.Esp32S3(psramMiB: 8)])
        {
            using var f = new ChipFixture(layout);
            var before = Snapshot(f.Heap);

            Assert.True(f.Heap.Calloc((nuint)n, (nuint)size, MallocCaps.Default) == null);
            Assert.True(f.Heap.CallocPrefer((nuint)n, (nuint)size, MallocCaps.Spiram, MallocCaps.Default) == null);
            Assert.True(f.Heap.AlignedCalloc(16, (nuint)n, (nuint)size, MallocCaps.Default) == null);
            Assert.True(f.Heap.CallocDefault((nuint)n, (nuint)size) == null);

            Assert.Equal(
                [((nuint)wrapped, MallocCaps.Default, "heap_caps_calloc"), ((nuint)size, MallocCaps.Default, "heap_caps_calloc_prefer")],
                f.Failures.Calls);
            Assert.Equal(before, Snapshot(f.Heap));
            Assert.True(f.Heap.CheckIntegrityAll(print: false));
        }
    }

    [Fact]
    public void A_calloc_whose_product_just_fits_32_bits_is_a_request_of_that_size()
    {
        // 0x10001 × 0xFFFF = 0xFFFFFFFF: no overflow on the chip, a request above HEAP_SIZE_MAX, the callback with it.
        using var f = new ChipFixture(HeapLayout.Esp32(psramMiB: 4));

        Assert.True(f.Heap.Calloc(0x10001, 0xFFFF, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(16, 0x10001, 0xFFFF, MallocCaps.Default) == null);
        Assert.True(f.Heap.CallocDefault(0x10001, 0xFFFF) == null);

        Assert.Equal(
            [(0xFFFFFFFF, MallocCaps.Default, "heap_caps_calloc"), (0xFFFFFFFF, MallocCaps.Default, "heap_caps_aligned_alloc"), (0xFFFFFFFF, MallocCaps.Default, "heap_caps_malloc_default")],
            f.Failures.Calls.Select(c => ((ulong)c.Size, c.Caps, c.Function)));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Theory]
    [InlineData(1ul, Bit32 + 5)]
    [InlineData(Bit32 + 5, 1ul)]
    [InlineData(2ul, Bit32)]
    [InlineData(Bit32 - 1, Bit32 - 1)] // Factors that fit: an overflow, for contrast (wraps to 1).
    public void A_calloc_factor_only_a_64_bit_caller_can_pass_is_a_request_above_HEAP_SIZE_MAX(ulong n, ulong size)
    {
        // No chip caller can pass such a factor, so it is not wrapped into a small product: the request fails as a
        // malloc of a size above HEAP_SIZE_MAX does, every calloc calling the callback with the whole product.
        using var f = new ChipFixture(HeapLayout.Esp32(psramMiB: 4));
        var before = Snapshot(f.Heap);
        var fits = n < Bit32 && size < Bit32;

        Assert.True(f.Heap.Calloc((nuint)n, (nuint)size, MallocCaps.Default) == null);
        Assert.True(f.Heap.CallocPrefer((nuint)n, (nuint)size, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(16, (nuint)n, (nuint)size, MallocCaps.Default) == null);
        Assert.True(f.Heap.CallocDefault((nuint)n, (nuint)size) == null);

        var product = n * size;
        Assert.Equal(
            fits
                ? [(1ul, "heap_caps_calloc"), (size, "heap_caps_calloc_prefer")]
                : [(product, "heap_caps_calloc"), (size, "heap_caps_calloc_prefer"), (product, "heap_caps_aligned_alloc"), (product, "heap_caps_malloc_default")],
            f.Failures.Calls.Select(c => ((ulong)c.Size, c.Function)));
        Assert.Equal(before, Snapshot(f.Heap));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void A_layout_with_a_process_heap_region_keeps_64_bit_products()
    {
        // A small limit keeps the host region from being asked for 4 GiB: the request fails as too large.
        var layout = HeapLayout.CreateBuilder("small-host").AddHostRegion("host", HeapLayout.HostCaps).WithMaxAllocationSize(1 << 20).Build();
        using var heap = new HeapCaps(layout);
        var failures = new FailedAllocations();
        heap.RegisterFailedAllocCallback(failures.Record);

        Assert.True(heap.Calloc(65536, 65537, MallocCaps.Default) == null);
        Assert.True(heap.AlignedCalloc(16, 65536, 65537, MallocCaps.Default) == null);
        Assert.True(heap.CallocDefault(65536, 65537) == null);
        Assert.True(heap.Calloc(2, (nuint)1 << 63, MallocCaps.Default) == null); // Overflows 64 bits: the wrapped product.

        Assert.Equal([(65536ul * 65537, "heap_caps_calloc"), (65536ul * 65537, "heap_caps_aligned_alloc"), (65536ul * 65537, "heap_caps_malloc"), (0ul, "heap_caps_calloc")],
            failures.Calls.Select(c => ((ulong)c.Size, c.Function)));
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Theory]
    [InlineData(Bit32)]
    [InlineData(Bit32 + 1)]
    [InlineData(Bit32 + 0x400000)]
    [InlineData(ulong.MaxValue)]
    [InlineData(0x400001ul)] // Just above the ESP32's HEAP_SIZE_MAX: the model for the sizes above.
    public void A_size_only_a_64_bit_caller_can_pass_fails_as_a_size_above_HEAP_SIZE_MAX(ulong size)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(psramMiB: 4));
        var keep = f.Heap.Malloc(100, MallocCaps.Default);
        new Span<byte>(keep, 100).Fill(0x5A);
        var before = Snapshot(f.Heap);
        var s = (nuint)size;

        Assert.True(f.Heap.Malloc(s, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc(s, MallocCaps.Exec) == null);
        Assert.True(f.Heap.Malloc(s, MallocCaps.Dma) == null);
        Assert.True(f.Heap.Realloc(null, s, MallocCaps.Default) == null);
        Assert.True(f.Heap.Realloc(keep, s, MallocCaps.Default) == null);
        Assert.True(f.Heap.Realloc(keep, s, MallocCaps.Spiram | MallocCaps.Dma) == null);
        Assert.True(f.Heap.AlignedAlloc(64, s, MallocCaps.Default) == null);
        Assert.True(f.Heap.MallocPrefer(s, MallocCaps.Spiram, MallocCaps.Default) == null);
        Assert.True(f.Heap.ReallocPrefer(keep, s, MallocCaps.Spiram, MallocCaps.Default) == null);
        Assert.True(f.Heap.ReallocPrefer(null, s, MallocCaps.Spiram, MallocCaps.Default) == null);
        Assert.True(f.Heap.MallocDefault(s) == null);
        Assert.True(f.Heap.ReallocDefault(keep, s) == null);
        Assert.True(f.Heap.ReallocDefault(null, s) == null);
        Assert.True(f.Heap.AlignedAllocDefault(64, s) == null);

        Assert.Equal(
            [
                (s, MallocCaps.Default, "heap_caps_malloc"),
                (s, MallocCaps.Exec, "heap_caps_malloc"),
                (s, MallocCaps.Dma, "heap_caps_malloc"),
                (s, MallocCaps.Default, "heap_caps_realloc"),
                (s, MallocCaps.Default, "heap_caps_realloc"),
                (s, MallocCaps.Spiram | MallocCaps.Dma, "heap_caps_realloc"),
                (s, MallocCaps.Default, "heap_caps_aligned_alloc"),
                (s, MallocCaps.Default, "heap_caps_malloc_prefer"),
                (s, MallocCaps.Default, "heap_caps_realloc_prefer"),
                (s, MallocCaps.Default, "heap_caps_realloc_prefer"),
                (s, MallocCaps.Default, "heap_caps_malloc_default"),
                (s, MallocCaps.Default, "heap_caps_realloc_default"),
                (s, MallocCaps.Default, "heap_caps_realloc_default"),
                (s, MallocCaps.Default, "heap_caps_aligned_alloc_default"),
            ],
            f.Failures.Calls);
        Assert.Equal(before, Snapshot(f.Heap));
        Assert.True(new Span<byte>(keep, 100).IndexOfAnyExcept((byte)0x5A) < 0);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        f.Heap.Free(keep);
    }

    [Fact]
    public void The_tracker_logs_a_calloc_that_overflows_32_bits_with_both_factors_and_a_large_malloc_with_its_size()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(psramMiB: 4));
        var output = new StringWriter();
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = output });
        var seen = new List<AllocationRequest>();
        tracker.AllocationHook = (in AllocationRequest request) =>
        {
            seen.Add(request);
            return true;
        };
        var before = Snapshot(f.Heap);

        Assert.False(tracker.Calloc(out byte* table, 65536, 65537, MallocCaps.Default));
        Assert.True(f.Heap.Calloc(65536, 65537, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(16, 65536, 65537, MallocCaps.Default) == null);
        Assert.True(f.Heap.CallocPrefer(65536, 65537, MallocCaps.Default) == null);
        Assert.True(f.Heap.CallocDefault(65536, 65537) == null);
        Assert.False(tracker.Malloc(out byte* big, Big, MallocCaps.Default));
        var kept = (byte*)tracker.Malloc(16, MallocCaps.Default);
        var original = kept;
        Assert.False(tracker.Realloc(ref kept, Big + 1, MallocCaps.Default));

        Assert.True(kept == original);
        Assert.Equal([nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, Big, 16, Big + 1], seen.Select(r => r.Size));
        Assert.Equal([nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, Big, Big + 1], tracker.FailedAllocations.Select(r => r.Size));
        var log = output.ToString();
        Assert.Contains("heap_caps_calloc of 65536 x 65537 bytes (overflows)", log, StringComparison.Ordinal);
        Assert.Contains("heap_caps_aligned_calloc of 65536 x 65537 bytes (overflows)", log, StringComparison.Ordinal);
        Assert.Contains("heap_caps_calloc_prefer of 65536 x 65537 bytes (overflows)", log, StringComparison.Ordinal);
        Assert.Contains("heap_caps_malloc_default of 65536 x 65537 bytes (overflows)", log, StringComparison.Ordinal);
        Assert.Contains("heap_caps_malloc of 4294967296 bytes", log, StringComparison.Ordinal);
        Assert.Contains("heap_caps_realloc of 4294967297 bytes", log, StringComparison.Ordinal);
        Assert.Equal(
            [(65536u, "heap_caps_calloc"), (65536u, "heap_caps_calloc"), (65537u, "heap_caps_calloc_prefer"), (Bit32, "heap_caps_malloc"), (Bit32 + 1, "heap_caps_realloc")],
            f.Failures.Calls.Select(c => ((ulong)c.Size, c.Function)));
        tracker.Free(ref kept);
        Assert.Equal(before, Snapshot(f.Heap));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void A_refused_calloc_that_overflows_32_bits_calls_the_callback_as_a_real_one()
    {
        using var real = new ChipFixture(HeapLayout.Esp32(psramMiB: 4));
        using var refused = new ChipFixture(HeapLayout.Esp32(psramMiB: 4));
        using var realTracker = new MemoryTracker(real.Heap, new MemoryTrackerOptions { Output = null });
        using var refusingTracker = new MemoryTracker(refused.Heap, new MemoryTrackerOptions { Output = null });
        refusingTracker.AllocationHook = (in AllocationRequest r) => false;
        foreach (var (f, t) in ((ChipFixture, MemoryTracker)[])[(real, realTracker), (refused, refusingTracker)])
        {
            Assert.True(t.Calloc(65536, 65537, MallocCaps.Default) == null);
            Assert.True(f.Heap.Calloc(65536, 65537, MallocCaps.Default) == null);
            Assert.True(f.Heap.AlignedCalloc(16, 65536, 65537, MallocCaps.Default) == null);
            Assert.True(f.Heap.CallocDefault(65536, 65537) == null);
            Assert.True(f.Heap.CheckIntegrityAll(print: false));
        }

        Assert.Equal([(65536u, "heap_caps_calloc"), (65536u, "heap_caps_calloc")], real.Failures.Calls.Select(c => ((ulong)c.Size, c.Function)));
        Assert.Equal(real.Failures.Calls, refused.Failures.Calls);
    }

    [Theory]
    [InlineData(0xFFFFFFFDul, (uint)MallocCaps.Dma, "esp32")]
    [InlineData(0xFFFFFFFFul, (uint)(MallocCaps.Dma | MallocCaps.Internal), "esp32")]
    [InlineData(0xFFFFFFE1ul, (uint)(MallocCaps.CacheAligned | MallocCaps.Spiram), "esp32s3-psram2m")]
    [InlineData(0xFFFFFFF1ul, (uint)(MallocCaps.Simd | MallocCaps.Spiram), "esp32s3-psram2m")]
    public void A_realloc_whose_size_the_hardware_alignment_would_wrap_to_0_fails_and_keeps_the_block(ulong size, uint caps, string layout)
    {
        // On the chip, heap_caps_realloc_base first lets esp_heap_adjust_alignment_to_hw round the size up to the DMA,
        // cache or SIMD alignment in its 32-bit size_t: (size + alignment - 1) & ~(alignment - 1) wraps to 0 for these
        // sizes, and the next check, if (size == 0) { heap_caps_free(ptr); return NULL; }, frees the block while the
        // caller is told the realloc failed (heap_caps_realloc still calls the failure callback with the size as given).
        // MemTrace keeps the block, as for any other size above HEAP_SIZE_MAX (README: a failed realloc leaves the block
        // intact); found by the differential run against heap_caps_base.c, where the later free was a double free.
        using var f = new ChipFixture(HeapLayout.FromName(layout));
        var block = f.Heap.Malloc(100, (MallocCaps)caps);
        Assert.True(block != null);
        var before = Snapshot(f.Heap);

        Assert.True(f.Heap.Realloc(block, (nuint)size, (MallocCaps)caps) == null);
        Assert.True(f.Heap.ReallocPrefer(block, (nuint)size, (MallocCaps)caps, MallocCaps.Default) == null);

        Assert.Equal(before, Snapshot(f.Heap));
        Assert.NotEqual(0u, (uint)f.Heap.GetAllocatedSize(block));
        Assert.Equal(
            [(size, (MallocCaps)caps, "heap_caps_realloc"), (size, MallocCaps.Default, "heap_caps_realloc_prefer")],
            f.Failures.Calls.Select(c => ((ulong)c.Size, c.Caps, c.Function)));
        f.Heap.Free(block);
        Assert.Equal("", f.Errors.ToString());
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    private static (nuint Free, nuint Allocated, nuint Blocks) Snapshot(HeapCaps heap)
    {
        var info = heap.GetInfo(MallocCaps.None);
        return (info.TotalFreeBytes, info.TotalAllocatedBytes, info.AllocatedBlocks);
    }
}

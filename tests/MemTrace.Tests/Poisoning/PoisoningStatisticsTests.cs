// Statistics and clearing with poisoning: ESP-IDF's subtraction of the overhead at every level, the
// process heap's figures, the quarantine's held blocks, and the seed's zeroing on Free(ref).
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningStatisticsTests
{
    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void On_the_chip_every_figure_loses_12_bytes_per_block_or_per_region(PoisoningLevel level)
    {
        // The same inner blocks: 112 bytes on the plain heap, 100 + 12 of poisoning on the other.
        using var plain = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var poisoned = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        var big = plain.Malloc(2000, MallocCaps.Default);
        var bigPoisoned = poisoned.Malloc(1988, MallocCaps.Default);
        plain.Free(big);
        poisoned.Free(bigPoisoned);
        var p = plain.Malloc(112, MallocCaps.Default);
        var q = poisoned.Malloc(100, MallocCaps.Default);

        var a = plain.GetInfo(MallocCaps.Default);
        var b = poisoned.GetInfo(MallocCaps.Default);

        const int regions = 4; // 2 DRAM and 2 D/IRAM regions have DEFAULT.
        Assert.Equal(a.AllocatedBlocks, b.AllocatedBlocks);
        Assert.Equal(a.TotalAllocatedBytes - 12, b.TotalAllocatedBytes);
        Assert.Equal(a.TotalFreeBytes - (regions * 12), b.TotalFreeBytes);
        Assert.Equal(a.MinimumFreeBytes - (regions * 12), b.MinimumFreeBytes);
        Assert.Equal(a.LargestFreeBlock - 12, b.LargestFreeBlock);
        Assert.Equal(plain.GetFreeSize(MallocCaps.Default) - (regions * 12), poisoned.GetFreeSize(MallocCaps.Default));
        Assert.Equal(plain.GetMinimumFreeSize(MallocCaps.Default) - (regions * 12), poisoned.GetMinimumFreeSize(MallocCaps.Default));
        Assert.True(b.MinimumFreeBytes < b.TotalFreeBytes); // The 2000-byte block lowered it.
        plain.Free(p);
        poisoned.Free(q);
    }

    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void On_the_process_heap_the_figures_count_blocks_and_their_bytes_without_the_overhead(PoisoningLevel level)
    {
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        var p = heap.Malloc(100, MallocCaps.Default);
        var q = heap.Malloc(40, MallocCaps.Default);

        var info = heap.GetInfo(MallocCaps.Default);

        Assert.Equal(2u, info.AllocatedBlocks);
        Assert.Equal((128u - 20) + (64 - 20), info.TotalAllocatedBytes); // Usable bytes (request + 20, rounded to 16) less 20 each.
        Assert.True(info.IsUnbounded);
        Assert.Equal(nuint.MaxValue, info.TotalFreeBytes);
        Assert.Equal(nuint.MaxValue, info.MinimumFreeBytes);
        Assert.Equal(nuint.MaxValue, heap.GetMinimumFreeSize(MallocCaps.Default));
        heap.Free(p);
        heap.Free(q);
        Assert.Equal(0u, heap.GetInfo(MallocCaps.Default).AllocatedBlocks);
        Assert.Equal(0u, heap.GetInfo(MallocCaps.Default).TotalAllocatedBytes);
    }

    [Theory]
    [InlineData(PoisoningLevel.Light, false)]
    [InlineData(PoisoningLevel.Comprehensive, false)]
    [InlineData(PoisoningLevel.Light, true)]
    public void On_the_process_heap_an_aligned_block_counts_its_bytes_not_the_gap_before_its_head(PoisoningLevel level, bool quarantine)
    {
        // The inner block of an aligned block on the host is aligned itself, the gap in front of the head inside it: the
        // figures counted that gap as allocated bytes (a 100-byte block aligned to 1 MiB counted as 1 MiB).
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine ? new QuarantineOptions() : null, ErrorOutput = null });
        var p = heap.Malloc(100, MallocCaps.Default);
        var a = heap.AlignedAlloc(1 << 20, 100, MallocCaps.Default);
        var b = heap.AlignedAlloc(256, 40, MallocCaps.Default);
        var freed = heap.AlignedAlloc(4096, 40, MallocCaps.Default);
        heap.Free(freed); // Quarantined (or given back): not counted either way.

        var info = heap.GetInfo(MallocCaps.Default);

        Assert.Equal(3u, info.AllocatedBlocks);
        Assert.Equal(heap.GetAllocatedSize(p) + heap.GetAllocatedSize(a) + heap.GetAllocatedSize(b), info.TotalAllocatedBytes);
        Assert.Equal((128u - 20) + (128 - 20) + (64 - 20), info.TotalAllocatedBytes);
        heap.Free(p);
        heap.Free(a);
        heap.Free(b);
        Assert.Equal(0u, heap.GetInfo(MallocCaps.Default).TotalAllocatedBytes);
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void Quarantined_and_set_aside_blocks_are_not_counted_as_allocated(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, Quarantine = new QuarantineOptions { MaxBlocks = 2 }, ErrorOutput = null });
        var kept = heap.Malloc(100, MallocCaps.Default);
        var empty = heap.GetInfo(MallocCaps.Default);
        var damaged = (byte*)heap.Malloc(40, MallocCaps.Default);
        damaged[40] = 0;
        heap.Free(damaged); // Set aside.
        var quarantined = heap.Malloc(40, MallocCaps.Default);
        heap.Free(quarantined); // Held by the quarantine.

        var info = heap.GetInfo(MallocCaps.Default);

        Assert.Equal(1u, info.AllocatedBlocks);
        Assert.Equal(empty.TotalAllocatedBytes, info.TotalAllocatedBytes);
        Assert.Equal(info.AllocatedBlocks + info.FreeBlocks, info.TotalBlocks);
        if (layout == "esp32")
        {
            Assert.True(info.TotalFreeBytes < empty.TotalFreeBytes - 80); // Held memory is not free.
        }

        heap.Free(kept);
    }

    [Theory]
    [InlineData(PoisoningLevel.None, true, 0x00)]
    [InlineData(PoisoningLevel.Light, true, 0x00)]
    [InlineData(PoisoningLevel.Light, false, 0xAB)]
    [InlineData(PoisoningLevel.Comprehensive, true, 0xFE)]
    [InlineData(PoisoningLevel.Comprehensive, false, 0xFE)]
    public void A_tracked_free_zeroes_a_light_block_as_the_seed_does_and_comprehensive_fills_it(PoisoningLevel level, bool clearOnFree, byte expected)
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ClearOnFree = clearOnFree });
        tracker.Malloc(out byte* secret, 64, MallocCaps.Default);
        tracker.Malloc(out byte* after, 16, MallocCaps.Default); // Keeps the freed block from merging with free memory.
        new Span<byte>(secret, 64).Fill(0xAB);
        var stale = secret;

        tracker.Free(ref secret);

        Assert.True(secret == null);
        // TLSF keeps its free-list links at the start of a free block and the next block's prev_phys at its end: in the
        // poison head and past the tail canary when there are poison bytes, in the block's own bytes when there are not.
        var links = level == PoisoningLevel.None ? 8 : 0;
        Assert.True(new Span<byte>(stale + links, 64 - (2 * links)).IndexOfAnyExcept(expected) < 0);
        tracker.Free(ref after);
        Assert.Empty(heap.RecentErrors);
    }
}

// A pointer into the gap in front of an aligned block's head on the process heap (where the inner block itself is
// aligned and the user bytes lie further on) is no block: freeing or reallocating it is reported as a bad pointer and
// changes nothing. And the user pointer of an aligned block that has been freed (its mapping gone) is still known
// as freed: a second free is a double free, not an invalid pointer.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningAlignedGapTests
{
    [Theory]
    [InlineData(PoisoningLevel.Light, false)]
    [InlineData(PoisoningLevel.Comprehensive, false)]
    [InlineData(PoisoningLevel.Light, true)]
    [InlineData(PoisoningLevel.None, true)]
    public void Freeing_or_reallocating_one_head_into_a_host_aligned_block_is_a_bad_pointer_and_leaves_the_block(PoisoningLevel level, bool quarantine)
    {
        // The pointer one head (16 bytes) into the inner block was taken for a plain block's user pointer: the gap's head
        // canaries made its size 0xabba1234, so the free reported a corrupt header (an underrun that never happened) and
        // set the caller's live aligned block aside, its tracker record dropped; GetAllocatedSize of it answered 348.
        var errors = new StringWriter();
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine ? new QuarantineOptions() : null, ErrorOutput = errors });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var block = (byte*)tracker.AlignedAlloc(256, 100, MallocCaps.Default);
        new Span<byte>(block, 100).Fill(0x5A);
        var gap = block - 256 + 16; // The inner block is 256-aligned; its head sits right before the user bytes.

        Assert.Equal((nuint)0, heap.GetAllocatedSize(gap));
        heap.Free(gap);
        Assert.True(heap.Realloc(gap, 10, MallocCaps.Default) == null);

        Assert.Equal(2, heap.ErrorCount);
        Assert.All(heap.RecentErrors, static e => Assert.Equal(MemoryErrorKind.InvalidPointer, e.Kind));
        Assert.DoesNotContain("CORRUPT HEAP", errors.ToString(), StringComparison.Ordinal);
        Assert.True(heap.GetAllocatedSize(block) >= 100);
        Assert.True(new Span<byte>(block, 100).IndexOfAnyExcept((byte)0x5A) < 0);
        Assert.Equal(1, tracker.LiveBlocks);
        Assert.True(heap.CheckIntegrityAll(false));

        tracker.Free(ref block);
        Assert.Equal(2, heap.ErrorCount);
        Assert.Equal(0, tracker.LiveBlocks);
    }

    [Theory]
    [InlineData(PoisoningLevel.Light, false)]
    [InlineData(PoisoningLevel.Comprehensive, false)]
    [InlineData(PoisoningLevel.Light, true)]
    [InlineData(PoisoningLevel.None, true)]
    public void A_second_free_or_a_realloc_of_a_freed_host_aligned_block_is_a_double_free_naming_the_first_free(PoisoningLevel level, bool quarantine)
    {
        // The aligned block's mapping went with its free, so the second free looked one head in front of the pointer,
        // found no block there and reported an invalid pointer (with a quarantine: once the block had left it).
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine ? new QuarantineOptions { MaxBlocks = 1 } : null, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var block = (byte*)tracker.AlignedAlloc(256, 100, MallocCaps.Default);
        var stale = block;
        var freeLine = Line(); tracker.Free(ref block);
        if (quarantine)
        {
            var other = (byte*)tracker.Malloc(32, MallocCaps.Default);
            tracker.Free(ref other); // Pushes the aligned block out of the one-block quarantine.
        }

        tracker.Free(ref stale);

        var doubleFree = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, doubleFree.Kind);
        Assert.Equal(freeLine, doubleFree.FreedAt?.Line);

        // A realloc of a freed aligned block is reported as such too.
        var reallocated = AlignedThenFreed(tracker);
        Assert.True(heap.Realloc(reallocated, 10, MallocCaps.Default) == null);
        Assert.Equal(MemoryErrorKind.ReallocOfFreedBlock, heap.RecentErrors[^1].Kind);
        Assert.Equal(2, heap.ErrorCount);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.Equal(0, tracker.LiveBlocks);
    }

    [Fact]
    public void An_aligned_block_freed_again_and_again_at_one_address_is_still_known_as_freed_after_its_last_free()
    {
        // Each free of the address queued it again while the set held it once: once the queue was full of it, the oldest
        // entry's eviction took it out of the set right after its newest free, and its second free was an invalid pointer.
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var addresses = new HashSet<nuint>();
        byte* stale = null;
        for (var i = 0; i < 5000; i++)
        {
            var block = (byte*)tracker.AlignedAlloc(256, 100, MallocCaps.Default);
            addresses.Add((nuint)block);
            stale = block;
            tracker.Free(ref block);
        }

        Assert.True(addresses.Count < 100, $"{addresses.Count} addresses"); // The process heap hands the same few out again.
        tracker.Free(ref stale);

        Assert.Equal(MemoryErrorKind.DoubleFree, Assert.Single(heap.RecentErrors).Kind);
        Assert.Equal(0, tracker.LiveBlocks);
    }

    private static byte* AlignedThenFreed(MemoryTracker tracker)
    {
        var block = (byte*)tracker.AlignedAlloc(512, 64, MallocCaps.Default);
        var stale = block;
        tracker.Free(ref block);
        return stale;
    }

    private static int Line([System.Runtime.CompilerServices.CallerLineNumber] int line = 0) => line;
}

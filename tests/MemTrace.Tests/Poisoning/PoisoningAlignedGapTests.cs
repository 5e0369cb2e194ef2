// A pointer into the gap in front of an aligned block's head on the process heap (where the inner block itself is
// aligned and the user bytes lie further on) is no block: freeing or reallocating it is reported as a bad pointer and
// changes nothing.
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
}

// Blocks larger than 2 GiB under poisoning: the fills and the write-after-free scan cover the whole block. They used
// Span<byte> of (int)size, which threw ArgumentOutOfRangeException past int.MaxValue: the allocation threw with the block
// leaked and headless (every later integrity check failed), and a quarantined free threw after marking the block freed.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningLargeBlockTests
{
    private static readonly nuint Size = ((nuint)1 << 31) + 4096;

    public static TheoryData<PoisoningLevel, bool> Cases => new()
    {
        { PoisoningLevel.Comprehensive, false },
        { PoisoningLevel.None, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_block_past_2_GiB_is_filled_checked_and_freed_whole(PoisoningLevel level, bool quarantine)
    {
        // The block is written in full (the fills): skip where memory is short rather than push the machine into swap.
        if (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes < 12L << 30)
        {
            Assert.Skip("needs 12 GiB of memory: a 2 GiB block is filled twice");
        }

        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions
        {
            Poisoning = level,
            Quarantine = quarantine ? new QuarantineOptions { MaxBytes = Size * 2, MaxBlocks = 4 } : null,
            ErrorOutput = null,
        });

        var p = (byte*)heap.Malloc(Size, MallocCaps.Default);

        Assert.True(p != null);
        if (level == PoisoningLevel.Comprehensive)
        {
            Assert.Equal(0xCE, p[0]);
            Assert.Equal(0xCE, p[Size - 1]); // Past int.MaxValue: the fill reached the end.
        }

        Assert.True(heap.CheckIntegrityAll(false));
        heap.Free(p);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.Empty(heap.RecentErrors);
        if (quarantine)
        {
            p[Size - 2] = 0; // A write after free beyond 2 GiB: found when the quarantine verifies the block.
            Assert.False(heap.CheckIntegrityAll(false));
            var error = Assert.Single(heap.RecentErrors);
            Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
            Assert.Equal((nuint)(p + Size - 2), error.DamagedAddress);
        }
        else
        {
            Assert.Equal(0u, heap.GetInfo(MallocCaps.Default).AllocatedBlocks);
        }
    }
}

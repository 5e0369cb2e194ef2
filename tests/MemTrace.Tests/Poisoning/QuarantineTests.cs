// The quarantine: freed blocks held back, filled with 0xFE, first in first out within a byte and a
// block bound, verified when they leave and by integrity checks.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class QuarantineTests
{
    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void A_quarantined_block_written_after_free_is_caught_by_an_integrity_check(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, Quarantine = new QuarantineOptions(), ErrorOutput = null });
        var p = (byte*)heap.Malloc(64, MallocCaps.Default);
        heap.Free(p);

        p[63] = 0x00;

        Assert.False(heap.CheckIntegrityAll(print: false));
        Assert.Equal(MemoryErrorKind.WriteAfterFree, Assert.Single(heap.RecentErrors).Kind);
        Assert.True(heap.CheckIntegrityAll(print: false)); // Set aside: reported once.
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void The_quarantine_keeps_blocks_out_of_reuse_within_its_bounds(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBlocks = 3, MaxBytes = 1 << 20 }, ErrorOutput = null });
        var freed = new List<nint>();
        for (var i = 0; i < 3; i++)
        {
            var p = heap.Malloc(48, MallocCaps.Default);
            freed.Add((nint)p);
            heap.Free(p);
        }

        // Still quarantined: a new block never lands on them, and freeing them again is a double free.
        var fresh = heap.Malloc(48, MallocCaps.Default);
        Assert.DoesNotContain((nint)fresh, freed);
        heap.Free((void*)freed[1]);
        Assert.Equal(MemoryErrorKind.DoubleFree, Assert.Single(heap.RecentErrors).Kind);
        heap.Free(fresh); // The fourth: the first one leaves the quarantine.
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }
}

// The quarantine: freed blocks held back, filled with 0xFE, first in first out within a byte and a
// block bound, verified when they leave and by integrity checks; a write after free found when a
// block leaves names its allocation and free even after the tracker reused its record.
using System.Runtime.CompilerServices;
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
    [InlineData(false)]
    [InlineData(true)]
    public void A_full_region_empties_its_quarantine_for_a_request_instead_of_failing_it(bool aligned)
    {
        // One 64 KiB region and the default quarantine (1 MiB, 1 024 blocks): 300 freed blocks of 200 bytes fill the
        // region, and every request after that failed for good, since a failed request frees nothing.
        var layout = HeapLayout.CreateBuilder("small").AddRegion("DRAM", 64 << 10, MallocCaps.Default | MallocCaps.Bit8).Build();
        using var heap = new HeapCaps(layout, new HeapCapsOptions { Poisoning = PoisoningLevel.Light, Quarantine = new QuarantineOptions(), ErrorOutput = null });
        var free = heap.GetFreeSize(MallocCaps.Default);
        byte* last = null;
        for (var i = 0; i < 2_000; i++)
        {
            last = (byte*)(aligned ? heap.AlignedAlloc(64, 200, MallocCaps.Default) : heap.Malloc(200, MallocCaps.Default));
            Assert.True(last != null, $"request {i} failed");
            heap.Free(last);
        }

        Assert.Equal(0, heap.ErrorCount);
        Assert.True(heap.CheckIntegrityAll(print: false));

        // The quarantine still works after giving way: the last block freed is held, and a write to it is caught.
        last[10] = 0x00;
        Assert.False(heap.CheckIntegrityAll(print: false));
        Assert.Equal(MemoryErrorKind.WriteAfterFree, Assert.Single(heap.RecentErrors).Kind);

        // A request larger than the region still fails, quarantine or not, and leaves the heap sound.
        Assert.True(heap.Malloc(128 << 10, MallocCaps.Default) == null);
        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.True(heap.GetFreeSize(MallocCaps.Default) <= free);
    }

    [Fact]
    public void A_request_larger_than_every_region_leaves_the_quarantine_holding_its_blocks()
    {
        // A failed request emptied the quarantine first, even one larger than the region (1 MiB on an ESP32 without PSRAM,
        // below its 4 MiB HEAP_SIZE_MAX, so the regions are asked): the held blocks went back unwatched, and a write after
        // free to them was never seen.
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, Quarantine = new QuarantineOptions(), ErrorOutput = null });
        var p = (byte*)heap.Malloc(64, MallocCaps.Default);
        heap.Free(p);

        Assert.True(heap.Malloc(1 << 20, MallocCaps.Default) == null);
        Assert.True(heap.AlignedAlloc(64, 1 << 20, MallocCaps.Default) == null);

        p[10] = 0x00;
        Assert.False(heap.CheckIntegrityAll(print: false));
        Assert.Equal(MemoryErrorKind.WriteAfterFree, Assert.Single(heap.RecentErrors).Kind);
    }

    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void Threads_that_find_a_region_full_of_quarantined_blocks_at_once_are_all_served(PoisoningLevel level)
    {
        // The region filled with 1 000-byte blocks, all freed into the quarantine, then two threads ask at once. The
        // second used to find the quarantine already emptied by the first, its blocks not yet back, and give up
        // (in 163-258 of 300 rounds; adapted from a helper's probe).
        var layout = HeapLayout.CreateBuilder("small").AddRegion("DRAM", 64 << 10, MallocCaps.Default | MallocCaps.Bit8).Build();
        var nulls = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        for (var round = 0; round < 100; round++)
        {
            using var heap = new HeapCaps(layout, new HeapCapsOptions { Poisoning = level, Quarantine = new QuarantineOptions(), ErrorOutput = null });
            var blocks = new List<nint>();
            for (var p = heap.Malloc(1000, MallocCaps.Default); p != null; p = heap.Malloc(1000, MallocCaps.Default))
            {
                blocks.Add((nint)p);
            }

            blocks.ForEach(b => heap.Free((void*)b));
            using var start = new Barrier(2);
            var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
            {
                try
                {
                    start.SignalAndWait();
                    if (heap.Malloc(1000, MallocCaps.Default) == null)
                    {
                        Interlocked.Increment(ref nulls);
                    }
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.Equal(0, heap.ErrorCount);
            Assert.True(heap.CheckIntegrityAll(print: false));
        }

        Assert.Empty(failures);
        Assert.Equal(0, nulls);
    }

    [Fact]
    public void A_write_after_free_found_while_a_full_region_empties_its_quarantine_is_reported_by_the_request()
    {
        var layout = HeapLayout.CreateBuilder("small").AddRegion("DRAM", 64 << 10, MallocCaps.Default | MallocCaps.Bit8).Build();
        using var heap = new HeapCaps(layout, new HeapCapsOptions { Poisoning = PoisoningLevel.Light, Quarantine = new QuarantineOptions(), ErrorOutput = null });
        var first = (byte*)heap.Malloc(200, MallocCaps.Default);
        heap.Free(first);
        first[5] = 0x00; // Written after free: found when the block leaves the quarantine.

        var failed = 0;
        for (var i = 0; i < 1_000 && heap.ErrorCount == 0; i++)
        {
            var p = heap.Malloc(200, MallocCaps.Default);
            failed += p == null ? 1 : 0;
            heap.Free(p);
        }

        Assert.Equal(0, failed);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
        Assert.Equal((nuint)first, error.Address);
        Assert.True(heap.CheckIntegrityAll(print: false)); // The damaged block is set aside, never handed out again.
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

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void Blocks_leave_first_in_first_out(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBlocks = 3 }, ErrorOutput = null });
        var freed = FreeMarked(heap, 3, 40); // Each written after its free: its departure is reported.

        heap.Free(heap.Malloc(40, MallocCaps.Default)); // The fourth: the first leaves.
        heap.Free(heap.Malloc(40, MallocCaps.Default)); // The fifth: the second leaves.

        Assert.Equal(freed[..2], heap.RecentErrors.Select(e => e.Address));
        Assert.All(heap.RecentErrors, e => Assert.Equal(MemoryErrorKind.WriteAfterFree, e.Kind));
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void The_byte_bound_counts_requested_bytes(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBytes = 100, MaxBlocks = 1000 }, ErrorOutput = null });
        var freed = FreeMarked(heap, 2, 40); // 80 bytes held.

        heap.Free(heap.Malloc(40, MallocCaps.Default)); // 120 > 100: the first leaves (80 held).
        Assert.Equal([freed[0]], heap.RecentErrors.Select(e => e.Address));
        heap.Free(heap.Malloc(16, MallocCaps.Default)); // 96: nobody leaves.
        Assert.Single(heap.RecentErrors);
        heap.Free(heap.Malloc(8, MallocCaps.Default)); // 104: the second leaves.
        Assert.Equal(freed, heap.RecentErrors.Select(e => e.Address));
    }

    [Theory]
    [InlineData(0u, 10)]
    [InlineData(1024u, 0)]
    [InlineData(1024u, -1)]
    public void Bounds_of_zero_are_refused(uint maxBytes, int maxBlocks)
    {
        var options = new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBytes = maxBytes, MaxBlocks = maxBlocks }, ErrorOutput = null };

        Assert.Throws<ArgumentOutOfRangeException>(() => new HeapCaps(HeapLayout.Host(), options));
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void A_block_set_aside_from_the_quarantine_no_longer_counts_toward_its_bound(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBlocks = 3 }, ErrorOutput = null });
        var blocks = new byte*[3];
        for (var i = 0; i < 3; i++)
        {
            blocks[i] = (byte*)heap.Malloc(40, MallocCaps.Default);
        }

        foreach (var block in blocks)
        {
            heap.Free(block);
        }

        blocks[1][0] = 0x42;
        Assert.False(heap.CheckIntegrityAll(print: false)); // The second is set aside: two blocks held.
        blocks[0][0] = 0x42;

        heap.Free(heap.Malloc(40, MallocCaps.Default)); // Three held: nobody leaves.
        Assert.Single(heap.RecentErrors);
        heap.Free(heap.Malloc(40, MallocCaps.Default)); // Four: the first leaves.
        Assert.Equal([(nuint)blocks[1], (nuint)blocks[0]], heap.RecentErrors.Select(e => e.Address));
    }

    [Theory]
    [InlineData("dram")]
    [InlineData("host")]
    public void A_write_after_free_found_when_a_block_leaves_the_default_quarantine_names_its_allocation_and_free(string layout)
    {
        // Each region has its own quarantine: one TLSF region, so that every free goes through the victim's.
        var map = layout == "host" ? HeapLayout.Host() : HeapLayout.CreateBuilder("dram").AddRegion("DRAM", 0x2D138, MallocCaps.Default | MallocCaps.Bit8).Build();
        using var heap = new HeapCaps(map, new HeapCapsOptions { Poisoning = PoisoningLevel.Light, Quarantine = new QuarantineOptions(), ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* victim, 40, MallocCaps.Default); var allocLine = Line();
        var request = tracker.GetAllocations().Single().RequestNumber;
        var stale = victim;
        tracker.Free(ref victim); var freeLine = Line();
        stale[5] = 0x42;

        // Tracked allocations reuse the victim's record handle at once and many times over; the 1024th free after
        // the victim's pushes it out of the quarantine (1024 blocks, 1 MiB).
        var allocations = 0;
        while (heap.RecentErrors.Count == 0 && allocations < 2000)
        {
            tracker.Malloc(out byte* filler, 16, MallocCaps.Default);
            tracker.Free(ref filler);
            allocations++;
        }

        Assert.Equal(1024, allocations);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
        Assert.Equal((nuint)stale, error.Address);
        Assert.Equal(allocLine, error.Block!.Line);
        Assert.Equal("victim", error.Block.VariableName);
        Assert.Equal(request, error.Block.RequestNumber);
        Assert.Equal(40u, error.Block.Size);
        Assert.Equal(freeLine, error.FreedAt!.Value.Line);
        Assert.Equal("victim", error.FreedAt.Value.VariableName);
        Assert.Equal(Environment.CurrentManagedThreadId, error.FreedByThreadId);
        Assert.Equal("filler", error.DetectedAt!.Value.VariableName);
        Assert.Equal((nuint)(stale + 5), error.DamagedAddress);
    }

    [Theory]
    [InlineData("esp32", PoisoningLevel.None)]
    [InlineData("host", PoisoningLevel.Light)]
    public void With_a_quarantine_a_tracked_free_fills_the_block_with_0xFE_instead_of_zeroing_it(string layout, PoisoningLevel level)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, Quarantine = new QuarantineOptions(), ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ClearOnFree = true });
        tracker.Malloc(out byte* secret, 64, MallocCaps.Default);
        new Span<byte>(secret, 64).Fill(0xAB);
        var stale = secret;

        tracker.Free(ref secret);

        Assert.True(new Span<byte>(stale, 64).IndexOfAnyExcept((byte)0xFE) < 0); // Held by the quarantine: still readable.
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void A_block_damaged_in_quarantine_is_never_handed_out_again(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBlocks = 2 }, ErrorOutput = null });
        var victim = (byte*)heap.Malloc(40, MallocCaps.Default);
        heap.Free(victim);
        victim[0] = 1;
        var seen = new HashSet<nuint>();
        for (var i = 0; i < 2000; i++)
        {
            var p = heap.Malloc(40, MallocCaps.Default);
            seen.Add((nuint)p);
            heap.Free(p);
        }

        Assert.Single(heap.RecentErrors);
        Assert.DoesNotContain((nuint)victim, seen);
        Assert.True(seen.Count >= 3); // Freed blocks do come back once they leave the quarantine.
    }

    /// <summary>Frees <paramref name="count"/> new blocks into the quarantine and writes into each after its free.</summary>
    private static nuint[] FreeMarked(HeapCaps heap, int count, nuint size)
    {
        var blocks = new byte*[count];
        for (var i = 0; i < count; i++)
        {
            blocks[i] = (byte*)heap.Malloc(size, MallocCaps.Default);
        }

        var addresses = new nuint[count];
        for (var i = 0; i < count; i++)
        {
            heap.Free(blocks[i]);
            blocks[i][0] = 0x42;
            addresses[i] = (nuint)blocks[i];
        }

        return addresses;
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

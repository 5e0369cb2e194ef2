// The fault matrix: every kind of memory error, on a TLSF region and on the process heap, at
// Light and Comprehensive poisoning, under the Report and Throw policies. Each is detected with
// the right kind, the allocation site, the detecting call (and the free site where there is one),
// without crashing, and the heap and tracker are consistent afterwards.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests;

public unsafe class PoisoningFaultMatrixTests
{
    public enum Fault
    {
        Overflow,
        Underflow,
        CorruptSize,
        WriteAfterFree,
        DoubleFree,
        InteriorFree,
        ForeignFree,
        ReallocOfFreed,
    }

    public static TheoryData<Fault, string, PoisoningLevel, MemoryErrorPolicy> Matrix()
    {
        var data = new TheoryData<Fault, string, PoisoningLevel, MemoryErrorPolicy>();
        foreach (var fault in Enum.GetValues<Fault>())
        {
            foreach (var layout in new[] { "esp32", "host" })
            {
                foreach (var level in new[] { PoisoningLevel.Light, PoisoningLevel.Comprehensive })
                {
                    foreach (var policy in new[] { MemoryErrorPolicy.Report, MemoryErrorPolicy.Throw })
                    {
                        data.Add(fault, layout, level, policy);
                    }
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Every_fault_is_detected_with_its_sites_and_leaves_the_heap_consistent(Fault fault, string layout, PoisoningLevel level, MemoryErrorPolicy policy)
    {
        var quarantine = fault == Fault.WriteAfterFree ? new QuarantineOptions { MaxBlocks = 4 } : null;
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine, ErrorPolicy = policy, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* victim, 40, MallocCaps.Default); var allocLine = Line();
        tracker.Malloc(out byte* bystander, 40, MallocCaps.Default);
        new Span<byte>(victim, 40).Fill(0x11);
        var foreign = (byte*)NativeMemory.AlignedAlloc(64, 16);
        int detectLine = 0, freeLine = 0;

        var thrown = Record.Exception(() =>
        {
            switch (fault)
            {
                case Fault.Overflow:
                    victim[40] = 0x00; // One byte past the end.
                    detectLine = Line(); tracker.Free(ref victim);
                    break;
                case Fault.Underflow:
                    victim[-8] = 0x00; // Into the head canary.
                    detectLine = Line(); tracker.Free(ref victim);
                    break;
                case Fault.CorruptSize:
                    *(uint*)(victim - 4) = 0x7FFF_FFFF;
                    detectLine = Line(); tracker.Free(ref victim);
                    break;
                case Fault.WriteAfterFree:
                    var stale = victim;
                    freeLine = Line(); tracker.Free(ref victim);
                    stale[7] = 0x42;
                    for (var i = 0; i < 8; i++)
                    {
                        var filler = tracker.Malloc(16, MallocCaps.Default);
                        detectLine = Line(); tracker.Free(ref filler); // Pushes the victim out of the quarantine.
                    }

                    break;
                case Fault.DoubleFree:
                    var copy = victim;
                    freeLine = Line(); tracker.Free(ref victim);
                    detectLine = Line(); tracker.Free(ref copy);
                    break;
                case Fault.InteriorFree:
                    var inside = victim + 8;
                    detectLine = Line(); tracker.Free(ref inside);
                    break;
                case Fault.ForeignFree:
                    var stranger = foreign;
                    detectLine = Line(); tracker.Free(ref stranger);
                    break;
                case Fault.ReallocOfFreed:
                    var old = victim;
                    freeLine = Line(); tracker.Free(ref victim);
                    detectLine = Line(); tracker.Realloc(ref old, 80, MallocCaps.Default);
                    break;
            }
        });

        // Reported once, of the right kind, with the sites.
        Assert.True(heap.RecentErrors.Count == 1, string.Join("\n", heap.RecentErrors));
        var error = heap.RecentErrors[0];
        var expected = fault switch
        {
            Fault.Overflow => MemoryErrorKind.BufferOverflow,
            Fault.Underflow => MemoryErrorKind.BufferUnderflow,
            Fault.CorruptSize => MemoryErrorKind.CorruptBlock,
            Fault.WriteAfterFree => MemoryErrorKind.WriteAfterFree,
            Fault.DoubleFree => MemoryErrorKind.DoubleFree,
            Fault.InteriorFree => MemoryErrorKind.InteriorPointer,
            Fault.ForeignFree => layout == "host" ? MemoryErrorKind.InvalidPointer : MemoryErrorKind.OutsideHeap,
            _ => MemoryErrorKind.ReallocOfFreedBlock,
        };
        Assert.Equal(expected, error.Kind);
        Assert.Equal(detectLine == 0 ? 0 : detectLine, policy == MemoryErrorPolicy.Throw ? error.DetectedAt?.Line ?? 0 : error.DetectedAt!.Value.Line);
        if (fault != Fault.ForeignFree)
        {
            Assert.Equal(allocLine, error.Block!.Line);
            Assert.Equal("victim", error.Block.VariableName);
        }

        if (freeLine != 0)
        {
            Assert.Equal(freeLine, error.FreedAt!.Value.Line);
        }

        if (fault is Fault.Overflow or Fault.Underflow or Fault.CorruptSize or Fault.WriteAfterFree)
        {
            Assert.NotNull(error.DamagedAddress);
            Assert.NotEqual(error.ExpectedBytes, error.FoundBytes);
            Assert.Contains("CORRUPT HEAP: ", error.Note, StringComparison.Ordinal);
            Assert.Contains("expected:", error.ToString(), StringComparison.Ordinal);
        }

        if (policy == MemoryErrorPolicy.Throw)
        {
            Assert.Equal(error, Assert.IsType<MemoryErrorException>(thrown).Error);
        }
        else
        {
            Assert.Null(thrown);
        }

        // Consistent: the heap passes its check, the bystander is intact, the heap still works,
        // and the tracker holds only the bystander.
        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Single(heap.RecentErrors);
        var stillLive = fault is Fault.InteriorFree or Fault.ForeignFree; // A bad free frees nothing.
        Assert.Equal(stillLive ? [(nuint)victim, (nuint)bystander] : [(nuint)bystander], tracker.GetAllocations().Select(r => r.Address));
        var fresh = tracker.Malloc(100, MallocCaps.Default);
        Assert.True(fresh != null);
        tracker.Free(ref fresh);
        tracker.Free(ref bystander);
        if (stillLive)
        {
            Assert.Equal(0x11, victim[39]);
            tracker.Free(ref victim);
        }
        Assert.Empty(tracker.GetAllocations());
        Assert.True(heap.CheckIntegrityAll(print: false));
        NativeMemory.AlignedFree(foreign);
    }

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

    [Fact]
    public void Comprehensive_fills_new_blocks_with_0xCE_and_catches_a_write_after_free_on_reuse()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        var p = (byte*)heap.Malloc(64, MallocCaps.Bit8);
        Assert.True(new Span<byte>(p, 64).IndexOfAnyExcept((byte)0xCE) < 0);
        heap.Free(p);
        Assert.True(new Span<byte>(p, 64).IndexOfAnyExcept((byte)0xFE) < 0);

        p[20] = 0x00;
        var again = heap.Malloc(64, MallocCaps.Bit8); // Hands out the same memory: the damage is seen.

        Assert.True(again == p);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
        Assert.Equal((nuint)(p + 20), error.DamagedAddress);
        heap.Free(again);
    }

    [Fact]
    public void Light_poisoning_realloc_checks_canaries_and_keeps_them_through_moves()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var p = (byte*)heap.Malloc(16, MallocCaps.Default);
        new Span<byte>(p, 16).Fill(7);

        var q = (byte*)heap.Realloc(p, 4000, MallocCaps.Default);
        Assert.True(new Span<byte>(q, 16).IndexOfAnyExcept((byte)7) < 0);
        Assert.Equal(0xBAAD5678u, Unsafe.ReadUnaligned<uint>(q + 4000));
        q[4000] = 0;

        Assert.True(heap.Realloc(q, 8000, MallocCaps.Default) == null);
        Assert.Equal(MemoryErrorKind.BufferOverflow, Assert.Single(heap.RecentErrors).Kind);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Poisoned_aligned_blocks_keep_their_alignment_and_canaries()
    {
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var p = (byte*)heap.AlignedAlloc(256, 100, MallocCaps.Default);
        var q = (byte*)heap.Malloc(100, MallocCaps.Default);

        Assert.Equal(0u, (nuint)p % 256);
        Assert.Equal(0u, (nuint)q % 16);
        Assert.Equal(100u, heap.GetAllocatedSize(p));
        p[100] = 0;
        heap.Free(p);
        heap.Free(q);
        Assert.Equal(MemoryErrorKind.BufferOverflow, Assert.Single(heap.RecentErrors).Kind);
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

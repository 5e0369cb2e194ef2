// The fault matrix: every kind of memory error, on a TLSF region and on the process heap, at
// Light and Comprehensive poisoning, under the Report and Throw policies, detected by each call that
// can detect it (the free, a realloc, an integrity check, the request that reuses the memory). Each
// is detected with the right kind, block (size, request number, allocation site), detecting call,
// free site where there is one, and hex dump, without crashing, and the heap and tracker are
// consistent afterwards. FailFast runs in a child process (PoisoningProcessTests).
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

        /// <summary>A write into a block held by the quarantine.</summary>
        WriteAfterFree,

        /// <summary>A write into free memory of a TLSF region under Comprehensive poisoning, no quarantine.</summary>
        WriteAfterFreeNoQuarantine,
        DoubleFree,
        InteriorFree,
        ForeignFree,
        ReallocOfFreed,
    }

    public enum Detector
    {
        /// <summary>The fault's own call: the free (of the victim, or the one that pushes it out of the quarantine), the double or bad free, the realloc of a freed block.</summary>
        Free,

        /// <summary>A realloc: of the victim, or of another block whose move pushes the victim out of the quarantine or reuses its memory.</summary>
        Realloc,

        /// <summary>heap_caps_check_integrity.</summary>
        CheckIntegrity,

        /// <summary>A malloc that is handed the freed memory.</summary>
        Reuse,
    }

    public static TheoryData<Fault, Detector, string, PoisoningLevel, MemoryErrorPolicy> Matrix()
    {
        var data = new TheoryData<Fault, Detector, string, PoisoningLevel, MemoryErrorPolicy>();
        foreach (var fault in Enum.GetValues<Fault>())
        {
            Detector[] detectors = fault switch
            {
                Fault.Overflow or Fault.Underflow or Fault.CorruptSize or Fault.WriteAfterFree => [Detector.Free, Detector.Realloc, Detector.CheckIntegrity],
                Fault.WriteAfterFreeNoQuarantine => [Detector.Reuse, Detector.Realloc, Detector.CheckIntegrity],
                _ => [Detector.Free],
            };
            foreach (var detector in detectors)
            {
                foreach (var layout in new[] { "esp32", "host" })
                {
                    foreach (var level in new[] { PoisoningLevel.Light, PoisoningLevel.Comprehensive })
                    {
                        if (fault == Fault.WriteAfterFreeNoQuarantine && (layout != "esp32" || level != PoisoningLevel.Comprehensive))
                        {
                            continue; // Only a TLSF region under Comprehensive verifies its free memory.
                        }

                        foreach (var policy in new[] { MemoryErrorPolicy.Report, MemoryErrorPolicy.Throw })
                        {
                            data.Add(fault, detector, layout, level, policy);
                        }
                    }
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Every_fault_is_detected_with_its_sites_and_bytes_and_leaves_the_heap_consistent(Fault fault, Detector detector, string layout, PoisoningLevel level, MemoryErrorPolicy policy)
    {
        var quarantine = fault == Fault.WriteAfterFree ? new QuarantineOptions { MaxBlocks = 4 } : null;
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine, ErrorPolicy = policy, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* victim, 40, MallocCaps.Default); var allocLine = Line();
        tracker.Malloc(out byte* bystander, 40, MallocCaps.Default);
        tracker.Malloc(out byte* mover, 24, MallocCaps.Default);
        var victimAddress = (nuint)victim;
        var victimRequest = tracker.GetAllocations().Single(r => r.Address == victimAddress).RequestNumber;
        new Span<byte>(victim, 40).Fill(0x11);
        new Span<byte>(mover, 24).Fill(0x33);
        var foreign = (byte*)NativeMemory.AlignedAlloc(64, 16);
        int detectLine = 0, freeLine = 0;
        var moverFreed = false;

        // Detects a damaged live victim; the detecting line is set before the call, which may throw (0 for a check).
        void Detect(ref byte* block)
        {
            switch (detector)
            {
                case Detector.Free:
                    detectLine = Line(); tracker.Free(ref block);
                    break;
                case Detector.Realloc:
                    detectLine = Line(); var moved = tracker.Realloc(ref block, 80, MallocCaps.Default);
                    Assert.False(moved); // The damaged block is set aside, not moved.
                    break;
                default:
                    Assert.False(heap.CheckIntegrityAll(print: false));
                    break;
            }
        }

        var thrown = Record.Exception(() =>
        {
            switch (fault)
            {
                case Fault.Overflow:
                    victim[40] = 0x00; // One byte past the end: the tail canary's first byte.
                    Detect(ref victim);
                    break;
                case Fault.Underflow:
                    victim[-8] = 0x00; // Into the head canary.
                    Detect(ref victim);
                    break;
                case Fault.CorruptSize:
                    *(uint*)(victim - 4) = 0x7FFF_FFFF;
                    Detect(ref victim);
                    break;
                case Fault.WriteAfterFree:
                {
                    var stale = victim;
                    freeLine = Line(); tracker.Free(ref victim);
                    for (var i = 0; i < 3; i++)
                    {
                        var filler = tracker.Malloc(16, MallocCaps.Default);
                        tracker.Free(ref filler); // The quarantine is full: the victim is the oldest of 4.
                    }

                    stale[7] = 0x42;
                    switch (detector)
                    {
                        case Detector.Free:
                            var last = tracker.Malloc(16, MallocCaps.Default);
                            detectLine = Line(); tracker.Free(ref last); // Pushes the victim out.
                            break;
                        case Detector.Realloc:
                            moverFreed = true; // Moved, or freed when the report throws.
                            detectLine = Line(); tracker.Realloc(ref mover, 32, MallocCaps.Default); // The old block goes in, the victim out.
                            moverFreed = policy == MemoryErrorPolicy.Throw;
                            break;
                        default:
                            detectLine = 0; heap.CheckIntegrityAll(print: false);
                            break;
                    }

                    break;
                }

                case Fault.WriteAfterFreeNoQuarantine:
                {
                    var stale = victim;
                    freeLine = Line(); tracker.Free(ref victim);
                    stale[7] = 0x42;
                    switch (detector)
                    {
                        case Detector.Reuse:
                            detectLine = Line(); tracker.Malloc(out byte* reused, 40, MallocCaps.Default); // Handed the victim's memory: checked first.
                            Assert.True(reused != stale, "damaged memory handed out");
                            tracker.Free(ref reused);
                            break;
                        case Detector.Realloc:
                            moverFreed = true;
                            detectLine = Line(); tracker.Realloc(ref mover, 40, MallocCaps.Default); // Comprehensive moves: the new block lands on the victim's memory.
                            moverFreed = false;
                            Assert.True(mover != stale, "damaged memory handed out");
                            break;
                        default:
                            detectLine = 0; heap.CheckIntegrityAll(print: false);
                            break;
                    }

                    break;
                }

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

        // Reported once, of the right kind, by the right call, with the block and its sites.
        Assert.True(heap.RecentErrors.Count == 1, string.Join("\n", heap.RecentErrors));
        var error = heap.RecentErrors[0];
        var expected = fault switch
        {
            Fault.Overflow => MemoryErrorKind.BufferOverflow,
            Fault.Underflow => MemoryErrorKind.BufferUnderflow,
            Fault.CorruptSize => MemoryErrorKind.CorruptBlock,
            Fault.WriteAfterFree or Fault.WriteAfterFreeNoQuarantine => MemoryErrorKind.WriteAfterFree,
            Fault.DoubleFree => MemoryErrorKind.DoubleFree,
            Fault.InteriorFree => MemoryErrorKind.InteriorPointer,
            Fault.ForeignFree => layout == "host" ? MemoryErrorKind.InvalidPointer : MemoryErrorKind.OutsideHeap,
            _ => MemoryErrorKind.ReallocOfFreedBlock,
        };
        Assert.Equal(expected, error.Kind);
        Assert.Equal(policy == MemoryErrorPolicy.Throw, thrown is not null);
        if (thrown is not null)
        {
            Assert.Same(error, Assert.IsType<MemoryErrorException>(thrown).Error);
        }

        if (detector == Detector.CheckIntegrity)
        {
            Assert.Equal(AllocationMethod.CheckIntegrity, error.Operation);
            Assert.Null(error.DetectedAt);
            Assert.Contains("detected by heap_caps_check_integrity at (no call site)", error.ToString(), StringComparison.Ordinal);
        }
        else
        {
            var at = error.DetectedAt!.Value;
            Assert.Equal(detectLine, at.Line);
            Assert.Equal(nameof(Every_fault_is_detected_with_its_sites_and_bytes_and_leaves_the_heap_consistent), at.Function);
            Assert.EndsWith(nameof(PoisoningFaultMatrixTests) + ".cs", at.File, StringComparison.Ordinal);
            Assert.Equal(at.Method, error.Operation);
            Assert.Equal(detector switch { Detector.Realloc => AllocationMethod.Realloc, Detector.Reuse => AllocationMethod.Malloc, _ => fault == Fault.ReallocOfFreed ? AllocationMethod.Realloc : AllocationMethod.Free }, error.Operation);
        }

        if (fault != Fault.ForeignFree)
        {
            var block = error.Block!;
            Assert.Equal(allocLine, block.Line);
            Assert.Equal("victim", block.VariableName);
            Assert.Equal(nameof(Every_fault_is_detected_with_its_sites_and_bytes_and_leaves_the_heap_consistent), block.Function);
            Assert.EndsWith(nameof(PoisoningFaultMatrixTests) + ".cs", block.File, StringComparison.Ordinal);
            Assert.Equal(victimRequest, block.RequestNumber);
            Assert.Equal(40u, block.Size);
            Assert.Equal(victimAddress, block.Address);
            Assert.Equal(40u, error.BlockSize);
            Assert.Contains("40-byte block", error.Message, StringComparison.Ordinal);
        }

        if (freeLine != 0)
        {
            Assert.Equal(freeLine, error.FreedAt!.Value.Line);
            Assert.Equal("victim", error.FreedAt.Value.VariableName);
        }
        else
        {
            Assert.Null(error.FreedAt);
        }

        AssertDamage(fault, error, victimAddress);

        // Consistent: the bystander is intact, the heap still works, the heap passes its check, and the tracker holds
        // only what the test still owns.
        Assert.Single(heap.RecentErrors);
        var victimStillLive = fault is Fault.InteriorFree or Fault.ForeignFree // A bad free frees nothing.
            || (detector == Detector.CheckIntegrity && fault is Fault.Overflow or Fault.Underflow or Fault.CorruptSize); // A check frees nothing.
        var owned = new List<nuint>();
        if (victimStillLive)
        {
            owned.Add(victimAddress);
        }

        owned.Add((nuint)bystander);
        if (!moverFreed)
        {
            owned.Add((nuint)mover);
        }

        Assert.Equal(owned.Order(), tracker.GetAllocations().Select(r => r.Address).Order());
        Assert.True(new Span<byte>(bystander, 40).IndexOfAnyExcept((byte)0xCE) < 0 || level != PoisoningLevel.Comprehensive);
        if (!moverFreed)
        {
            Assert.True(new Span<byte>(mover, 24).IndexOfAnyExcept((byte)0x33) < 0);
            tracker.Free(ref mover);
        }

        if (detector == Detector.Realloc && fault is Fault.Overflow or Fault.Underflow or Fault.CorruptSize)
        {
            tracker.Free(ref victim); // The realloc set the block aside (its record went then): one free of it is accepted.
            Assert.Single(heap.RecentErrors);
        }

        var fresh = tracker.Malloc(100, MallocCaps.Default);
        Assert.True(fresh != null);
        tracker.Free(ref fresh);
        tracker.Free(ref bystander);
        if (victimStillLive)
        {
            if (fault is Fault.InteriorFree or Fault.ForeignFree)
            {
                Assert.Equal(0x11, victim[39]);
            }

            tracker.Free(ref victim); // Damage already reported is not reported again.
        }

        Assert.Single(heap.RecentErrors);
        Assert.Empty(tracker.GetAllocations());
        if (fault == Fault.WriteAfterFreeNoQuarantine && detector == Detector.CheckIntegrity)
        {
            // The damaged free memory is still free (and still reported by the check's result, not by a new error);
            // the request that reaches it sets it aside without a second report.
            Assert.False(heap.CheckIntegrityAll(print: false));
            tracker.Malloc(out byte* reaching, 40, MallocCaps.Default);
            Assert.True((nuint)reaching != victimAddress);
            tracker.Free(ref reaching);
            Assert.Single(heap.RecentErrors);
        }

        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Single(heap.RecentErrors);
        NativeMemory.AlignedFree(foreign);
    }

    /// <summary>The damaged address and the hex dump, byte for byte.</summary>
    private static void AssertDamage(Fault fault, MemoryError error, nuint victim)
    {
        switch (fault)
        {
            case Fault.Overflow:
                Assert.Equal(victim + 40, error.DamagedAddress);
                Assert.Equal([0x78, 0x56, 0xAD, 0xBA], error.ExpectedBytes);
                Assert.Equal([0x00, 0x56, 0xAD, 0xBA], error.FoundBytes);
                Assert.Contains($"CORRUPT HEAP: Bad tail at 0x{victim + 40:x}. Expected 0xbaad5678 got 0xbaad5600", error.Note, StringComparison.Ordinal);
                Assert.Contains("    expected: 78 56 ad ba", error.ToString(), StringComparison.Ordinal);
                Assert.Contains("    found:    00 56 ad ba", error.ToString(), StringComparison.Ordinal);
                break;
            case Fault.Underflow:
                Assert.Equal(victim - 8, error.DamagedAddress);
                Assert.Equal([0x34, 0x12, 0xBA, 0xAB], error.ExpectedBytes);
                Assert.Equal([0x00, 0x12, 0xBA, 0xAB], error.FoundBytes);
                Assert.Contains($"CORRUPT HEAP: Bad head at 0x{victim - 8:x}. Expected 0xabba1234 got 0xabba1200", error.Note, StringComparison.Ordinal);
                break;
            case Fault.CorruptSize:
                Assert.Equal(victim - 4, error.DamagedAddress);
                Assert.Equal([0x28, 0x00, 0x00, 0x00], error.ExpectedBytes); // 40, as the tracker recorded it.
                Assert.Equal([0xFF, 0xFF, 0xFF, 0x7F], error.FoundBytes);
                Assert.Matches($@"CORRUPT HEAP: Size at 0x{victim - 4:x} expected <=0x[0-9a-f]{{8}} got 0x7fffffff", error.Note);
                break;
            case Fault.WriteAfterFree or Fault.WriteAfterFreeNoQuarantine:
                Assert.Equal(victim + 7, error.DamagedAddress);
                Assert.Equal(16, error.FoundBytes!.Count);
                Assert.Equal(0x42, error.FoundBytes[0]);
                Assert.All(error.FoundBytes.Skip(1), b => Assert.Equal(0xFE, b));
                Assert.Equal(Enumerable.Repeat((byte)0xFE, 16), error.ExpectedBytes);
                Assert.Contains($"CORRUPT HEAP: Invalid data at 0x{victim + 4:x}. Expected 0xfefefefe got 0x42fefefe", error.Note, StringComparison.Ordinal);
                Assert.Contains("    found:    42 fe fe fe", error.ToString(), StringComparison.Ordinal);
                break;
            default:
                Assert.Null(error.DamagedAddress);
                break;
        }
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

// A realloc of a damaged block: the damage is reported with the realloc's call site, the block is set
// aside (never reused, never moved), its record is released (no phantom leak), the first later free
// of the pointer is accepted and a second one is a double free.
using System.Runtime.CompilerServices;
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningReallocTests
{
    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void Clearing_the_tag_of_a_block_set_aside_by_a_realloc_touches_nothing(string layout)
    {
        // A tracker detached during such a realloc clears the tag of the pointer it was given; the block is
        // held by the poisoning layer, with no inner block: the clear must be a no-op, not a write through
        // a null inner pointer (which on the process heap wrote 16 bytes below address 0).
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var block = (byte*)heap.Malloc(40, MallocCaps.Default);
        block[40] = 0x00;
        Assert.True(heap.Realloc(block, 400, MallocCaps.Default) is null);
        Assert.Single(heap.RecentErrors);

        heap.SetTag(block, 0);

        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Single(heap.RecentErrors);
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void A_tracked_realloc_whose_allocation_hook_allocates_and_frees_through_the_tracker_still_reports_damage_at_the_realloc(string layout)
    {
        // The hook's own tracked malloc and free set this thread's call site and cleared it to 0 on the way out, so the
        // realloc that then found the damage reported it with no detecting site (and no operation of its own).
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* buffer, 40, MallocCaps.Default);
        buffer[40] = 0x00;
        tracker.AllocationHook = (in AllocationRequest _) =>
        {
            var scratch = tracker.Malloc(8, MallocCaps.Default);
            tracker.Free(ref scratch);
            return true;
        };

        var resized = tracker.Realloc(ref buffer, 400, MallocCaps.Default); var reallocLine = Line();

        Assert.False(resized);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferOverflow, error.Kind);
        Assert.Equal(AllocationMethod.Realloc, error.Operation);
        Assert.Equal(reallocLine, error.DetectedAt?.Line);
        Assert.Equal("buffer", error.DetectedAt?.VariableName);
        tracker.AllocationHook = null;
        tracker.Free(ref buffer);
    }

    [Theory]
    [InlineData("esp32", PoisoningLevel.Light)]
    [InlineData("esp32", PoisoningLevel.Comprehensive)]
    [InlineData("host", PoisoningLevel.Light)]
    [InlineData("host", PoisoningLevel.Comprehensive)]
    public void A_tracked_realloc_of_a_damaged_block_reports_it_releases_the_record_and_accepts_one_later_free(string layout, PoisoningLevel level)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var checkpoint = tracker.Checkpoint();
        tracker.Malloc(out byte* buffer, 40, MallocCaps.Default); var allocLine = Line();
        var address = (nuint)buffer;
        var copy = buffer;
        buffer[40] = 0x00;

        var resized = tracker.Realloc(ref buffer, 400, MallocCaps.Default); var reallocLine = Line();

        Assert.False(resized);
        Assert.True(buffer == copy); // A failed realloc leaves the caller's pointer as it was.
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferOverflow, error.Kind);
        Assert.Equal(AllocationMethod.Realloc, error.Operation);
        Assert.Equal(reallocLine, error.DetectedAt!.Value.Line);
        Assert.Equal("buffer", error.DetectedAt.Value.VariableName);
        Assert.Equal(allocLine, error.Block!.Line);
        Assert.Null(error.FreedAt);
        Assert.Empty(tracker.FailedAllocations); // Not a failed allocation: a damaged block.

        // The record is gone: no phantom leak.
        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Empty(tracker.GetAllocations());
        Assert.False(tracker.GetLeakReport(checkpoint).HasLeaks);

        // The caller frees the block it still holds: accepted, nothing new to report, nothing freed.
        tracker.Free(ref buffer);
        Assert.Single(heap.RecentErrors);

        // A second free of it is a double free, first freed by the realloc that set it aside.
        tracker.Free(ref copy); var secondFreeLine = Line();
        Assert.Equal(2, heap.RecentErrors.Count);
        var second = heap.RecentErrors[1];
        Assert.Equal(MemoryErrorKind.DoubleFree, second.Kind);
        Assert.Equal(secondFreeLine, second.DetectedAt!.Value.Line);
        Assert.Equal(reallocLine, second.FreedAt!.Value.Line);

        // Set aside for good: never handed out again.
        for (var i = 0; i < 200; i++)
        {
            var p = heap.Malloc(40, MallocCaps.Default);
            Assert.True((nuint)p != address);
            heap.Free(p);
        }

        Assert.Equal(2, heap.RecentErrors.Count);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void A_direct_realloc_of_a_damaged_block_releases_the_trackers_record(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        heap.MallocExtmemEnable(16 * 1024); // ReallocDefault chooses its memory itself (heap_caps_realloc_default).
        var failures = 0;
        heap.RegisterFailedAllocCallback((_, _, _) => failures++);
        var p = (byte*)heap.Malloc(40, MallocCaps.Default);
        var q = (byte*)heap.MallocDefault(24);
        var r = (byte*)heap.Malloc(16, MallocCaps.Default);
        p[-8] = 0;
        q[24] = 0;
        r[16] = 0;

        Assert.True(heap.Realloc(p, 80, MallocCaps.Default) == null);
        Assert.True(heap.ReallocDefault(q, 80) == null);
        Assert.True(heap.ReallocPrefer(r, 80, MallocCaps.Spiram, MallocCaps.Default) == null);

        Assert.Equal([MemoryErrorKind.BufferUnderflow, MemoryErrorKind.BufferOverflow, MemoryErrorKind.BufferOverflow], heap.RecentErrors.Select(e => e.Kind));
        Assert.Equal([AllocationMethod.Realloc, AllocationMethod.ReallocDefault, AllocationMethod.ReallocPrefer], heap.RecentErrors.Select(e => e.Operation));
        Assert.All(heap.RecentErrors, e => Assert.NotNull(e.Block));
        Assert.Equal(0, failures); // ESP-IDF asserts here; no failure callback.
        Assert.Empty(tracker.GetAllocations());
        heap.Free(p);
        heap.Free(q);
        heap.Free(r);
        Assert.Equal(3, heap.RecentErrors.Count);
    }

    [Fact]
    public void A_realloc_that_moves_a_damaged_block_to_other_memory_allocates_nothing_for_it()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* data, 40, MallocCaps.Bit8);
        data[40] = 0x00;
        var iram = heap.GetInfo(MallocCaps.Exec);

        Assert.False(tracker.Realloc(ref data, 40, MallocCaps.Exec)); // DRAM has no EXEC: a move, checked first.

        Assert.Equal(MemoryErrorKind.BufferOverflow, Assert.Single(heap.RecentErrors).Kind);
        Assert.Equal(iram.AllocatedBlocks, heap.GetInfo(MallocCaps.Exec).AllocatedBlocks);
        Assert.Equal(iram.TotalFreeBytes, heap.GetInfo(MallocCaps.Exec).TotalFreeBytes);
        Assert.Empty(tracker.GetAllocations());
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

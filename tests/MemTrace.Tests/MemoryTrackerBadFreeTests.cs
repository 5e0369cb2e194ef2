// Bad frees through the tracker: the report names the detecting call, the allocation site and,
// for a double free, the first free's site; nothing reaches the native free; the process lives.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerBadFreeTests
{
    [Fact]
    public void Double_free_names_the_allocation_the_first_free_and_the_second_free()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* buffer, 64, MallocCaps.Bit8); var allocLine = Line();
        var copy = buffer;
        f.T.Free(ref buffer); var firstFreeLine = Line();

        f.T.Free(ref copy); var secondFreeLine = Line();

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.Equal(secondFreeLine, error.DetectedAt!.Value.Line);
        Assert.Equal("copy", error.DetectedAt.Value.VariableName);
        Assert.Equal(allocLine, error.Block!.Line);
        Assert.Equal("buffer", error.Block.VariableName);
        Assert.Equal(64u, error.Block.Size);
        Assert.Equal(MallocCaps.Bit8, error.Block.Caps);
        Assert.Equal(firstFreeLine, error.FreedAt!.Value.Line);
        Assert.Equal("buffer", error.FreedAt.Value.VariableName);
        Assert.Equal(Environment.CurrentManagedThreadId, error.FreedByThreadId);
        Assert.True(copy == null);
        var report = f.Errors.ToString();
        Assert.Contains("double free of 0x", report, StringComparison.Ordinal);
        Assert.Contains("(64-byte block)", report, StringComparison.Ordinal);
        Assert.Contains($"allocated at {error.Block.File}:{allocLine}", report, StringComparison.Ordinal);
        Assert.Contains($":{firstFreeLine} in ", report, StringComparison.Ordinal);
        Assert.Contains("first freed at", report, StringComparison.Ordinal);
        Assert.Equal(0, f.T.LiveBlocks);
    }

    [Fact]
    public void Double_free_of_a_block_freed_on_another_thread_names_that_thread()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* shared, 64, MallocCaps.Default);
        var copy = shared;
        var otherThread = 0;
        var thread = new Thread(() =>
        {
            otherThread = Environment.CurrentManagedThreadId;
            f.T.Free(ref shared);
        });
        thread.Start();
        thread.Join();

        f.T.Free(ref copy);

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.Equal(otherThread, error.FreedByThreadId);
        Assert.Equal("shared", error.FreedAt!.Value.VariableName);
    }

    [Fact]
    public void A_pointer_never_handed_out_is_reported_with_the_free_site()
    {
        using var f = new HostFixture(withTracker: true);
        var native = (byte*)NativeMemory.AlignedAlloc(64, 16);
        var stranger = native;
        try
        {
            f.T.Free(ref stranger); var line = Line();

            var error = Assert.Single(f.Heap.RecentErrors);
            Assert.Equal(MemoryErrorKind.InvalidPointer, error.Kind);
            Assert.Equal(line, error.DetectedAt!.Value.Line);
            Assert.Equal("stranger", error.DetectedAt.Value.VariableName);
            Assert.Null(error.Block);
            Assert.True(stranger == null);
        }
        finally
        {
            NativeMemory.AlignedFree(native); // Still ours: MemTrace never freed it.
        }
    }

    [Fact]
    public void An_interior_pointer_is_reported_with_the_containing_blocks_allocation_site()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* packet, 100, MallocCaps.Dma); var allocLine = Line();
        var payload = packet + 20;

        f.T.Free(ref payload);

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.InteriorPointer, error.Kind);
        Assert.Equal("packet", error.Block!.VariableName);
        Assert.Equal(allocLine, error.Block.Line);
        Assert.Contains("20 bytes inside the 100-byte block", error.Message, StringComparison.Ordinal);
        Assert.Equal("payload", error.DetectedAt!.Value.VariableName);
        Assert.Equal(100, f.T.LiveBytes);
        packet[99] = 1; // The block is intact and ours.
        f.T.Free(ref packet);
    }

    [Fact]
    public void A_realloc_of_a_freed_block_is_reported_and_the_pointer_kept()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 64, MallocCaps.Default);
        var stale = data;
        f.T.Free(ref data);

        Assert.False(f.T.Realloc(ref stale, 128, MallocCaps.Default)); var line = Line();

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.ReallocOfFreedBlock, error.Kind);
        Assert.Equal(line, error.DetectedAt!.Value.Line);
        Assert.NotNull(error.FreedAt);
        Assert.Empty(f.T.FailedAllocations);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void A_double_free_through_HeapCaps_of_a_tracked_block_still_names_both_sites()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 32, MallocCaps.Default);
        var copy = data;
        f.T.Free(ref data);

        f.Heap.Free(copy);

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.Null(error.DetectedAt);
        Assert.Equal("data", error.Block!.VariableName);
        Assert.Equal("data", error.FreedAt!.Value.VariableName);
    }

    [Fact]
    public void A_double_free_of_a_block_that_was_never_tracked_says_the_tracker_has_no_record()
    {
        using var f = new HostFixture(withTracker: true, trackerEnabled: false);
        f.T.Malloc(out byte* data, 32, MallocCaps.Default);
        var copy = data;
        f.T.Free(ref data);

        f.T.Free(ref copy);

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.Null(error.Block);
        Assert.Contains("no longer holds this block's record", error.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Throw_policy_surfaces_a_bad_free_as_an_exception_and_still_nulls_the_pointer()
    {
        using var f = new HostFixture(MemoryErrorPolicy.Throw, withTracker: true);
        f.T.Malloc(out byte* data, 32, MallocCaps.Default);
        var copy = data;
        f.T.Free(ref data);

        var thrown = Assert.Throws<MemoryErrorException>(() => FreeThrough(f.T, copy));

        Assert.Equal(MemoryErrorKind.DoubleFree, thrown.Error!.Kind);
        Assert.NotNull(thrown.Error.FreedAt);
    }

    [Fact]
    public void After_every_kind_of_bad_free_the_tracker_and_heap_agree()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* keep, 48, MallocCaps.Default);
        f.T.Malloc(out byte* gone, 48, MallocCaps.Default);
        var stale = gone;
        f.T.Free(ref gone);
        var interior = keep + 16;
        var wild = (byte*)0x10;

        f.T.Free(ref stale);
        f.T.Free(ref interior);
        f.T.Free(ref wild);

        Assert.Equal(3, f.Heap.ErrorCount);
        Assert.Equal(1, f.T.LiveBlocks);
        Assert.Equal(1u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Equal((nuint)keep, Assert.Single(f.T.GetAllocations()).Address);
        f.T.Free(ref keep);
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }

    [Fact]
    public void A_double_free_after_the_freed_record_was_reused_is_still_a_double_free_but_names_no_site()
    {
        // The freed record lives until its handle comes round again in this thread's ring of free
        // handles; a few hundred allocations on the thread are more than enough for that.
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* victim, 64, MallocCaps.Default);
        var copy = victim;
        f.T.Free(ref victim);
        for (var i = 0; i < 300; i++)
        {
            var p = f.T.Malloc(16, MallocCaps.Default);
            f.T.Free(ref p);
        }

        // The documented limit applies only while the address is not live again (not handed out anew).
        Assert.Equal(0u, f.Heap.GetAllocatedSize(copy));

        f.T.Free(ref copy); var line = Line();

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.Equal(line, error.DetectedAt!.Value.Line);
        Assert.Equal("copy", error.DetectedAt.Value.VariableName);
        Assert.Null(error.Block);
        Assert.Null(error.FreedAt);
        Assert.Null(error.FreedByThreadId);
        Assert.Contains("no longer holds this block's record", error.Note, StringComparison.Ordinal);
        Assert.DoesNotContain("first freed at", f.Errors.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, f.T.LiveBlocks);
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }

    [Theory]
    [InlineData("host", "host")]
    [InlineData("esp32", "esp32")]
    [InlineData("host", "esp32")]
    [InlineData("esp32", "host")]
    public void A_block_of_another_heap_is_reported_and_never_freed_and_both_heaps_stay_consistent(string ownerLayout, string otherLayout)
    {
        using var owner = new HeapCaps(HeapLayout.FromName(ownerLayout), new HeapCapsOptions { ErrorOutput = null });
        using var other = new HeapCaps(HeapLayout.FromName(otherLayout), new HeapCapsOptions { ErrorOutput = null });
        using var ownerTracker = new MemoryTracker(owner, new MemoryTrackerOptions { Output = null });
        using var otherTracker = new MemoryTracker(other, new MemoryTrackerOptions { Output = null });
        ownerTracker.Malloc(out byte* mine, 100, MallocCaps.Default);
        new Span<byte>(mine, 100).Fill(0x5A);
        otherTracker.Malloc(out byte* theirs, 100, MallocCaps.Default);
        var otherFree = other.GetInfo(MallocCaps.None);

        var alias = mine;
        otherTracker.Free(ref alias); var line = Line();
        other.Free(mine);
        Assert.True(other.Realloc(mine, 200, MallocCaps.Default) == null);

        Assert.True(alias == null);
        Assert.Equal(3, other.ErrorCount);
        var first = other.RecentErrors[0];
        Assert.True(first.Kind is MemoryErrorKind.InvalidPointer or MemoryErrorKind.OutsideHeap, first.Kind.ToString());
        Assert.Equal(line, first.DetectedAt!.Value.Line);
        Assert.Equal("alias", first.DetectedAt.Value.VariableName);
        Assert.Null(first.Block);
        Assert.Equal(otherFree, other.GetInfo(MallocCaps.None));
        Assert.Equal((nuint)theirs, Assert.Single(otherTracker.GetAllocations()).Address);
        Assert.Equal(1, otherTracker.LiveBlocks);
        Assert.Equal(0, otherTracker.TotalFrees);

        // The block is intact and still the owner's.
        Assert.Equal(0, owner.ErrorCount);
        Assert.True(new Span<byte>(mine, 100).IndexOfAnyExcept((byte)0x5A) < 0);
        Assert.Equal((nuint)mine, Assert.Single(ownerTracker.GetAllocations()).Address);
        Assert.True(owner.GetAllocatedSize(mine) >= 100);
        ownerTracker.Free(ref mine);
        otherTracker.Free(ref theirs);
        Assert.Equal(0, owner.ErrorCount);
        Assert.Equal(3, other.ErrorCount);
        Assert.True(owner.CheckIntegrityAll(print: false));
        Assert.True(other.CheckIntegrityAll(print: false));
        Assert.Equal(0u, owner.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Equal(0u, other.GetInfo(MallocCaps.None).AllocatedBlocks);
    }

    [Fact]
    public void Two_threads_freeing_the_same_block_at_once_free_it_once_and_report_the_other_as_a_double_free()
    {
        const int rounds = 1000;
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var kinds = new System.Collections.Concurrent.ConcurrentQueue<MemoryErrorKind>();
        heap.MemoryErrorDetected += (_, e) => kinds.Enqueue(e.Error.Kind);
        var shared = 0L;
        using var start = new Barrier(3);
        using var done = new Barrier(3);
        var workers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            for (var round = 0; round < rounds; round++)
            {
                start.SignalAndWait();
                var p = (void*)Volatile.Read(ref shared);
                tracker.Free(ref p);
                done.SignalAndWait();
            }
        })).ToList();
        workers.ForEach(w => w.Start());

        for (var round = 0; round < rounds; round++)
        {
            Volatile.Write(ref shared, (long)tracker.Malloc((nuint)(16 + (round % 64)), MallocCaps.Default));
            start.SignalAndWait(TestContext.Current.CancellationToken);
            done.SignalAndWait(TestContext.Current.CancellationToken);
            Assert.Equal(round + 1, heap.ErrorCount);
        }

        workers.ForEach(w => w.Join());
        Assert.Equal(rounds, kinds.Count);
        Assert.All(kinds, k => Assert.Equal(MemoryErrorKind.DoubleFree, k));
        Assert.Equal(rounds, tracker.TotalAllocations);
        Assert.Equal(rounds, tracker.TotalFrees);
        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Equal(0, tracker.LiveBytes);
        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }

    private static void FreeThrough(MemoryTracker tracker, byte* pointer)
    {
        tracker.Free(ref pointer);
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

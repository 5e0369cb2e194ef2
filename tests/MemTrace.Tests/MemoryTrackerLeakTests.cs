// Checkpoints and leak reports: exactly the blocks allocated since a checkpoint and still live,
// on any thread, grouped by call site; the difference between two checkpoints; the unit-test
// assertion; the report and the integrity check at disposal; misuse.
using System.Runtime.CompilerServices;
using MemTrace.Diagnostics;
using MemTrace.Tracking;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerLeakTests
{
    [Fact]
    public void The_leak_report_holds_exactly_the_blocks_allocated_since_the_checkpoint_and_still_live_grouped_by_site()
    {
        using var f = new HostFixture(withTracker: true);

        // Before the checkpoint: a block that stays live, one freed after the checkpoint, one that is
        // reallocated after it, and a worker thread's block (the worker draws its request numbers in a block of its own).
        f.T.Malloc(out byte* before, 32, MallocCaps.Default);
        f.T.Malloc(out byte* freedAfter, 48, MallocCaps.Default);
        f.T.Malloc(out byte* reallocatedAfter, 24, MallocCaps.Default);
        using var early = new ManualResetEventSlim();
        using var go = new ManualResetEventSlim();
        byte* workerEarly = null, workerLeak = null;
        var workerLeakLine = 0;
        var worker = new Thread(() =>
        {
            f.T.Malloc(out workerEarly, 40, MallocCaps.Default);
            early.Set();
            go.Wait(TestContext.Current.CancellationToken);
            f.T.Malloc(out workerLeak, 100, MallocCaps.Default); workerLeakLine = Line();
            f.T.Malloc(out byte* workerTemp, 7, MallocCaps.Default);
            f.T.Free(ref workerTemp);
            f.T.Free(ref workerEarly);
        });
        worker.Start();
        early.Wait(TestContext.Current.CancellationToken);

        // Enough allocations on this thread that its request numbers pass the worker's: a block
        // allocated before the checkpoint then has a higher number than the worker's leak after it.
        byte* lastBefore = null;
        for (var i = 0; i < 70; i++)
        {
            f.T.Free(ref lastBefore);
            f.T.Malloc(out lastBefore, 8, MallocCaps.Default);
        }

        var checkpoint = f.T.Checkpoint("test start");

        f.T.Free(ref freedAfter);
        Assert.True(f.T.Realloc(ref reallocatedAfter, 4000, MallocCaps.Default));
        go.Set();
        worker.Join();
        var direct = f.Heap.Malloc(500, MallocCaps.Default);
        var threeLeaks = new nint[3];
        var loopLine = 0;
        for (var i = 0; i < 3; i++)
        {
            f.T.Malloc(out byte* a, 64, MallocCaps.Default); loopLine = Line();
            threeLeaks[i] = (nint)a;
        }

        f.T.Malloc(out byte* x, 16, MallocCaps.Default); f.T.Malloc(out byte* y, 16, MallocCaps.Default); var pairLine = Line();
        f.T.Calloc(out byte* transient, 2, 50, MallocCaps.Default);
        f.T.Free(ref transient);

        var report = f.T.GetLeakReport(checkpoint);

        Assert.Same(checkpoint, report.Since);
        Assert.Equal(7, report.Blocks);
        Assert.Equal(500 + 192 + 100 + 32, report.Bytes);
        Assert.Equal([500L, 192L, 100L, 32L], report.Sites.Select(s => s.Bytes));
        Assert.Equal([1, 3, 1, 2], report.Sites.Select(s => s.Blocks));

        var directSite = report.Sites[0];
        Assert.False(directSite.Site.IsKnown);
        Assert.Equal(AllocationMethod.Malloc, directSite.Site.Method);
        Assert.Equal((nuint)direct, Assert.Single(directSite.Allocations).Address);
        Assert.Empty(directSite.VariableNames);

        var loopSite = report.Sites[1];
        Assert.Equal(loopLine, loopSite.Site.Line);
        Assert.Equal(nameof(The_leak_report_holds_exactly_the_blocks_allocated_since_the_checkpoint_and_still_live_grouped_by_site), loopSite.Site.Function);
        Assert.Null(loopSite.Site.VariableName);
        Assert.Equal(["a"], loopSite.VariableNames);
        Assert.Equal(threeLeaks.Select(p => (nuint)p).Order(), loopSite.Allocations.Select(r => r.Address).Order());
        Assert.Equal(loopSite.RequestNumbers.Order(), loopSite.RequestNumbers);
        Assert.Equal(loopSite.Allocations.Select(r => r.RequestNumber), loopSite.RequestNumbers);

        var workerSite = report.Sites[2];
        Assert.Equal(workerLeakLine, workerSite.Site.Line);
        var leaked = Assert.Single(workerSite.Allocations);
        Assert.Equal((nuint)workerLeak, leaked.Address);
        Assert.NotEqual(Environment.CurrentManagedThreadId, leaked.ThreadId);
        var lastBeforeRecord = f.T.GetAllocations().Single(r => r.Address == (nuint)lastBefore);
        Assert.True(leaked.RequestNumber < lastBeforeRecord.RequestNumber, "request numbers alone would have put the worker's leak before the checkpoint");

        var pairSite = report.Sites[3];
        Assert.Equal(pairLine, pairSite.Site.Line);
        Assert.Equal(["x", "y"], pairSite.VariableNames);

        var expected = new[] { (nuint)direct, (nuint)workerLeak, (nuint)x, (nuint)y }.Concat(threeLeaks.Select(p => (nuint)p)).Order();
        Assert.Equal(expected, report.Allocations.Select(r => r.Address).Order());
        Assert.Equal(expected, f.T.GetAllocationsSince(checkpoint).Select(r => r.Address).Order());
        Assert.DoesNotContain(report.Allocations, r => r.Address == (nuint)before || r.Address == (nuint)reallocatedAfter || r.Address == (nuint)lastBefore);

        var text = report.ToString();
        Assert.Contains("detected memory leaks since checkpoint \"test start\" (#1): 7 blocks, 824 bytes, from 4 call sites", text, StringComparison.Ordinal);
        Assert.Contains("Leak of 500 bytes in 1 block allocated at (no call site, heap_caps_malloc)", text, StringComparison.Ordinal);
        Assert.Contains($"Leak of 192 bytes in 3 blocks allocated at {loopSite.Site.File}:{loopLine} in ", text, StringComparison.Ordinal);
        Assert.Contains("variables: x, y", text, StringComparison.Ordinal);
        Assert.Contains("{" + leaked.RequestNumber + "} block at 0x", text, StringComparison.Ordinal);
        Assert.Contains("SUMMARY: MemTrace: 824 bytes leaked in 7 allocations.", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("Leak of 500", StringComparison.Ordinal) < text.IndexOf("Leak of 192", StringComparison.Ordinal));
        Assert.True(text.IndexOf("Leak of 100", StringComparison.Ordinal) < text.IndexOf("Leak of 32", StringComparison.Ordinal));

        f.Heap.Free(direct);
        foreach (var p in threeLeaks)
        {
            f.Heap.Free((void*)p);
        }

        f.T.Free(ref x);
        f.T.Free(ref y);
        f.T.Free(ref workerLeak);
        Assert.False(f.T.GetLeakReport(checkpoint).HasLeaks);
        Assert.Equal(3, f.T.GetLeakReport().Blocks); // Since tracking began: before, reallocatedAfter, lastBefore.
        f.T.Free(ref before);
        f.T.Free(ref reallocatedAfter);
        f.T.Free(ref lastBefore);
    }

    [Fact]
    public void A_window_between_two_checkpoints_leaves_out_blocks_allocated_after_the_second()
    {
        using var f = new HostFixture(withTracker: true);
        var first = f.T.Checkpoint();
        f.T.Malloc(out byte* inside, 10, MallocCaps.Default);
        var second = f.T.Checkpoint();
        f.T.Malloc(out byte* after, 20, MallocCaps.Default);

        Assert.Equal([(nuint)inside], f.T.GetAllocationsSince(first, second).Select(r => r.Address));
        Assert.Equal([(nuint)after], f.T.GetAllocationsSince(second).Select(r => r.Address));
        Assert.Equal(1, f.T.GetLeakReport(first, second).Blocks);
        Assert.Contains("since checkpoint #1 until checkpoint #2", f.T.GetLeakReport(first, second).ToString(), StringComparison.Ordinal);
        f.T.Free(ref inside);
        f.T.Free(ref after);
    }

    [Fact]
    public void The_difference_between_checkpoints_counts_blocks_bytes_allocations_frees_and_failures()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* old, 1000, MallocCaps.Default);
        var from = f.T.Checkpoint("from");
        f.T.Malloc(out byte* a, 10, MallocCaps.Default);
        f.T.Malloc(out byte* b, 20, MallocCaps.Default);
        f.T.Malloc(out byte* c, 30, MallocCaps.Default);
        f.T.Free(ref old);
        f.T.Malloc(out byte* failed, 16, MallocCaps.Exec);
        var to = f.T.Checkpoint("to");

        var difference = f.T.Difference(from, to);

        Assert.Same(from, difference.From);
        Assert.Same(to, difference.To);
        Assert.Equal(2, difference.BlocksDelta);
        Assert.Equal(60 - 1000, difference.BytesDelta);
        Assert.Equal(3, difference.Allocations);
        Assert.Equal(1, difference.Frees);
        Assert.Equal(1, difference.FailedAllocations);
        Assert.True(difference.IsSignificant);
        Assert.Equal(1, from.LiveBlocks);
        Assert.Equal(3, to.LiveBlocks);
        Assert.Equal(2, to.Epoch);
        var text = difference.ToString();
        Assert.Contains("from checkpoint \"from\" (#1) to checkpoint \"to\" (#2)", text, StringComparison.Ordinal);
        Assert.Contains("live blocks: 1 -> 3 (+2)", text, StringComparison.Ordinal);
        Assert.Contains("live bytes:  1000 -> 60 (-940)", text, StringComparison.Ordinal);
        Assert.Contains("3 allocations, 1 free, 1 failed request", text, StringComparison.Ordinal);

        f.T.Free(ref a);
        f.T.Free(ref b);
        f.T.Free(ref c);
        var end = f.T.Checkpoint();
        var none = f.T.Difference(f.T.Checkpoint(), f.T.Checkpoint());
        Assert.False(none.IsSignificant);
        Assert.Equal(-1, f.T.Difference(from, end).BlocksDelta); // The block live at "from" is gone.
    }

    [Fact]
    public void Assert_no_leaks_passes_when_everything_was_freed_and_fails_with_the_report_otherwise()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* unrelated, 8, MallocCaps.Default); // Before the checkpoint: not this test's business.
        var checkpoint = f.T.Checkpoint("unit test");
        f.T.Malloc(out byte* freed, 64, MallocCaps.Default);
        f.T.Free(ref freed);

        f.T.AssertNoLeaksSince(checkpoint);

        f.T.Malloc(out byte* forgotten, 128, MallocCaps.Bit8); var line = Line();
        var e = Assert.Throws<MemoryLeakException>(() => f.T.AssertNoLeaksSince(checkpoint));

        var block = Assert.Single(e.Report!.Allocations);
        Assert.Equal((nuint)forgotten, block.Address);
        Assert.Equal("forgotten", block.VariableName);
        Assert.Contains($"MemoryTrackerLeakTests.cs:{line} in ", e.Message, StringComparison.Ordinal);
        Assert.Contains("variables: forgotten", e.Message, StringComparison.Ordinal);
        Assert.Contains("128 bytes long, MALLOC_CAP_8BIT", e.Message, StringComparison.Ordinal);
        f.T.Free(ref forgotten);
        f.T.AssertNoLeaksSince(checkpoint);
        f.T.Free(ref unrelated);
    }

    [Fact]
    public void Dump_memory_leaks_prints_the_report_and_a_single_line_when_nothing_leaked()
    {
        using var f = new HostFixture(withTracker: true);
        var checkpoint = f.T.Checkpoint();

        Assert.False(f.T.DumpMemoryLeaks(checkpoint).HasLeaks);
        Assert.Equal("MemTrace: no memory leaks since checkpoint #1." + Environment.NewLine, f.Output.ToString());

        f.T.Malloc(out byte* leak, 5, MallocCaps.Default);
        var writer = new StringWriter();
        Assert.True(f.T.DumpMemoryLeaks(checkpoint, writer).HasLeaks);
        Assert.Contains("SUMMARY: MemTrace: 5 bytes leaked in 1 allocation.", writer.ToString(), StringComparison.Ordinal);
        f.T.Free(ref leak);
    }

    [Fact]
    public void A_checkpoint_emits_a_checkpoint_event_with_every_regions_statistics()
    {
        var sink = new ListSink();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.Zero });
        tracker.Malloc(out byte* p, 100, MallocCaps.Default);

        tracker.Checkpoint("after setup");
        tracker.Checkpoint();

        var events = sink.Events.Where(e => e.Kind == HeapEventKind.Checkpoint).ToList();
        Assert.Equal(["after setup", "checkpoint #2"], events.Select(e => e.Label));
        var e = events[0];
        Assert.Equal(5, e.Regions!.Count);
        Assert.Equal(1, e.LiveBlocks);
        Assert.Equal(100, e.LiveBytes);
        tracker.Free(ref p);
    }

    [Fact]
    public void Checkpoints_are_checked_for_misuse()
    {
        using var f = new HostFixture(withTracker: true);
        using var otherHeap = new HeapCaps(HeapLayout.Host());
        using var other = new MemoryTracker(otherHeap, new MemoryTrackerOptions { Output = null });
        var first = f.T.Checkpoint();
        var second = f.T.Checkpoint();
        var foreign = other.Checkpoint();

        Assert.Throws<ArgumentNullException>(() => f.T.GetAllocationsSince(null!));
        Assert.Throws<ArgumentNullException>(() => f.T.AssertNoLeaksSince(null!));
        Assert.Throws<ArgumentNullException>(() => f.T.Difference(first, null!));
        Assert.Throws<ArgumentException>(() => f.T.Difference(second, first));
        Assert.Throws<ArgumentException>(() => f.T.GetAllocationsSince(second, first));
        Assert.Throws<ArgumentException>(() => f.T.GetLeakReport(foreign));
        Assert.Throws<ArgumentException>(() => f.T.AssertNoLeaksSince(foreign));
        Assert.Throws<ArgumentException>(() => f.T.Difference(first, foreign));

        f.T.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.T.Checkpoint());
        Assert.Throws<ObjectDisposedException>(() => f.T.GetLeakReport(first));
        Assert.Throws<ObjectDisposedException>(() => f.T.AssertNoLeaksSince(first));
    }

    [Fact]
    public void Once_the_checkpoints_are_used_up_every_later_checkpoint_is_refused_and_none_starts_over()
    {
        using var f = new HostFixture(withTracker: true);
        typeof(MemoryTracker).GetField("_checkpointEpoch", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .SetValue(f.T, uint.MaxValue - 1);
        var last = f.T.Checkpoint("last");
        f.T.Malloc(out byte* leaked, 8, MallocCaps.Default);

        Assert.Equal(uint.MaxValue, last.Epoch);
        Assert.Throws<InvalidOperationException>(() => f.T.Checkpoint());
        Assert.Throws<InvalidOperationException>(() => f.T.Checkpoint());
        f.T.Malloc(out byte* after, 8, MallocCaps.Default);
        Assert.Equal([(nuint)leaked, (nuint)after], f.T.GetAllocationsSince(last).Select(r => r.Address));

        f.T.Free(ref leaked);
        f.T.Free(ref after);
    }

    [Fact]
    public void A_misused_checkpoint_is_reported_under_the_name_of_the_parameter_that_took_it()
    {
        using var f = new HostFixture(withTracker: true);
        using var otherHeap = new HeapCaps(HeapLayout.Host());
        using var other = new MemoryTracker(otherHeap, new MemoryTrackerOptions { Output = null });
        var first = f.T.Checkpoint();
        var second = f.T.Checkpoint();
        var foreign = other.Checkpoint();

        Assert.Equal("from", Assert.Throws<ArgumentException>(() => f.T.Difference(foreign, second)).ParamName);
        Assert.Equal("to", Assert.Throws<ArgumentException>(() => f.T.Difference(first, foreign)).ParamName);
        Assert.Equal("to", Assert.Throws<ArgumentException>(() => f.T.Difference(second, first)).ParamName);
        Assert.Equal("checkpoint", Assert.Throws<ArgumentException>(() => f.T.AssertNoLeaksSince(foreign)).ParamName);
        Assert.Equal("checkpoint", Assert.Throws<ArgumentException>(() => f.T.GetAllocationsSince(foreign)).ParamName);
        Assert.Equal("until", Assert.Throws<ArgumentException>(() => f.T.GetAllocationsSince(second, first)).ParamName);
        Assert.Equal("since", Assert.Throws<ArgumentException>(() => f.T.GetLeakReport(foreign)).ParamName);
        Assert.Equal("until", Assert.Throws<ArgumentException>(() => f.T.GetLeakReport(first, foreign)).ParamName);
        Assert.Equal("since", Assert.Throws<ArgumentException>(() => f.T.DumpMemoryLeaks(foreign)).ParamName);
    }

    [Fact]
    public void Disposal_writes_the_leak_report_when_asked()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        var output = new StringWriter();
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output, ReportLeaksAtExit = true });
        tracker.Malloc(out byte* leaked, 77, MallocCaps.Default);

        tracker.Dispose();

        var text = output.ToString();
        Assert.Contains("detected memory leaks since tracking began: 1 block, 77 bytes", text, StringComparison.Ordinal);
        Assert.Contains("variables: leaked", text, StringComparison.Ordinal);
        heap.Free(leaked);
    }

    [Fact]
    public void Disposal_reports_nothing_when_not_asked()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        var output = new StringWriter();
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output });
        tracker.Malloc(out byte* leaked, 77, MallocCaps.Default);

        tracker.Dispose();

        Assert.Equal(string.Empty, output.ToString());
        heap.Free(leaked);
    }

    [Fact]
    public void Disposal_checks_the_heaps_integrity_and_reports_damage_the_region_found()
    {
        var errors = new StringWriter();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = errors });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* victim, 64, MallocCaps.Default);
        tracker.Malloc(out byte* next, 64, MallocCaps.Default);
        Assert.True(heap.CheckIntegrityAll(print: false));
        var headerOfNext = (nuint*)next - 1;
        var saved = *headerOfNext;
        *headerOfNext = 0xDEAD0; // The next block's size word, right before its data: an overflow of victim.

        tracker.Dispose();

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(1, heap.ErrorCount);
        Assert.Equal(MemoryErrorKind.CorruptBlock, error.Kind);
        Assert.Equal("DRAM", error.RegionName);
        Assert.InRange(error.Address, (nuint)victim, (nuint)next); // The first damaged header: between the two blocks' data.
        Assert.Contains("failed its integrity check (multi_heap_check) when the tracker was disposed", error.Note, StringComparison.Ordinal);
        Assert.Contains("TLSF check: ", error.Note, StringComparison.Ordinal);
        Assert.StartsWith($"MEMTRACE ERROR: corrupt block header at 0x{error.Address:x}", errors.ToString(), StringComparison.Ordinal);
        Assert.Contains("note: TLSF check: ", errors.ToString(), StringComparison.Ordinal);
        *headerOfNext = saved;
        Assert.True(heap.CheckIntegrityAll(print: false));
        heap.Free(victim);
        heap.Free(next);
    }

    [Fact]
    public void A_damaged_heap_found_at_disposal_follows_the_throw_policy_and_raises_the_error_event_and_the_tracker_is_disposed_all_the_same()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null, ErrorPolicy = MemoryErrorPolicy.Throw });
        var raised = new List<MemoryError>();
        heap.MemoryErrorDetected += (_, e) => raised.Add(e.Error);
        var sink = new ListSink();
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.Zero });
        tracker.Malloc(out byte* victim, 64, MallocCaps.Default);
        tracker.Malloc(out byte* next, 64, MallocCaps.Default);
        var headerOfNext = (nuint*)next - 1;
        var saved = *headerOfNext;
        *headerOfNext = 0xDEAD0;

        var thrown = Assert.Throws<MemoryErrorException>(tracker.Dispose);

        Assert.Equal(MemoryErrorKind.CorruptBlock, thrown.Error!.Kind);
        Assert.Same(thrown.Error, Assert.Single(raised));
        Assert.Same(thrown.Error, sink.Events.Single(e => e.Kind == HeapEventKind.MemoryError).Error);
        *headerOfNext = saved;
        using var again = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null }); // Detached all the same.
        tracker.Dispose(); // Once only.
        Assert.Single(raised);
        heap.Free(victim);
        heap.Free(next);
    }

    [Fact]
    public void A_corruption_a_poisoning_region_finds_at_disposal_is_reported_once_with_its_block()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null, Poisoning = PoisoningLevel.Light });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* overrun, 20, MallocCaps.Default);
        overrun[20] = 0x55; // One byte past the end: the tail canary.

        tracker.Dispose();

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferOverflow, error.Kind);
        Assert.Equal("overrun", error.Block!.VariableName);
    }

    [Fact]
    public void The_periodic_check_reports_a_damaged_heap_structure_as_an_error()
    {
        var errors = new StringWriter();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = errors, IntegrityCheckInterval = 3 });
        var a = heap.Malloc(64, MallocCaps.Default);
        var b = heap.Malloc(64, MallocCaps.Default); // Operations 1 and 2: no check yet.
        var headerOfB = (nuint*)b - 1;
        var saved = *headerOfB;
        *headerOfB = 0xDEAD0;
        Assert.Equal(0, heap.ErrorCount);

        heap.Malloc(0, MallocCaps.Default); // Operation 3: the check, which touches no block.

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.CorruptBlock, error.Kind);
        Assert.Contains("at the periodic check (IntegrityCheckInterval)", error.Note, StringComparison.Ordinal);
        Assert.Contains("MEMTRACE ERROR: corrupt block header at 0x", errors.ToString(), StringComparison.Ordinal);
        Assert.False(heap.CheckIntegrityAll(print: false)); // The public check answers and reports nothing, as ESP-IDF's.
        Assert.Equal(1, heap.ErrorCount);
        *headerOfB = saved;
        heap.Free(a);
        heap.Free(b);
    }

    [Fact]
    public void Disposal_of_a_sound_heap_writes_nothing_and_the_check_can_be_turned_off()
    {
        var errors = new StringWriter();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = errors });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* p, 64, MallocCaps.Default);
        tracker.Dispose();
        Assert.Equal(string.Empty, errors.ToString());

        var unchecked_ = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, CheckIntegrityOnDispose = false });
        var header = (nuint*)p - 1;
        var saved = *header;
        *header = 0xDEAD0;
        unchecked_.Dispose();
        *header = saved;

        Assert.Equal(string.Empty, errors.ToString());
        heap.Free(p);
    }

    [Fact]
    public void Records_stay_60_bytes_with_the_epoch_and_bookkeeping_within_64_bytes_per_live_block_with_checkpoints()
    {
        Assert.Equal(60, sizeof(TrackedRecord));
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        const int count = 100_000;
        var blocks = new nint[count];
        var checkpoints = new List<MemoryCheckpoint>();
        for (var i = 0; i < count; i++)
        {
            if (i % 10_000 == 0)
            {
                checkpoints.Add(tracker.Checkpoint());
            }

            blocks[i] = (nint)tracker.Malloc(16, MallocCaps.Default);
        }

        var perBlock = (double)tracker.BookkeepingBytes / tracker.LiveBlocks;

        Assert.InRange(perBlock, 60, 64);
        Assert.Equal(10_000, tracker.GetAllocationsSince(checkpoints[^1]).Count);
        Assert.Equal(20_000, tracker.GetAllocationsSince(checkpoints[^3], checkpoints[^1]).Count);
        foreach (var b in blocks)
        {
            heap.Free((void*)b);
        }
    }

    private static int Line([CallerLineNumber] int line = 0) => line;

    private sealed class ListSink : IHeapEventSink
    {
        public List<HeapEvent> Events { get; } = [];

        public void Emit(in HeapEvent heapEvent)
        {
            lock (Events)
            {
                Events.Add(heapEvent);
            }
        }
    }
}

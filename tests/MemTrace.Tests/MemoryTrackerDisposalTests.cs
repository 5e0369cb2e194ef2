// Disposal: after Dispose every tracker method refuses with ObjectDisposedException and nothing
// reaches the freed records; the heap may go first, even with blocks that its disposal unmaps; and
// a tracker may be disposed while other threads go on using its heap directly.
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerDisposalTests
{
    [Fact]
    public void Disposing_the_heap_or_its_tracker_inside_a_walker_is_refused_and_both_dispose_after_it()
    {
        // Inside a walker the region's lock is held: disposal stopped part-way with LockRecursionException, marked done,
        // and the regions' memory (or the tracker's records) was never released.
        var heap = new HeapCaps(HeapLayout.Esp32(psramMiB: 4), new HeapCapsOptions { ErrorOutput = null });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var block = tracker.Malloc(100, MallocCaps.Internal);
        Exception? heapRefusal = null, trackerRefusal = null;

        heap.WalkAll((region, b) =>
        {
            heapRefusal = Record.Exception(heap.Dispose);
            trackerRefusal = Record.Exception(tracker.Dispose);
            return false;
        });

        Assert.IsType<InvalidOperationException>(heapRefusal);
        Assert.Contains("walker", heapRefusal.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(trackerRefusal);
        Assert.Equal(1, tracker.LiveBlocks); // Nothing was disposed: both still work.
        Assert.True(heap.GetAllocatedSize(block) >= 100);
        tracker.Free(ref block);
        Assert.Equal(0, tracker.LiveBlocks);

        // Another heap's walker does not stand in the way, and both dispose once the walk is over.
        using var other = new HeapCaps(HeapLayout.Host());
        other.WalkAll((region, b) => false);
        tracker.Dispose();
        heap.Dispose();
        Assert.Throws<ObjectDisposedException>(() => heap.Malloc(16, MallocCaps.Default));
    }

    [Fact]
    public void After_dispose_enabling_throws_and_no_method_reaches_the_freed_records()
    {
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        var output = new StringWriter();
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output });

        // This thread's cell now holds free record handles of the store that Dispose frees.
        tracker.Malloc(out byte* kept, 32, MallocCaps.Default);
        var scratch = tracker.Malloc(16, MallocCaps.Default);
        tracker.Free(ref scratch);
        var checkpoint = tracker.Checkpoint();
        tracker.Dispose();

        Assert.False(tracker.Enabled);
        Assert.Throws<ObjectDisposedException>(() => tracker.Enabled = true);
        Assert.Throws<ObjectDisposedException>(() => tracker.Enabled = false);
        Assert.False(tracker.Enabled);
        Assert.Throws<ObjectDisposedException>(() => tracker.Malloc(16, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => tracker.Malloc(out void* _, 16, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => tracker.Calloc(2, 8, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => tracker.AlignedAlloc(64, 16, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => tracker.AlignedAlloc(out void* _, 64, 16, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => tracker.Realloc(null, 16, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => tracker.Realloc(kept, 64, MallocCaps.Default));
        var alias = kept;
        Assert.Throws<ObjectDisposedException>(() => tracker.Free(ref alias));
        Assert.Throws<ObjectDisposedException>(() => tracker.GetAllocations());
        Assert.Throws<ObjectDisposedException>(() => tracker.ListAllocations());
        Assert.Throws<ObjectDisposedException>(() => tracker.PrintMemoryInfo("after"));
        Assert.Throws<ObjectDisposedException>(() => tracker.Checkpoint());
        Assert.Throws<ObjectDisposedException>(() => tracker.GetAllocationsSince(checkpoint));
        Assert.Throws<ObjectDisposedException>(() => tracker.GetLeakReport());
        Assert.Throws<ObjectDisposedException>(() => tracker.DumpMemoryLeaks());
        Assert.Throws<ObjectDisposedException>(() => tracker.AssertNoLeaksSince(checkpoint));
        byte* nothing = null;
        tracker.Free(ref nothing); // Null stays a no-op.

        // Nothing was allocated, nothing recorded; counters keep their last values.
        Assert.Equal(1u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Equal(1, tracker.LiveBlocks);
        Assert.Equal(0, tracker.FailedAllocationCount);
        Assert.Equal(0, heap.ErrorCount);
        Assert.True(alias == kept);
        kept[31] = 7; // Still the caller's block, freed through the heap with no report.
        heap.Free(kept);
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("esp32")]
    public void Blocks_recorded_by_a_disposed_tracker_are_unknown_to_the_next_one(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { ErrorOutput = null });
        var first = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var blocks = new List<nint>();
        for (var i = 0; i < 100; i++)
        {
            blocks.Add((nint)first.Malloc((nuint)(16 + i), MallocCaps.Default));
        }

        first.Dispose();
        using var second = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        second.Malloc(out byte* fresh, 40, MallocCaps.Default);

        // Freed through the heap and through the new tracker: neither takes them for its own blocks.
        for (var i = 0; i < blocks.Count; i++)
        {
            var p = (void*)blocks[i];
            if (i % 2 == 0)
            {
                heap.Free(p);
            }
            else
            {
                second.Free(ref p);
            }
        }

        var record = Assert.Single(second.GetAllocations());
        Assert.Equal("fresh", record.VariableName);
        Assert.Equal(1, second.LiveBlocks);
        Assert.Equal(0, second.TotalFrees);
        second.Free(ref fresh);
        Assert.Equal(0, heap.ErrorCount);
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }

    [Fact]
    public void Disposing_the_heap_first_with_a_large_tracked_block_live_is_safe()
    {
        // 64 MiB is above glibc's largest mmap threshold: the heap's disposal unmaps the block, so a
        // tracker that wrote to its header afterwards would crash the process.
        var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        var output = new StringWriter();
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output, ReportLeaksAtExit = true });
        Assert.True(tracker.Malloc(out byte* large, 64 << 20, MallocCaps.Default));
        Assert.True(tracker.Calloc(out byte* small, 4, 16, MallocCaps.Default));
        large[0] = 1;

        heap.Dispose();
        tracker.Dispose();

        // The leak report of the dispose still names both blocks: the records outlived the heap.
        var report = output.ToString();
        Assert.Contains("large", report, StringComparison.Ordinal);
        Assert.Contains("small", report, StringComparison.Ordinal);
        Assert.Equal(2, tracker.LiveBlocks);
        Assert.Throws<ObjectDisposedException>(() => tracker.GetAllocations());
        Assert.Throws<ObjectDisposedException>(() => tracker.Free(ref small));
        tracker.Dispose(); // Once only.
    }

    [Fact]
    public void Disposing_the_heap_first_on_a_chip_layout_is_safe()
    {
        var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        Assert.True(tracker.Malloc(out byte* block, 1000, MallocCaps.Default));

        heap.Dispose();
        tracker.Dispose();

        Assert.Equal(1, tracker.LiveBlocks);
        Assert.Throws<ObjectDisposedException>(() => heap.Free(block));
    }

    [Theory]
    [InlineData(MemoryErrorPolicy.Report, "heap.Realloc")]
    [InlineData(MemoryErrorPolicy.Throw, "heap.Realloc")]
    [InlineData(MemoryErrorPolicy.Report, "tracker.Realloc")]
    [InlineData(MemoryErrorPolicy.Report, "heap.Malloc")]
    [InlineData(MemoryErrorPolicy.Report, "tracker.Malloc")]
    public void A_call_whose_heap_is_disposed_under_it_throws_ObjectDisposedException_and_reports_no_bad_pointer_or_failure(MemoryErrorPolicy policy, string call)
    {
        // The heap disposed while a call is inside it (here by an allocation hook; in a program by another thread at
        // shutdown): the regions answer for memory that is gone. That is neither a bad pointer nor a failed allocation
        // (under FailFast or AbortOnAllocationFailure either ended the process) but a call on a disposed heap.
        var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null, ErrorPolicy = policy });
        var callbacks = 0;
        heap.RegisterFailedAllocCallback((_, _, _) => callbacks++);
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, CheckIntegrityOnDispose = false });
        var block = tracker.Malloc(32, MallocCaps.Default);
        tracker.AllocationHook = (in AllocationRequest request) =>
        {
            if (request.Size == 999)
            {
                heap.Dispose();
            }

            return true;
        };

        Action act = call switch
        {
            "heap.Realloc" => () => heap.Realloc(block, 999, MallocCaps.Default),
            "tracker.Realloc" => () => tracker.Realloc(block, 999, MallocCaps.Default),
            "heap.Malloc" => () => heap.Malloc(999, MallocCaps.Default),
            _ => () => tracker.Malloc(999, MallocCaps.Default),
        };

        Assert.Throws<ObjectDisposedException>(act);
        Assert.True(heap.IsDisposed);
        Assert.Equal(0, heap.ErrorCount);
        Assert.Equal(0, callbacks);
        Assert.Equal(0, tracker.FailedAllocationCount);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("esp32")]
    public void A_tracker_disposed_while_another_thread_allocates_and_frees_on_the_heap_leaves_heap_and_next_tracker_consistent(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { ErrorOutput = null });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var stop = 0;
        var operations = 0L;
        Exception? workerFailure = null;
        var worker = new Thread(() =>
        {
            try
            {
                var random = new Random(42);
                var live = new List<nint>();
                while (Volatile.Read(ref stop) == 0)
                {
                    var choice = random.Next(10);
                    if (choice < 4 || live.Count == 0)
                    {
                        // Now and then a large block: on the host its header sits in a mapping of its own.
                        var size = random.Next(50) == 0 ? (nuint)(300 << 10) : (nuint)random.Next(1, 2048);
                        var p = choice % 2 == 0 ? heap.Malloc(size, MallocCaps.Default) : heap.Calloc(1, size, MallocCaps.Default);
                        if (p is not null)
                        {
                            *(byte*)p = 1;
                            live.Add((nint)p);
                        }
                    }
                    else if (choice < 6)
                    {
                        var index = random.Next(live.Count);
                        var moved = heap.Realloc((void*)live[index], (nuint)random.Next(1, 4096), MallocCaps.Default);
                        if (moved is not null)
                        {
                            live[index] = (nint)moved;
                        }
                    }
                    else
                    {
                        var index = random.Next(live.Count);
                        heap.Free((void*)live[index]);
                        live[index] = live[^1];
                        live.RemoveAt(live.Count - 1);
                    }

                    Interlocked.Increment(ref operations);
                }

                foreach (var p in live)
                {
                    heap.Free((void*)p);
                }
            }
            catch (Exception e)
            {
                workerFailure = e;
            }
        });
        worker.Start();
        try
        {
            for (var round = 0; round < 100 && workerFailure is null; round++)
            {
                var target = Interlocked.Read(ref operations) + 200;
                while (Interlocked.Read(ref operations) < target && worker.IsAlive)
                {
                    Thread.SpinWait(20);
                }

                tracker.Dispose();
                tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
            }
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            worker.Join();
        }

        // Every block is freed: the last tracker holds no record, none went negative, no false report.
        Assert.Null(workerFailure);
        Assert.Equal(0, heap.ErrorCount);
        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Equal(0, tracker.LiveBytes);
        Assert.Equal(tracker.TotalAllocations, tracker.TotalFrees);
        tracker.Dispose();
    }
}

[Collection(MemTrace.Tests.Diagnostics.SelfLogCollection.Name)]
public unsafe class MemoryTrackerDisposalOutputFailureTests
{
    [Fact]
    public void A_leak_report_whose_writer_throws_at_dispose_is_self_logged_and_the_tracker_still_lets_go_of_the_heap()
    {
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = new RefusingWriter(), ReportLeaksAtExit = true });
        var leaked = tracker.Malloc(32, MallocCaps.Default);

        var messages = MemTrace.Tests.Diagnostics.SelfLogCollection.Capture(tracker.Dispose);

        Assert.Contains(messages, m => m.Contains("could not write the leak report", StringComparison.Ordinal) && m.Contains("refused", StringComparison.Ordinal));
        using var next = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null }); // Detached: a new tracker may attach.
        heap.Free(leaked);
    }

    private sealed class RefusingWriter : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value) => throw new InvalidOperationException("refused");

        public override void Write(string? value) => throw new InvalidOperationException("refused");
    }
}

// Debugging aids: the break on request N, the allocation hook that refuses exactly the chosen
// requests (Nth, call site, seeded probability) and nothing else, and stack capture at the
// configured depth, shown in listings, leak reports, failure logs and error reports.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerDebugAidsTests
{
    // ---- Break on request N ----

    [Fact]
    public void The_break_callback_runs_once_when_the_chosen_request_is_allocated()
    {
        using var f = new HostFixture(withTracker: true);
        var seen = new List<AllocationRequest>();
        f.T.BreakAllocCallback = seen.Add;
        f.T.BreakAlloc = 3;
        var blocks = new List<nint>();
        var lines = new List<int>();

        for (var i = 0; i < 5; i++)
        {
            f.T.Calloc(out byte* item, 2, 10 + (nuint)i, MallocCaps.Bit8); lines.Add(Line());
            blocks.Add((nint)item);
        }

        var request = Assert.Single(seen);
        Assert.Equal(3, request.RequestNumber);
        Assert.Equal(AllocationMethod.Calloc, request.Method);
        Assert.Equal(24u, request.Size);
        Assert.Equal(MallocCaps.Bit8, request.Caps);
        Assert.Equal(lines[2], request.Site.Line);
        Assert.Equal("item", request.Site.VariableName);
        Assert.Equal(Environment.CurrentManagedThreadId, request.ThreadId);
        Assert.Equal(3, f.T.GetAllocations().Single(r => r.Address == (nuint)blocks[2]).RequestNumber);
        Assert.All(blocks, b => Assert.NotEqual(0, b));
        FreeAll(f.T, blocks);
    }

    [Theory]
    [InlineData("aligned, bad alignment")]
    [InlineData("calloc of 0 elements")]
    [InlineData("calloc that overflows")]
    [InlineData("malloc of 0 bytes")]
    [InlineData("malloc too large")]
    public void A_refused_tracked_request_calls_the_failure_callback_as_the_same_request_failing_for_real(string request)
    {
        // A refused request must look like a real failure to the code under test. A refused AlignedAlloc(3, 16) called the
        // callback where a real one does not, a refused Calloc(0, 5) did not where a real one does, and a refused calloc
        // that overflows got nuint.MaxValue instead of ESP-IDF's wrapped product (a helper's probe).
        using var real = new HostFixture(withTracker: true);
        using var refused = new HostFixture(withTracker: true);
        refused.T.AllocationHook = (in AllocationRequest r) => false;
        foreach (var f in (HostFixture[])[real, refused])
        {
            var block = request switch
            {
                "aligned, bad alignment" => f.T.AlignedAlloc(3, 16, MallocCaps.Default),
                "calloc of 0 elements" => f.T.Calloc(0, 5, MallocCaps.Default),
                "calloc that overflows" => f.T.Calloc((nuint)1 << 40, ((nuint)1 << 30) + 1, MallocCaps.Default),
                "malloc of 0 bytes" => f.T.Malloc(0, MallocCaps.Default),
                _ => f.T.Malloc(nuint.MaxValue / 2, MallocCaps.Default),
            };
            Assert.True(block == null);
        }

        Assert.Equal(real.Failures.Calls, refused.Failures.Calls);
    }

    [Fact]
    public void A_refused_calloc_that_overflows_is_logged_with_both_factors_as_a_real_one()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.AllocationHook = (in AllocationRequest r) => false;

        Assert.True(f.T.Calloc((nuint)1 << 40, ((nuint)1 << 30) + 1, MallocCaps.Default) == null);
        Assert.True(f.Heap.Calloc(2, (nuint)1 << 63, MallocCaps.Default) == null);

        Assert.Contains("1099511627776 x 1073741825 bytes (overflows)", f.Output.ToString(), StringComparison.Ordinal);
        Assert.Contains("2 x 9223372036854775808 bytes (overflows)", f.Output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_break_callback_that_throws_at_the_first_tracked_realloc_of_an_untracked_block_leaves_the_counts_right()
    {
        // The block was tagged with a handle before the break, whose record the exception then never committed: the
        // block's free made the live count -1 (a helper's probe). The break now comes first, as on every other path.
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Enabled = false });
        var p = tracker.Malloc(256, MallocCaps.Default);
        tracker.Enabled = true;
        var probe = tracker.Malloc(8, MallocCaps.Default); // Learns the next request number.
        var next = tracker.ListAllocations(TextWriter.Null).Single().RequestNumber + 1;
        tracker.Free(ref probe);
        tracker.BreakAlloc = next;
        tracker.BreakAllocCallback = _ => throw new InvalidOperationException("break");

        Assert.Throws<InvalidOperationException>(() => tracker.Realloc(p, 128, MallocCaps.Default)); // Shrinks in place: p stays valid.
        tracker.BreakAllocCallback = null;
        tracker.BreakAlloc = 0;
        tracker.Free(ref p);

        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Equal(0, tracker.LiveBytes);
        Assert.True(heap.CheckIntegrityAll(false));
    }

    [Fact]
    public void The_break_also_fires_for_an_allocation_made_on_the_heap_directly()
    {
        using var f = new HostFixture(withTracker: true);
        long hit = 0;
        f.T.BreakAllocCallback = r => hit = r.RequestNumber;
        f.T.BreakAlloc = 2;

        var a = f.Heap.Malloc(8, MallocCaps.Default);
        var b = f.Heap.Malloc(8, MallocCaps.Default);

        Assert.Equal(2, hit);
        f.Heap.Free(a);
        f.Heap.Free(b);
    }

    [Fact]
    public void Without_a_callback_or_a_debugger_the_break_is_written_to_the_output()
    {
        if (Debugger.IsAttached)
        {
            return; // It would really break.
        }

        using var f = new HostFixture(withTracker: true);
        f.T.BreakAlloc = 1;

        f.T.Malloc(out byte* first, 16, MallocCaps.Default);

        Assert.Contains("MemTrace: break at request #1 (heap_caps_malloc of 16 bytes at ", f.Output.ToString(), StringComparison.Ordinal);
        Assert.Contains("no debugger attached", f.Output.ToString(), StringComparison.Ordinal);
        f.T.Free(ref first);
    }

    [Fact]
    public void Clearing_the_break_stops_it_and_a_negative_number_is_refused()
    {
        using var f = new HostFixture(withTracker: true);
        var hits = 0;
        f.T.BreakAllocCallback = _ => hits++;
        f.T.BreakAlloc = 1;
        f.T.BreakAlloc = 0;

        f.T.Malloc(out byte* p, 16, MallocCaps.Default);

        Assert.Equal(0, hits);
        Assert.Equal(0, f.T.BreakAlloc);
        Assert.Throws<ArgumentOutOfRangeException>(() => f.T.BreakAlloc = -1);
        f.T.Free(ref p);
    }

    // ---- Allocation hook ----

    [Fact]
    public void Fail_nth_refuses_exactly_the_nth_request_and_logs_and_counts_it()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.AllocationHook = FailureInjection.FailNth(3);
        var results = new List<nint>();

        for (var i = 0; i < 6; i++)
        {
            f.T.Malloc(out byte* p, 32, MallocCaps.Default);
            results.Add((nint)p);
        }

        Assert.Equal([false, false, true, false, false, false], results.Select(p => p == 0));
        Assert.Equal(1, f.T.RefusedAllocationCount);
        Assert.Equal(1, f.T.FailedAllocationCount);
        var failure = Assert.Single(f.T.FailedAllocations);
        Assert.True(failure.Failure);
        Assert.True(failure.Refused);
        Assert.Equal(32u, failure.Size);
        Assert.Equal("p", failure.VariableName);
        Assert.Equal(5, f.T.LiveBlocks);
        Assert.Equal([(32u, MallocCaps.Default, "heap_caps_malloc")], f.Failures.Calls.Select(c => ((uint)c.Size, c.Caps, c.Function))); // As for a real failure.
        Assert.Contains("allocation refused by the allocation hook (injected failure): heap_caps_malloc of 32 bytes", f.Output.ToString(), StringComparison.Ordinal);
        FreeAll(f.T, results.Where(p => p != 0));
    }

    [Fact]
    public void Fail_at_site_refuses_every_request_of_that_line_and_none_of_any_other()
    {
        using var f = new HostFixture(withTracker: true);
        var failingLine = Line() + 5;
        f.T.AllocationHook = FailureInjection.FailAtSite("MemoryTrackerDebugAidsTests.cs", failingLine);
        var kept = new List<nint>();
        for (var i = 0; i < 4; i++)
        {
            f.T.Malloc(out byte* refused, 8, MallocCaps.Default);
            f.T.Malloc(out byte* served, 8, MallocCaps.Default);
            Assert.True(refused == null);
            Assert.True(served != null);
            kept.Add((nint)served);
        }

        Assert.Equal(4, f.T.RefusedAllocationCount);
        Assert.All(f.T.FailedAllocations, r => Assert.Equal(failingLine, r.Line));
        Assert.All(f.T.FailedAllocations, r => Assert.Equal("refused", r.VariableName));

        // A path suffix matches too; another file with the same line does not.
        f.T.AllocationHook = FailureInjection.FailAtSite("MemTrace.Tests/MemoryTrackerDebugAidsTests.cs", Line() + 1);
        Assert.True(f.T.Malloc(16, MallocCaps.Default) == null);
        f.T.AllocationHook = FailureInjection.FailAtSite("OtherFile.cs", Line() + 1);
        var other = f.T.Malloc(16, MallocCaps.Default);
        Assert.True(other != null);
        f.T.AllocationHook = FailureInjection.FailAtSite("TrackerDebugAidsTests.cs", Line() + 1); // Not a whole file name.
        var partial = f.T.Malloc(16, MallocCaps.Default);
        Assert.True(partial != null);

        kept.Add((nint)other);
        kept.Add((nint)partial);
        FreeAll(f.T, kept);
    }

    [Fact]
    public void Fail_randomly_refuses_the_same_requests_for_the_same_seed_and_only_those_it_predicts()
    {
        const double probability = 0.3;
        var first = RefusedIndexes(FailureInjection.FailRandomly(probability, 42), 2000);
        var again = RefusedIndexes(FailureInjection.FailRandomly(probability, 42), 2000);
        var otherSeed = RefusedIndexes(FailureInjection.FailRandomly(probability, 43), 2000);

        Assert.Equal(first, again);
        Assert.NotEqual(first, otherSeed);
        Assert.InRange(first.Count, 500, 700);
        var predicted = Enumerable.Range(0, 2000).Where(i => FailureInjection.IsRefused(42, i + 1, probability)).ToList();
        Assert.Equal(predicted, first);
        Assert.Empty(RefusedIndexes(FailureInjection.FailRandomly(0, 1), 200));
        Assert.Equal(200, RefusedIndexes(FailureInjection.FailRandomly(1, 1), 200).Count);

        static List<int> RefusedIndexes(AllocationHook hook, int count)
        {
            using var f = new HostFixture(withTracker: true);
            f.T.AllocationHook = hook;
            var refused = new List<int>();
            var kept = new List<nint>();
            for (var i = 0; i < count; i++)
            {
                var p = f.T.Malloc(24, MallocCaps.Default);
                if (p == null)
                {
                    refused.Add(i);
                }
                else
                {
                    kept.Add((nint)p);
                }
            }

            Assert.Equal(refused.Count, f.T.RefusedAllocationCount);
            Assert.Equal(count - refused.Count, f.T.LiveBlocks);
            FreeAll(f.T, kept);
            return refused;
        }
    }

    [Fact]
    public void A_refused_realloc_leaves_the_block_and_its_record_intact()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 16, MallocCaps.Default);
        data[0] = 42;
        var before = Assert.Single(f.T.GetAllocations());
        AllocationRequest seen = default;
        f.T.AllocationHook = (in AllocationRequest r) =>
        {
            seen = r;
            return false;
        };
        var original = data;

        Assert.False(f.T.Realloc(ref data, 4096, MallocCaps.Default));

        Assert.True(data == original);
        Assert.Equal(42, data[0]);
        Assert.Equal(before, Assert.Single(f.T.GetAllocations()));
        Assert.Equal(AllocationMethod.Realloc, seen.Method);
        Assert.Equal((nuint)original, seen.Address);
        Assert.Equal(0, seen.RequestNumber);
        Assert.Equal(4096u, seen.Size);
        Assert.Equal("data", seen.Site.VariableName);
        var failure = Assert.Single(f.T.FailedAllocations);
        Assert.True(failure.Refused);
        Assert.True(failure.RequestNumber > 0);
        f.T.AllocationHook = null;
        f.T.Free(ref data);
    }

    [Fact]
    public void The_hook_sees_each_request_as_made_and_is_not_asked_about_its_own_allocations()
    {
        using var f = new HostFixture(withTracker: true);
        var seen = new List<AllocationRequest>();
        var inner = new List<nint>();
        f.T.AllocationHook = (in AllocationRequest r) =>
        {
            seen.Add(r);
            inner.Add((nint)f.T.Malloc(1, MallocCaps.Default)); // Through the tracker: not shown to the hook again.
            return true;
        };

        f.T.Calloc(out int* numbers, 4, 8, MallocCaps.Bit32); var line = Line();
        var aligned = f.T.AlignedAlloc(64, 100, MallocCaps.Default);

        Assert.Equal(2, seen.Count);
        Assert.Equal((AllocationMethod.Calloc, 32u, MallocCaps.Bit32, "numbers", line), (seen[0].Method, (uint)seen[0].Size, seen[0].Caps, seen[0].Site.VariableName, seen[0].Site.Line));
        Assert.Equal(AllocationMethod.AlignedAlloc, seen[1].Method);
        Assert.Equal(2, inner.Count);
        Assert.Equal(4, f.T.LiveBlocks);
        f.T.AllocationHook = null;
        f.T.Free(ref numbers);
        f.T.Free(ref aligned);
        FreeAll(f.T, inner);
    }

    [Fact]
    public void Requests_a_hook_makes_on_another_trackers_heap_are_shown_to_that_trackers_hook()
    {
        using var f = new HostFixture(withTracker: true);
        using var g = new HostFixture(withTracker: true);
        var shownToG = new List<AllocationRequest>();
        g.T.AllocationHook = (in AllocationRequest r) =>
        {
            shownToG.Add(r);
            return r.Size != 2;
        };
        void* refused = (void*)1;
        f.T.AllocationHook = (in AllocationRequest r) =>
        {
            var kept = g.T.Malloc(1, MallocCaps.Default);
            refused = g.Heap.Malloc(2, MallocCaps.Default);
            g.T.Free(ref kept);
            return true;
        };

        var block = f.T.Malloc(8, MallocCaps.Default);

        Assert.Equal([1u, 2u], shownToG.Select(r => (uint)r.Size));
        Assert.True(refused == null);
        Assert.Equal(1, g.T.RefusedAllocationCount);
        f.T.AllocationHook = null;
        f.Heap.Free(block);
    }

    [Fact]
    public void An_exception_from_the_hook_reaches_the_caller_and_allocates_nothing()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.AllocationHook = (in AllocationRequest _) => throw new InvalidOperationException("hook failure");

        Assert.Throws<InvalidOperationException>(() => f.T.Malloc(8, MallocCaps.Default));

        Assert.Equal(0, f.T.LiveBlocks);
        f.T.AllocationHook = null;
        var p = f.T.Malloc(8, MallocCaps.Default);
        Assert.True(p != null);
        f.T.Free(ref p);
    }

    [Fact]
    public void Failure_injection_arguments_are_checked()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FailureInjection.FailNth(0));
        Assert.Throws<ArgumentException>(() => FailureInjection.FailAtSite("", 1));
        Assert.Throws<ArgumentNullException>(() => FailureInjection.FailAtSite(null!, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => FailureInjection.FailAtSite("a.cs", 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => FailureInjection.FailRandomly(1.5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => FailureInjection.FailRandomly(-0.1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => FailureInjection.FailRandomly(double.NaN, 1));
    }

    // ---- Stack traces ----

    [Fact]
    public void Stacks_are_off_by_default()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* p, 8, MallocCaps.Default);

        Assert.Null(Assert.Single(f.T.GetAllocations()).StackTrace);
        Assert.Equal(0, f.T.StackTraceDepth);
        f.T.Free(ref p);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(16)]
    public void A_stack_keeps_the_configured_depth_from_the_caller_down(int depth)
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, StackTraceDepth = depth });

        var p = Level1(tracker);

        var stack = Assert.Single(tracker.GetAllocations()).StackTrace!;
        var names = stack.GetFrames().Select(frame => frame.GetMethod()!.Name).ToList();
        Assert.Equal(depth, stack.FrameCount); // The test runner's stack is deeper than 16.
        Assert.Equal(new[] { nameof(Level5), nameof(Level4), nameof(Level3), nameof(Level2), nameof(Level1) }.Take(depth), names.Take(5));
        Assert.DoesNotContain(names, n => n is nameof(MemoryTracker.Malloc) or "TrackedAllocate" or "Commit" or "CommitWithAids");
        tracker.Free(ref p);
    }

    [Fact]
    public void Frames_a_printed_stack_hides_are_not_kept_and_do_not_count_towards_the_depth()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, StackTraceDepth = 2 });

        // An allocator shim as a native library's callback would be: hidden method -> hidden type -> the tracker,
        // and an AggressiveInlining method called through a delegate (so not inlined) on the way.
        var p = (void*)VisibleCaller(tracker);

        var stack = Assert.Single(tracker.GetAllocations()).StackTrace!;
        Assert.Equal(2, stack.FrameCount);
        Assert.Equal(nameof(VisibleCaller), stack.GetFrame(0)!.GetMethod()!.Name);
        Assert.Equal(nameof(Frames_a_printed_stack_hides_are_not_kept_and_do_not_count_towards_the_depth), stack.GetFrame(1)!.GetMethod()!.Name);
        Assert.DoesNotContain("Shim", stack.ToString(), StringComparison.Ordinal);
        tracker.Free(ref p);
    }

    [Fact]
    public void Stacks_show_in_listings_leak_reports_failure_logs_and_error_reports()
    {
        var errors = new StringWriter();
        var output = new StringWriter();
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = errors });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output, StackTraceDepth = 8 });
        var checkpoint = tracker.Checkpoint();

        var p = Level1(tracker);
        tracker.ListAllocations();
        var report = tracker.GetLeakReport(checkpoint).ToString();
        tracker.Malloc(16, MallocCaps.Exec);
        var copy = p;
        tracker.Free(ref p);
        tracker.Free(ref copy);

        var frame = $"at {typeof(MemoryTrackerDebugAidsTests).FullName}.{nameof(Level5)}(";
        Assert.Contains(frame, output.ToString().Split("MemTrace: allocation failed")[0], StringComparison.Ordinal);
        Assert.Contains(frame, report, StringComparison.Ordinal);
        Assert.Contains($"at {typeof(MemoryTrackerDebugAidsTests).FullName}.{nameof(Stacks_show_in_listings_leak_reports_failure_logs_and_error_reports)}(", output.ToString().Split("MemTrace: allocation failed")[1], StringComparison.Ordinal);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.NotNull(error.Block!.StackTrace);
        Assert.Same(error.Block.StackTrace, error.AllocationStackTrace);
        Assert.Contains("  allocation stack:" + Environment.NewLine + "    " + frame, errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("note: allocation stack", errors.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_error_carries_the_allocation_stack_of_its_block_only_when_stacks_are_kept()
    {
        foreach (var depth in new[] { 0, 6 })
        {
            using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, StackTraceDepth = depth });
            var p = (byte*)Level1(tracker);

            heap.Free(p + 8); // An interior pointer: the error names the block that contains it.

            var error = Assert.Single(heap.RecentErrors);
            Assert.Equal(MemoryErrorKind.InteriorPointer, error.Kind);
            Assert.Equal((nuint)p, error.Block!.Address);
            if (depth == 0)
            {
                Assert.Null(error.AllocationStackTrace);
                Assert.DoesNotContain("allocation stack", error.ToString(), StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal(nameof(Level5), error.AllocationStackTrace!.GetFrame(0)!.GetMethod()!.Name);
                Assert.Equal(depth, error.AllocationStackTrace.FrameCount);
                var lines = error.ToString().Split(Environment.NewLine);
                var at = Array.IndexOf(lines, "  allocation stack:");
                Assert.True(at > 0, error.ToString());
                Assert.All(lines[(at + 1)..(at + 1 + depth)], l => Assert.StartsWith("    at ", l, StringComparison.Ordinal));
            }

            Assert.Null(error.Note);
            var copy = p;
            tracker.Free(ref copy);
        }
    }

    [Fact]
    public void A_stack_given_to_an_error_by_hand_is_printed_after_the_block()
    {
        var stack = new StackTrace();
        var error = new MemoryError(MemoryErrorKind.DoubleFree, AllocationMethod.Free, 0x1000) { AllocationStackTrace = stack, Note = "hello" };

        var text = error.ToString();

        Assert.Contains("  allocation stack:" + Environment.NewLine + "    at ", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("allocation stack", StringComparison.Ordinal) < text.IndexOf("note: hello", StringComparison.Ordinal));
        Assert.Equal(error, error with { });
        Assert.NotEqual(error, error with { AllocationStackTrace = null });
    }

    [Fact]
    public void A_listed_stack_always_belongs_to_its_record_while_other_threads_reuse_handles()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, StackTraceDepth = 2 });
        using var stop = new CancellationTokenSource();
        var workers = new[] { new Thread(() => Churn(tracker, stop.Token, a: true)), new Thread(() => Churn(tracker, stop.Token, a: false)) };
        foreach (var worker in workers)
        {
            worker.Start();
        }

        var checkedRecords = 0;
        try
        {
            var watch = Stopwatch.StartNew();
            while (watch.ElapsedMilliseconds < 500 || checkedRecords < 200)
            {
                foreach (var record in tracker.GetAllocations())
                {
                    Assert.Equal(record.Function, record.StackTrace!.GetFrame(0)!.GetMethod()!.Name);
                    checkedRecords++;
                }
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var worker in workers)
            {
                worker.Join();
            }
        }

        Assert.True(checkedRecords >= 200);
        Assert.Equal(0, tracker.LiveBlocks);
    }

    [Fact]
    public void Stack_depth_outside_0_to_256_is_refused()
    {
        using var heap = new HeapCaps(HeapLayout.Host());

        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryTracker(heap, new MemoryTrackerOptions { StackTraceDepth = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryTracker(heap, new MemoryTrackerOptions { StackTraceDepth = 257 }));
        using var deepest = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, StackTraceDepth = 256 });
        Assert.Equal(256, deepest.StackTraceDepth);
    }

    private static void Churn(MemoryTracker tracker, CancellationToken stop, bool a)
    {
        var live = new Queue<nint>();
        while (!stop.IsCancellationRequested)
        {
            live.Enqueue(a ? AllocateInA(tracker) : AllocateInB(tracker));
            if (live.Count > 32)
            {
                var p = (void*)live.Dequeue();
                tracker.Free(ref p);
            }
        }

        while (live.Count > 0)
        {
            var p = (void*)live.Dequeue();
            tracker.Free(ref p);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint AllocateInA(MemoryTracker tracker) => (nint)tracker.Malloc(16, MallocCaps.Default);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint AllocateInB(MemoryTracker tracker) => (nint)tracker.Malloc(32, MallocCaps.Default);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* Level1(MemoryTracker tracker)
    {
        var p = Level2(tracker);
        GC.KeepAlive(tracker); // Not a tail call: the frame stays on the stack.
        return p;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* Level2(MemoryTracker tracker)
    {
        var p = Level3(tracker);
        GC.KeepAlive(tracker); // Not a tail call: the frame stays on the stack.
        return p;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* Level3(MemoryTracker tracker)
    {
        var p = Level4(tracker);
        GC.KeepAlive(tracker); // Not a tail call: the frame stays on the stack.
        return p;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* Level4(MemoryTracker tracker)
    {
        var p = Level5(tracker);
        GC.KeepAlive(tracker); // Not a tail call: the frame stays on the stack.
        return p;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* Level5(MemoryTracker tracker)
    {
        var p = tracker.Malloc(40, MallocCaps.Default);
        GC.KeepAlive(tracker);
        return p;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint VisibleCaller(MemoryTracker tracker)
    {
        Func<MemoryTracker, nint> inlinedShim = AggressivelyInlinedShim; // Through a delegate: never inlined.
        var p = inlinedShim(tracker);
        GC.KeepAlive(tracker); // Not a tail call: the frame stays on the stack.
        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint AggressivelyInlinedShim(MemoryTracker tracker)
    {
        var p = HiddenMethodShim(tracker);
        GC.KeepAlive(tracker);
        return p;
    }

    [StackTraceHidden]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint HiddenMethodShim(MemoryTracker tracker)
    {
        var p = HiddenTypeShim.Allocate(tracker);
        GC.KeepAlive(tracker);
        return p;
    }

    [StackTraceHidden]
    private static class HiddenTypeShim
    {
        [MethodImpl(MethodImplOptions.NoInlining)]
        public static nint Allocate(MemoryTracker tracker)
        {
            var p = (nint)tracker.Malloc(24, MallocCaps.Default);
            GC.KeepAlive(tracker);
            return p;
        }
    }

    private static void FreeAll(MemoryTracker tracker, IEnumerable<nint> blocks)
    {
        foreach (var b in blocks)
        {
            var p = (void*)b;
            tracker.Free(ref p);
        }
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

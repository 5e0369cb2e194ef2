// The allocation hook over requests made on the HeapCaps directly (not through the tracker): a
// refused request fails exactly as a real failure of the same request does (null, block intact,
// the failure callback with the same arguments), is logged and counted as refused, and the
// ready-made hooks (Nth, site, random) choose across tracked and direct requests alike. Misuse:
// bad pointers are reported, not refused; a disabled tracker shows nothing to the hook.
using System.Runtime.CompilerServices;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerHeapHookTests
{
    private const nuint TooLarge = 64u << 20; // Above every region and the chips' largest allocation.

    public static TheoryData<string, int> Operations()
    {
        var data = new TheoryData<string, int>();
        foreach (var operation in new[] { "malloc", "calloc", "aligned", "aligned-calloc", "realloc-null", "realloc", "malloc-prefer", "calloc-prefer", "realloc-prefer", "malloc-default", "calloc-default", "realloc-default" })
        {
            data.Add(operation, 0);
            data.Add(operation, 4);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Operations))]
    public void A_refused_request_on_the_heap_fails_as_a_real_failure_of_the_same_request(string operation, int psramMiB)
    {
        // The same request, failing for real on a heap without a tracker.
        using var plain = new HeapCaps(HeapLayout.Esp32(psramMiB), new HeapCapsOptions { ErrorOutput = null });
        var realCalls = new FailedAllocations();
        plain.RegisterFailedAllocCallback(realCalls.Record);
        var plainBlock = plain.Malloc(32, MallocCaps.Default);
        Assert.True(Run(plain, operation, TooLarge, plainBlock) == null);
        plain.Free(plainBlock);

        // Refused by the hook, on a tracked heap, at a size the heap could serve.
        using var heap = new HeapCaps(HeapLayout.Esp32(psramMiB), new HeapCapsOptions { ErrorOutput = null });
        var calls = new FailedAllocations();
        heap.RegisterFailedAllocCallback(calls.Record);
        var output = new StringWriter();
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output });
        var block = (byte*)heap.Malloc(32, MallocCaps.Default);
        block[0] = 42;
        var seen = new List<AllocationRequest>();
        tracker.AllocationHook = (in AllocationRequest r) =>
        {
            seen.Add(r);
            return r.Size != 48 && r.Size != TooLarge; // Refuse this test's requests only.
        };

        var refused = Run(heap, operation, 48, block);
        var refusedLarge = Run(heap, operation, TooLarge, block);

        Assert.True(refused == null);
        Assert.True(refusedLarge == null);
        Assert.Equal(2, seen.Count);
        Assert.All(seen, r => Assert.False(r.Site.IsKnown));
        Assert.Equal(2, tracker.RefusedAllocationCount);
        Assert.Equal(2, tracker.FailedAllocationCount);
        Assert.All(tracker.FailedAllocations, r => Assert.True(r.Refused && r.Failure));
        Assert.Equal(seen.Select(r => r.Method), tracker.FailedAllocations.Select(r => r.Method));
        Assert.Equal(1, tracker.LiveBlocks); // Only the first block; nothing recorded for the refusals.
        Assert.Equal(42, block[0]); // A refused realloc leaves the block intact.
        Assert.Equal((nuint)32, Assert.Single(tracker.GetAllocations()).Size);
        Assert.Contains("allocation refused by the allocation hook (injected failure)", output.ToString(), StringComparison.Ordinal);

        // The failure callback: as the real failure called it, with the same size, caps and name.
        var real = Assert.Single(realCalls.Calls);
        Assert.Equal(2, calls.Calls.Count);
        Assert.Equal(real, calls.Calls[1]);
        Assert.Equal((real.Caps, real.Function), (calls.Calls[0].Caps, calls.Calls[0].Function));
        Assert.Equal(operation is "calloc-prefer" ? 24u : 48u, (uint)calls.Calls[0].Size); // calloc_prefer passes the element size.
        if (operation.StartsWith("realloc", StringComparison.Ordinal) && operation != "realloc-null")
        {
            Assert.All(seen, r => Assert.Equal((nuint)block, r.Address));
            Assert.All(seen, r => Assert.Equal(0, r.RequestNumber));
        }
        else
        {
            Assert.All(seen, r => Assert.Equal(0u, r.Address));
            Assert.Equal(seen.Select(r => r.RequestNumber), tracker.FailedAllocations.Select(r => r.RequestNumber));
        }

        heap.Free(block);
    }

    [Theory]
    [InlineData("realloc", 0)]
    [InlineData("realloc-prefer", 0)]
    [InlineData("realloc-default", 0)]
    [InlineData("realloc-default", 4)]
    public void A_realloc_on_the_heap_that_fails_for_real_is_logged_as_a_refused_one_is(string operation, int psramMiB)
    {
        // A failed realloc of a live block made on the heap directly was neither logged nor counted (no failure
        // event either), while the same realloc refused by the hook was: an injected failure did not look like a real one.
        using var heap = new HeapCaps(HeapLayout.Esp32(psramMiB), new HeapCapsOptions { ErrorOutput = null });
        var calls = new FailedAllocations();
        heap.RegisterFailedAllocCallback(calls.Record);
        var output = new StringWriter();
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output });
        var block = (byte*)heap.Malloc(32, MallocCaps.Default);
        block[0] = 42;

        Assert.True(Run(heap, operation, TooLarge, block) == null);
        tracker.AllocationHook = static (in AllocationRequest _) => false;
        Assert.True(Run(heap, operation, 48, block) == null);

        Assert.Equal(2, tracker.FailedAllocationCount);
        Assert.Equal(1, tracker.RefusedAllocationCount);
        var failures = tracker.FailedAllocations.OrderBy(r => r.RequestNumber).ToList();
        Assert.Equal([false, true], failures.Select(r => r.Refused));
        Assert.All(failures, r => Assert.True(r.Failure && r.Address == 0 && !r.AllocatedAt.IsKnown));
        Assert.Equal(failures[1].Method, failures[0].Method);
        Assert.Equal([TooLarge, (nuint)48], failures.Select(r => r.Size));
        Assert.Equal(calls.Calls[0].Function, failures[0].MethodName);
        Assert.Contains($"allocation failed: {failures[0].MethodName} of {TooLarge} bytes", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(42, block[0]);
        Assert.Equal(1, tracker.LiveBlocks);
        heap.Free(block);
    }

    [Fact]
    public void Fail_nth_counts_tracked_and_direct_requests_alike_and_refuses_exactly_the_nth()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.AllocationHook = FailureInjection.FailNth(4);
        var blocks = new List<nint>
        {
            (nint)f.Heap.Malloc(10, MallocCaps.Default),
            (nint)f.T.Malloc(20, MallocCaps.Default),
            (nint)f.Heap.Calloc(3, 10, MallocCaps.Default),
            (nint)f.Heap.AlignedAlloc(64, 40, MallocCaps.Default), // The 4th: refused.
            (nint)f.Heap.AlignedAlloc(64, 50, MallocCaps.Default),
        };
        var realloc = f.Heap.Realloc((void*)blocks[0], 100, MallocCaps.Default);

        Assert.Equal([false, false, false, true, false], blocks.Select(b => b == 0));
        Assert.True(realloc != null);
        var failure = Assert.Single(f.T.FailedAllocations);
        Assert.True(failure.Refused);
        Assert.Equal(AllocationMethod.AlignedAlloc, failure.Method);
        Assert.Equal(40u, failure.Size);
        Assert.Null(failure.File);
        Assert.Equal((40u, MallocCaps.Default, "heap_caps_aligned_alloc"), ((uint)f.Failures.Calls.Single().Size, f.Failures.Calls.Single().Caps, f.Failures.Calls.Single().Function));
        Assert.Equal(4, f.T.LiveBlocks);
        Assert.Contains("allocation refused by the allocation hook (injected failure): heap_caps_aligned_alloc of 40 bytes", f.Output.ToString(), StringComparison.Ordinal);
        Assert.Contains("at (no call site, heap_caps_aligned_alloc)", f.Output.ToString(), StringComparison.Ordinal);
        f.Heap.Free(realloc);
        FreeAll(f.Heap, blocks.Skip(1));
    }

    [Fact]
    public void A_refused_request_keeps_the_request_number_it_was_shown_and_the_next_block_gets_the_next()
    {
        using var f = new HostFixture(withTracker: true);
        var shown = new List<long>();
        f.T.AllocationHook = (in AllocationRequest r) =>
        {
            shown.Add(r.RequestNumber);
            return r.Size != 2;
        };

        var a = f.Heap.Malloc(1, MallocCaps.Default);
        var refused = f.Heap.Malloc(2, MallocCaps.Default);
        var c = f.Heap.Calloc(1, 3, MallocCaps.Default);

        Assert.True(refused == null);
        Assert.Equal([1, 2, 3], shown);
        Assert.Equal(2, Assert.Single(f.T.FailedAllocations).RequestNumber);
        Assert.Equal([1L, 3L], f.T.GetAllocations().Select(r => r.RequestNumber).Order());
        f.Heap.Free(a);
        f.Heap.Free(c);
    }

    [Fact]
    public void Fail_at_site_never_refuses_a_request_made_on_the_heap_directly_which_has_no_site()
    {
        using var f = new HostFixture(withTracker: true);
        var line = Line() + 2;
        f.T.AllocationHook = FailureInjection.FailAtSite("MemoryTrackerHeapHookTests.cs", line);
        var tracked = f.T.Malloc(8, MallocCaps.Default); var direct = f.Heap.Malloc(8, MallocCaps.Default);

        Assert.True(tracked == null);
        Assert.True(direct != null);
        Assert.Equal(1, f.T.RefusedAllocationCount);

        // A hook of one's own can tell them apart: refuse only what has no source location.
        f.T.AllocationHook = static (in AllocationRequest r) => r.Site.IsKnown;
        var trackedAgain = f.T.Malloc(8, MallocCaps.Default);
        var directAgain = f.Heap.Malloc(8, MallocCaps.Default);

        Assert.True(trackedAgain != null);
        Assert.True(directAgain == null);
        Assert.Equal(2, f.T.RefusedAllocationCount);
        f.T.AllocationHook = null;
        f.Heap.Free(direct);
        f.T.Free(ref trackedAgain);
    }

    [Fact]
    public void Fail_randomly_refuses_the_direct_requests_it_predicts_for_its_seed()
    {
        const double probability = 0.25;
        var first = RefusedIndexes(1000);
        var again = RefusedIndexes(1000);
        var predicted = Enumerable.Range(0, 1000).Where(i => FailureInjection.IsRefused(7, i + 1, probability)).ToList();

        Assert.Equal(predicted, first);
        Assert.Equal(first, again);
        Assert.InRange(first.Count, 180, 320);

        static List<int> RefusedIndexes(int count)
        {
            using var f = new HostFixture(withTracker: true);
            f.T.AllocationHook = FailureInjection.FailRandomly(probability, 7);
            var refused = new List<int>();
            var kept = new List<nint>();
            for (var i = 0; i < count; i++)
            {
                var p = (i % 3) switch
                {
                    0 => f.Heap.Malloc(24, MallocCaps.Default),
                    1 => f.Heap.Calloc(2, 12, MallocCaps.Default),
                    _ => f.Heap.AlignedAlloc(32, 24, MallocCaps.Default),
                };
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
            Assert.Equal(refused.Count, f.Failures.Calls.Count);
            Assert.Equal(count - refused.Count, f.T.LiveBlocks);
            FreeAll(f.Heap, kept);
            Assert.Equal(0, f.T.LiveBlocks);
            return refused;
        }
    }

    [Fact]
    public void A_refused_tracked_request_calls_the_failure_callback_as_a_real_one_would()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.AllocationHook = static (in AllocationRequest _) => false;

        var p = f.T.Calloc(4, 8, MallocCaps.Bit32);
        var zero = f.T.Malloc(0, MallocCaps.Default);
        f.T.AllocationHook = null;
        f.T.Malloc(out byte* live, 16, MallocCaps.Default);
        f.T.AllocationHook = static (in AllocationRequest _) => false;
        Assert.False(f.T.Realloc(ref live, 64, MallocCaps.Default));

        Assert.True(p == null);
        Assert.True(zero == null);
        Assert.Equal([(32u, MallocCaps.Bit32, "heap_caps_calloc"), (64u, MallocCaps.Default, "heap_caps_realloc")], f.Failures.Calls.Select(c => ((uint)c.Size, c.Caps, c.Function)));
        f.T.AllocationHook = null;
        f.T.Free(ref live);
    }

    [Fact]
    public void A_refused_request_for_zero_bytes_is_not_a_failure_as_a_served_one_is_not()
    {
        using var f = new HostFixture(withTracker: true);
        var shown = 0;
        var before = f.T.Checkpoint();
        f.T.AllocationHook = (in AllocationRequest _) =>
        {
            shown++;
            return false;
        };

        var tracked = f.T.Malloc(0, MallocCaps.Default);
        var calloc = f.T.Calloc(0, 8, MallocCaps.Default);
        var aligned = f.T.AlignedAlloc(16, 0, MallocCaps.Default);
        var direct = f.Heap.Malloc(0, MallocCaps.Default);
        var directCalloc = f.Heap.Calloc(4, 0, MallocCaps.Default);
        var after = f.T.Checkpoint();

        Assert.True(tracked == null && calloc == null && aligned == null && direct == null && directCalloc == null);
        Assert.Equal(5, shown);
        Assert.Equal(0, f.T.RefusedAllocationCount);
        Assert.Equal(0, f.T.FailedAllocationCount);
        Assert.Empty(f.T.FailedAllocations);
        Assert.Equal(0, f.T.Difference(before, after).FailedAllocations);
        Assert.Equal(string.Empty, f.Output.ToString());

        // The failure callback runs where a real failure of the same request runs it: ESP-IDF's heap_caps_calloc calls it
        // whenever the element size is not 0, so for calloc(0, 8) with 0 bytes (the refused direct calloc(4, 0) does not).
        Assert.Equal([((nuint)0, MallocCaps.Default, "heap_caps_calloc")], f.Failures.Calls);
    }

    [Fact]
    public void A_realloc_of_a_pointer_that_is_not_a_live_block_is_reported_and_not_refused()
    {
        using var f = new HostFixture(withTracker: true);
        var shown = 0;
        var freed = f.Heap.Malloc(16, MallocCaps.Default);
        var tracked = f.T.Malloc(16, MallocCaps.Default);
        var trackedCopy = tracked;
        f.Heap.Free(freed);
        f.T.Free(ref tracked);
        f.T.AllocationHook = (in AllocationRequest _) =>
        {
            shown++;
            return false;
        };

        Assert.True(f.Heap.Realloc(freed, 64, MallocCaps.Default) == null);
        Assert.True(f.T.Realloc(trackedCopy, 64, MallocCaps.Default) == null);

        Assert.Equal(0, shown);
        Assert.Equal(0, f.T.RefusedAllocationCount);
        Assert.Equal([MemoryErrorKind.ReallocOfFreedBlock, MemoryErrorKind.ReallocOfFreedBlock], f.Heap.RecentErrors.Select(e => e.Kind));
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void A_disabled_tracker_shows_nothing_to_the_hook_and_the_hooks_own_heap_requests_are_not_shown_again()
    {
        using var f = new HostFixture(withTracker: true, trackerEnabled: false);
        var shown = new List<AllocationRequest>();
        var inner = new List<nint>();
        f.T.AllocationHook = (in AllocationRequest r) =>
        {
            shown.Add(r);
            inner.Add((nint)f.Heap.Malloc(1, MallocCaps.Default)); // On the heap directly: not shown again.
            return false;
        };

        var whileDisabled = f.Heap.Malloc(8, MallocCaps.Default);
        Assert.True(whileDisabled != null);
        Assert.Empty(shown);

        f.T.Enabled = true;
        var refused = f.Heap.Malloc(8, MallocCaps.Default);

        Assert.True(refused == null);
        Assert.Single(shown);
        Assert.Single(inner);
        Assert.Equal(1, f.T.LiveBlocks); // The hook's own block, recorded.
        f.T.AllocationHook = null;
        f.Heap.Free(whileDisabled);
        FreeAll(f.Heap, inner);
        Assert.Equal(0, f.T.LiveBlocks);
    }

    [Fact]
    public void An_exception_from_the_hook_reaches_the_heaps_caller_and_allocates_nothing()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.AllocationHook = static (in AllocationRequest _) => throw new InvalidOperationException("hook failure");

        Assert.Throws<InvalidOperationException>(() => f.Heap.Malloc(8, MallocCaps.Default));
        Assert.Throws<InvalidOperationException>(() => f.Heap.MallocPrefer(8, MallocCaps.Spiram, MallocCaps.Default));

        f.T.AllocationHook = null;
        Assert.Equal(0, f.T.LiveBlocks);
        Assert.Empty(f.Failures.Calls);
        var p = f.Heap.Malloc(8, MallocCaps.Default);
        Assert.True(p != null);
        Assert.Equal(1, f.T.LiveBlocks);
        f.Heap.Free(p);
    }

    [Fact]
    public void With_abort_on_allocation_failure_a_refused_request_ends_the_process_as_a_real_failure_does()
    {
        var result = TestHost.Run("abort-on-refused-allocation");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("callback ran", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("not reached", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Mem alloc fail. size 0x00000040 caps 0x00001800", result.StandardError, StringComparison.Ordinal);
    }

    private static void* Run(HeapCaps heap, string operation, nuint size, void* live) => operation switch
    {
        "malloc" => heap.Malloc(size, MallocCaps.Default),
        "calloc" => heap.Calloc(2, size / 2, MallocCaps.Default),
        "aligned" => heap.AlignedAlloc(64, size, MallocCaps.Default),
        "aligned-calloc" => heap.AlignedCalloc(64, 2, size / 2, MallocCaps.Default),
        "realloc-null" => heap.Realloc(null, size, MallocCaps.Internal),
        "realloc" => heap.Realloc(live, size, MallocCaps.Default),
        "malloc-prefer" => heap.MallocPrefer(size, MallocCaps.Dma, MallocCaps.Default),
        "calloc-prefer" => heap.CallocPrefer(2, size / 2, MallocCaps.Dma, MallocCaps.Default),
        "realloc-prefer" => heap.ReallocPrefer(live, size, MallocCaps.Spiram, MallocCaps.Internal),
        "malloc-default" => heap.MallocDefault(size),
        "calloc-default" => heap.CallocDefault(2, size / 2),
        "realloc-default" => heap.ReallocDefault(live, size),
        _ => throw new ArgumentOutOfRangeException(nameof(operation)),
    };

    private static void FreeAll(HeapCaps heap, IEnumerable<nint> blocks)
    {
        foreach (var b in blocks)
        {
            heap.Free((void*)b);
        }
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

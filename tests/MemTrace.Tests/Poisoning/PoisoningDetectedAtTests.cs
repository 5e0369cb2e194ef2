// Which call a corruption is reported as detected by when user code run in the middle of a tracked
// operation (a failure callback, an error handler, an allocation hook) calls a heap directly: that call,
// not the tracked operation around it, whose call site is kept in a thread-static while it runs.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningDetectedAtTests
{
    [Fact]
    public void A_direct_free_in_a_failure_callback_is_not_reported_as_the_tracked_malloc_of_another_heap()
    {
        using var first = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null, Poisoning = PoisoningLevel.Light });
        using var second = new HeapCaps(HeapLayout.Esp32S3(), new HeapCapsOptions { ErrorOutput = null, Poisoning = PoisoningLevel.Light });
        using var firstTracker = new MemoryTracker(first, new MemoryTrackerOptions { Output = null });
        using var secondTracker = new MemoryTracker(second, new MemoryTrackerOptions { Output = null });
        var reserve = (byte*)secondTracker.Malloc(16, MallocCaps.Default);
        reserve[16] = 0; // Breaks the tail canary.
        first.RegisterFailedAllocCallback((size, caps, function) => second.Free(reserve));

        Assert.True(firstTracker.Malloc(100_000_000, MallocCaps.Default) is null);

        // Found by heap_caps_free on the second heap, called directly (no call site): the first heap's tracked
        // malloc, whose failure callback made that call, had its site and method put on the report.
        var error = Assert.Single(second.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferOverflow, error.Kind);
        Assert.Equal(AllocationMethod.Free, error.Operation);
        Assert.Null(error.DetectedAt);
        Assert.Equal(0, first.ErrorCount);
    }

    [Fact]
    public void A_direct_free_in_a_failure_callback_of_the_same_heap_is_reported_as_that_free()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null, Poisoning = PoisoningLevel.Light });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var reserve = (byte*)tracker.Malloc(16, MallocCaps.Default);
        reserve[16] = 0;
        heap.RegisterFailedAllocCallback((size, caps, function) => heap.Free(reserve));

        Assert.True(tracker.Malloc(100_000_000, MallocCaps.Default) is null);

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(AllocationMethod.Free, error.Operation);
        Assert.Null(error.DetectedAt);
    }

    [Fact]
    public void A_direct_free_in_an_error_handler_or_an_allocation_hook_is_reported_as_that_free()
    {
        using var first = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null, Poisoning = PoisoningLevel.Light });
        using var second = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null, Poisoning = PoisoningLevel.Light });
        using var tracker = new MemoryTracker(first, new MemoryTrackerOptions { Output = null });
        var damaged = (byte*)second.Malloc(16, MallocCaps.Default);
        damaged[16] = 0;
        var hooked = (byte*)second.Malloc(16, MallocCaps.Default);
        hooked[16] = 0;

        // The error handler runs inside the tracked free that found the first heap's corruption.
        first.MemoryErrorDetected += (sender, e) => second.Free(damaged);
        var broken = (byte*)tracker.Malloc(16, MallocCaps.Default);
        broken[16] = 0;
        tracker.Free(ref broken);
        Assert.Equal(1, first.ErrorCount);

        // The hook of a tracked realloc runs inside it.
        var block = tracker.Malloc(16, MallocCaps.Default);
        tracker.AllocationHook = (in AllocationRequest request) =>
        {
            second.Free(hooked);
            return true;
        };
        Assert.True(tracker.Realloc(ref block, 32, MallocCaps.Default));
        tracker.AllocationHook = null;
        tracker.Free(ref block);

        Assert.Equal(2, second.ErrorCount);
        Assert.All(second.RecentErrors, error =>
        {
            Assert.Equal(AllocationMethod.Free, error.Operation);
            Assert.Null(error.DetectedAt);
        });
    }
}

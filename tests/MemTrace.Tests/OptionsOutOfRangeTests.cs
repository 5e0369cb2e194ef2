// Options out of their range are refused when the heap or tracker is built, with the exception their XML docs name.
using Xunit;

namespace MemTrace.Tests;

public class OptionsOutOfRangeTests
{
    [Fact]
    public void Heap_options_out_of_range_throw_ArgumentOutOfRangeException()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { IntegrityCheckInterval = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBlocks = 0 } }));
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { RecentErrorCapacity = 0, ErrorOutput = null }); // Keeps 1.
        unsafe
        {
            var p = heap.Malloc(16, MallocCaps.Default);
            heap.Free(p);
            heap.Free(p);
            heap.Free(p);
        }

        Assert.Single(heap.RecentErrors);
        Assert.Equal(2, heap.ErrorCount);
    }

    [Fact]
    public void Tracker_options_out_of_range_throw_ArgumentOutOfRangeException()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryTracker(heap, new MemoryTrackerOptions { FailedAllocationCapacity = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryTracker(heap, new MemoryTrackerOptions { StackTraceDepth = 300 }));
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null }); // Nothing left attached by the refusals.
        Assert.Equal(0, tracker.LiveBlocks);
    }
}

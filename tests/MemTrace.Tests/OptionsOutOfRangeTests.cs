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
        foreach (var interval in new[] { TimeSpan.FromTicks(-1), TimeSpan.MinValue, TimeSpan.FromMicroseconds(500) })
        {
            var refused = Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryTracker(heap, new MemoryTrackerOptions { SnapshotInterval = interval }));
            Assert.Contains("SnapshotInterval", refused.Message, StringComparison.Ordinal);
        }

        using (new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, SnapshotInterval = TimeSpan.Zero }))
        {
        }

        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, SnapshotInterval = TimeSpan.FromMilliseconds(1) }); // Nothing left attached by the refusals.
        Assert.Equal(0, tracker.LiveBlocks);
    }

    [Fact]
    public void Enum_options_outside_their_values_are_refused()
    {
        var policy = Assert.Throws<ArgumentOutOfRangeException>(() => new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorPolicy = (MemoryErrorPolicy)99 }));
        Assert.Contains("ErrorPolicy", policy.Message, StringComparison.Ordinal);
        var poisoning = Assert.Throws<ArgumentOutOfRangeException>(() => new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = (PoisoningLevel)7 }));
        Assert.Contains("Poisoning", poisoning.Message, StringComparison.Ordinal);

        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorPolicy = MemoryErrorPolicy.Throw });
        var set = Assert.Throws<ArgumentOutOfRangeException>(() => heap.ErrorPolicy = (MemoryErrorPolicy)(-1));
        Assert.Equal("value", set.ParamName);
        Assert.Equal(MemoryErrorPolicy.Throw, heap.ErrorPolicy); // Unchanged.
    }
}

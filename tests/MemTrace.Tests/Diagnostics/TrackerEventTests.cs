// The events a tracker emits to its sink: one per operation, in order, with the sites, and
// nothing when no sink is attached; a throwing sink never breaks an allocation (the tests that
// enable the global SelfLog run in its collection).
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public unsafe class TrackerEventTests
{
    [Fact]
    public void Each_operation_emits_one_event_in_order_with_its_sites()
    {
        var sink = new ListSink();
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.Zero });

        tracker.Malloc(out byte* buffer, 100, MallocCaps.Spiram);
        tracker.Realloc(ref buffer, 200, MallocCaps.Spiram);
        var copy = buffer;
        tracker.Free(ref buffer);
        tracker.Free(ref copy);
        tracker.Malloc(1 << 30, MallocCaps.Default);

        var kinds = sink.Events.Where(e => e.Kind != HeapEventKind.Snapshot).Select(e => e.Kind).ToList();
        Assert.Equal([HeapEventKind.Allocation, HeapEventKind.Reallocation, HeapEventKind.Free, HeapEventKind.MemoryError, HeapEventKind.FailedAllocation], kinds);
        Assert.Equal(sink.Events.Count, sink.Events.Select(e => e.Sequence).Distinct().Count());
        Assert.True(sink.Events.Zip(sink.Events.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence));
        var alloc = sink.Events.Single(e => e.Kind == HeapEventKind.Allocation);
        Assert.Equal("buffer", alloc.Site.VariableName);
        Assert.Equal("SPIRAM", alloc.RegionName);
        Assert.Equal(100u, alloc.Size);
        var realloc = sink.Events.Single(e => e.Kind == HeapEventKind.Reallocation);
        Assert.Equal(alloc.Address, realloc.PreviousAddress);
        Assert.Equal(100u, realloc.PreviousSize);
        Assert.Equal(200u, realloc.Size);
        var free = sink.Events.Single(e => e.Kind == HeapEventKind.Free);
        Assert.Equal("buffer", free.AllocatedAt!.Value.VariableName);
        Assert.Equal(AllocationMethod.Free, free.Site.Method);
        Assert.Equal(MemoryErrorKind.DoubleFree, sink.Events.Single(e => e.Kind == HeapEventKind.MemoryError).Error!.Kind);
        Assert.Equal((nuint)(1 << 30), sink.Events.Single(e => e.Kind == HeapEventKind.FailedAllocation).Size);
    }

    [Fact]
    public void Snapshots_carry_every_regions_statistics()
    {
        var sink = new ListSink();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using (var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink }))
        {
            tracker.Malloc(1000, MallocCaps.Default);
        }

        var snapshots = sink.Events.Where(e => e.Kind == HeapEventKind.Snapshot).ToList();
        Assert.True(snapshots.Count >= 2); // At creation and at disposal.
        Assert.Equal(5, snapshots[0].Regions!.Count);
        Assert.True(snapshots[^1].Regions!.Sum(r => (long)r.FreeBytes) <= snapshots[0].Regions!.Sum(r => (long)r.FreeBytes) - 1000);
        Assert.Equal(1, snapshots[^1].LiveBlocks);
    }

    [Fact]
    public void A_failed_allocation_is_followed_by_a_snapshot_of_the_regions_at_that_moment_one_per_clock_tick()
    {
        // Internal RAM exhausted and released between two periodic snapshots left no trace of the low in any snapshot:
        // the report's lowest free and its charts missed the very moment a request failed.
        var sink = new ListSink();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.FromHours(1) });
        var blocks = new List<nint>();
        void* block;
        while ((block = tracker.Malloc(16 << 10, MallocCaps.Internal)) != null)
        {
            blocks.Add((nint)block);
        }

        var internalFreeAtFailure = (long)heap.GetFreeSize(MallocCaps.Internal);
        for (var i = 0; i < 1_000; i++)
        {
            tracker.Malloc(16 << 10, MallocCaps.Internal); // A loop of failures: at most one snapshot per clock tick.
        }

        foreach (var address in blocks)
        {
            var p = (void*)address;
            tracker.Free(ref p);
        }

        var events = sink.Events.ToList();
        var first = events.FindIndex(e => e.Kind == HeapEventKind.FailedAllocation);
        Assert.True(first > 0);
        var snapshot = events[first + 1];
        Assert.Equal(HeapEventKind.Snapshot, snapshot.Kind);
        Assert.Equal(blocks.Count, snapshot.LiveBlocks);
        static long InternalFree(HeapEvent e) => e.Regions!.Where(r => r.Caps.HasFlag(MallocCaps.Internal)).Sum(r => (long)r.FreeBytes);
        Assert.Equal(internalFreeAtFailure, InternalFree(snapshot));
        Assert.True(InternalFree(events[0]) > internalFreeAtFailure + (blocks.Count * (16 << 10))); // The snapshot at creation.
        var failures = events.Count(e => e.Kind == HeapEventKind.FailedAllocation);
        var snapshots = events.Count(e => e.Kind == HeapEventKind.Snapshot);
        Assert.Equal(1_001, failures);
        Assert.True(snapshots < 1 + 200, $"{snapshots} snapshots for {failures} failures in a tight loop");
    }

    [Fact]
    public void A_free_is_numbered_before_its_block_can_be_allocated_again_by_another_thread()
    {
        // Threads allocate and hand their blocks to other threads, which free them through the tracker and through the
        // heap directly; TLSF hands a freed block out again at once. In sequence order, no address is ever allocated
        // twice without a free in between (the free's number is drawn before the heap releases the block).
        var sink = new global::MemTrace.Tests.Diagnostics.ListSink();
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.Zero });
        using var handed = new System.Collections.Concurrent.BlockingCollection<nint>(boundedCapacity: 64);
        const int PerProducer = 20_000;
        var producers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < PerProducer; i++)
            {
                handed.Add((nint)tracker.Malloc((nuint)(16 + (i % 4) * 8), MallocCaps.Default));
            }
        })).ToList();
        var consumers = Enumerable.Range(0, 2).Select(c => new Thread(() =>
        {
            foreach (var p in handed.GetConsumingEnumerable())
            {
                if (c == 0)
                {
                    var block = (void*)p;
                    tracker.Free(ref block);
                }
                else
                {
                    heap.Free((void*)p);
                }
            }
        })).ToList();

        consumers.ForEach(t => t.Start());
        producers.ForEach(t => t.Start());
        producers.ForEach(t => t.Join());
        handed.CompleteAdding();
        consumers.ForEach(t => t.Join());

        var live = new HashSet<nuint>();
        var ordered = sink.Events.Where(e => e.Kind is HeapEventKind.Allocation or HeapEventKind.Free).OrderBy(e => e.Sequence).ToList();
        Assert.Equal(4 * PerProducer, ordered.Count);
        foreach (var e in ordered)
        {
            var consistent = e.Kind == HeapEventKind.Allocation ? live.Add(e.Address) : live.Remove(e.Address);
            Assert.True(consistent, $"{e.Kind} #{e.Sequence} of 0x{e.Address:x} (request {e.RequestNumber}) out of order");
        }

        Assert.Empty(live);
    }

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

/// <summary>Tests that enable the global SelfLog, one at a time in the SelfLog collection.</summary>
[Collection(SelfLogCollection.Name)]
public unsafe class TrackerEventSelfLogTests
{
    [Fact]
    public void A_sink_that_throws_never_breaks_an_allocation_and_goes_to_the_self_log()
    {
        var messages = SelfLogCollection.Capture(() =>
        {
            using var heap = new HeapCaps(HeapLayout.Host());
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = new ThrowingSink() });

            var p = tracker.Malloc(16, MallocCaps.Default);
            tracker.Free(ref p);

            Assert.True(p == null);
            Assert.Equal(0, tracker.LiveBlocks);
        });

        Assert.Contains(messages, m => m.Contains("sink ThrowingSink threw while receiving an event of kind Allocation", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("sink ThrowingSink threw while receiving an event of kind Free", StringComparison.Ordinal));
    }
}

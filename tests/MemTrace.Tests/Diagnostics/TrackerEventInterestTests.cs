// Which events a tracker builds at all: only the kinds its pipeline passes to some sink (levels and
// kind filters), plus the periodic snapshot check. Sequence numbers show it: an event that was
// never built takes no number. Also the order the numbers give, across threads and snapshots.
using System.Collections.Concurrent;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public unsafe class TrackerEventInterestTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-interest-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void No_sink_builds_no_event()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });

        Churn(tracker);

        Assert.Equal(0, tracker.EventGate);
        Assert.Equal(0, tracker.LastEventSequence);
    }

    [Fact]
    public void An_empty_pipeline_builds_no_event()
    {
        using var pipeline = new HeapEventPipelineBuilder().Build();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline });

        Churn(tracker);

        Assert.Equal(0, tracker.EventGate);
        Assert.Equal(0, tracker.LastEventSequence);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_warning_only_pipeline_builds_no_allocation_free_or_snapshot_event(bool restrictTheSink)
    {
        var sink = new ListSink();
        var builder = new HeapEventPipelineBuilder();
        using var pipeline = (restrictTheSink ? builder.WriteTo.Sink(sink, HeapEventLevel.Warning) : builder.MinimumLevel(HeapEventLevel.Warning).WriteTo.Sink(sink)).Build();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using (var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline, SnapshotInterval = TimeSpan.FromMilliseconds(1) }))
        {
            Churn(tracker);
            tracker.Malloc(1 << 30, MallocCaps.Default); // Fails: the first event built.
            Assert.Equal(1, tracker.LastEventSequence);
            Assert.False(pipeline.IsEnabled(HeapEventKind.Allocation));
            Assert.True(pipeline.IsEnabled(HeapEventKind.FailedAllocation));
        }

        var failure = Assert.Single(sink.Events);
        Assert.Equal(HeapEventKind.FailedAllocation, failure.Kind);
        Assert.Equal(1, failure.Sequence);
    }

    [Fact]
    public void A_kind_filter_keeps_the_tracker_from_building_the_other_kinds()
    {
        var sink = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder().Filter.ByKinds(HeapEventKind.Free).WriteTo.Sink(sink).Build();
        using var heap = new HeapCaps(HeapLayout.Host());
        using (var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline, SnapshotInterval = TimeSpan.Zero }))
        {
            for (var i = 0; i < 10; i++)
            {
                var p = tracker.Malloc(32, MallocCaps.Default);
                tracker.Free(ref p);
            }
        }

        Assert.All(sink.Events, e => Assert.Equal(HeapEventKind.Free, e.Kind));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), sink.Events.Select(e => e.Sequence));
    }

    [Fact]
    public void A_snapshot_only_sink_gets_periodic_snapshots_while_operations_flow_and_no_operation_event_is_built()
    {
        var sink = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder().Filter.ByKinds(HeapEventKind.Snapshot).WriteTo.Sink(sink).Build();
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline, SnapshotInterval = TimeSpan.FromMilliseconds(5) });

        var deadline = Environment.TickCount64 + 10_000;
        while (Count(sink) < 4 && Environment.TickCount64 < deadline)
        {
            var p = tracker.Malloc(32, MallocCaps.Default);
            tracker.Free(ref p);
            Thread.Sleep(1);
        }

        Assert.True(Count(sink) >= 4, "periodic snapshots did not come while allocations flowed");
        Assert.All(sink.Events.ToArray(), e => Assert.Equal(HeapEventKind.Snapshot, e.Kind));
        Assert.Equal(Count(sink), tracker.LastEventSequence); // Every number went to a snapshot.
    }

    [Fact]
    public void A_periodic_snapshot_takes_its_number_before_the_event_that_triggered_it()
    {
        var sink = new ListSink();
        using var heap = new HeapCaps(HeapLayout.Host());
        using (var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.FromMilliseconds(2) }))
        {
            var deadline = Environment.TickCount64 + 10_000;
            while (sink.Events.Count(e => e.Kind == HeapEventKind.Snapshot) < 5 && Environment.TickCount64 < deadline)
            {
                var p = tracker.Malloc(32, MallocCaps.Default);
                Thread.Sleep(3);
                tracker.Free(ref p);
            }
        }

        var sequences = sink.Events.Select(e => e.Sequence).ToList();
        Assert.True(sink.Events.Count(e => e.Kind == HeapEventKind.Snapshot) >= 5);
        Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences); // In arrival order, no gap.
    }

    [Fact]
    public void A_free_on_another_thread_comes_after_its_allocation_in_numbers_and_in_the_file()
    {
        var path = Path.Combine(_directory, "threads.jsonl");
        const int Blocks = 20_000;
        using (var pipeline = new HeapEventPipelineBuilder().WriteTo.TraceFile(path, new TraceFileOptions { Capacity = 256 }).Build())
        using (var heap = new HeapCaps(HeapLayout.Host()))
        using (var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline, SnapshotInterval = TimeSpan.Zero }))
        {
            using var handOver = new BlockingCollection<nint>(64);
            var freer = new Thread(() =>
            {
                foreach (var block in handOver.GetConsumingEnumerable())
                {
                    var p = (void*)block;
                    tracker.Free(ref p);
                }
            });
            var allocator = new Thread(() =>
            {
                for (var i = 0; i < Blocks; i++)
                {
                    handOver.Add((nint)tracker.Malloc(16, MallocCaps.Default));
                }

                handOver.CompleteAdding();
            });
            freer.Start();
            allocator.Start();
            allocator.Join();
            freer.Join();
        }

        using var reader = TraceReader.Open(path);
        var events = reader.ReadAll().ToList();
        Assert.Equal(0, reader.DroppedEvents);
        var allocated = new Dictionary<long, (int Line, long Sequence)>();
        for (var line = 0; line < events.Count; line++)
        {
            var e = events[line];
            if (e.Kind == HeapEventKind.Allocation)
            {
                allocated[e.RequestNumber] = (line, e.Sequence);
            }
            else if (e.Kind == HeapEventKind.Free)
            {
                Assert.True(allocated.TryGetValue(e.RequestNumber, out var alloc), $"the free of request {e.RequestNumber} came before its allocation in the file");
                Assert.True(alloc.Sequence < e.Sequence, $"the free of request {e.RequestNumber} has a lower number than its allocation");
                Assert.NotEqual(events[alloc.Line].ThreadId, e.ThreadId);
            }
        }

        Assert.Equal(Blocks, events.Count(e => e.Kind == HeapEventKind.Free));
    }

    private static int Count(ListSink sink)
    {
        lock (sink.Events)
        {
            return sink.Events.Count;
        }
    }

    /// <summary>Allocations, frees and a realloc on several regions, all of which succeed.</summary>
    private static void Churn(MemoryTracker tracker)
    {
        for (var i = 0; i < 100; i++)
        {
            tracker.Malloc(out byte* block, (nuint)(16 + i), MallocCaps.Default);
            tracker.Realloc(ref block, (nuint)(32 + i), MallocCaps.Default);
            tracker.Free(ref block);
        }

        Thread.Sleep(10);
        tracker.Malloc(out byte* last, 16, MallocCaps.Default);
        tracker.Free(ref last);
    }
}

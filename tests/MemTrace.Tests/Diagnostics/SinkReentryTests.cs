// A sink that allocates or frees on the heap it listens to (IHeapEventSink forbids it): its own events
// would call it again, without end, until a stack overflow killed the process. The events raised inside
// a sink reach trace files only, never the sinks again, and the SelfLog says so once.
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

[Collection(SelfLogCollection.Name)]
public unsafe class SinkReentryTests
{
    [Fact]
    public void A_sink_allocating_through_its_tracker_is_not_called_again_from_inside_itself()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        var sink = new AllocatingSink();
        var messages = SelfLogCollection.Capture(() =>
        {
            using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(sink).Build();
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline });
            sink.Tracker = tracker;
            for (var i = 0; i < 10; i++)
            {
                var p = tracker.Malloc(32, MallocCaps.Default);
                tracker.Free(ref p);
            }

            Assert.Equal(0, tracker.LiveBlocks);
            Assert.Equal(20, tracker.TotalAllocations); // Ten by the test, ten by the sink: all recorded.
            Assert.Equal(20, tracker.TotalFrees);
            sink.Tracker = null;
        });

        Assert.Equal(1, sink.DeepestNesting); // Before: as deep as the sink's own cap (the stack, without one).
        Assert.Equal(10, sink.Allocations); // The test's ten; the sink's own allocations did not reach it.
        Assert.Single(messages, m => m.Contains("allocated or freed on the heap it listens to", StringComparison.Ordinal));
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void The_events_a_sink_raises_still_reach_a_trace_file_in_the_same_pipeline()
    {
        var path = Path.Combine(Path.GetTempPath(), "memtrace-reentry-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
            var sink = new AllocatingSink();
            SelfLogCollection.Capture(() =>
            {
                using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(sink).WriteTo.TraceFile(path).Build();
                using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline, SnapshotInterval = TimeSpan.Zero });
                sink.Tracker = tracker;
                var p = tracker.Malloc(32, MallocCaps.Default);
                tracker.Free(ref p);
                sink.Tracker = null;
            });

            using var reader = TraceReader.Open(path);
            var kinds = reader.ReadAll().Where(e => e.Kind is HeapEventKind.Allocation or HeapEventKind.Free).Select(e => e.Kind).ToList();
            Assert.Equal(4, kinds.Count); // The test's pair and the sink's pair.
            Assert.Equal(0, reader.BadLineCount);
            Assert.Equal(1, sink.DeepestNesting);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_plain_sink_given_to_the_tracker_is_guarded_too()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        var sink = new AllocatingSink();
        var messages = SelfLogCollection.Capture(() =>
        {
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink });
            sink.Tracker = tracker;
            var p = tracker.Malloc(32, MallocCaps.Default);
            tracker.Free(ref p);
            sink.Tracker = null;
            Assert.Equal(0, tracker.LiveBlocks);
        });

        Assert.Equal(1, sink.DeepestNesting);
        Assert.Equal(1, sink.Allocations);
        Assert.Single(messages, m => m.Contains("allocated or freed on the heap it listens to", StringComparison.Ordinal));
    }

    [Fact]
    public void A_sink_allocating_on_another_tracked_heap_is_not_mistaken_for_reentry()
    {
        // Tracker A's sink allocates through tracker B: B's sink must see those events.
        using var heapA = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var heapB = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        var sinkB = new ListSink();
        using var pipelineB = new HeapEventPipelineBuilder().WriteTo.Sink(sinkB).Build();
        using var trackerB = new MemoryTracker(heapB, new MemoryTrackerOptions { Output = null, Events = pipelineB });
        var sinkA = new AllocatingSink { Tracker = trackerB };
        using var pipelineA = new HeapEventPipelineBuilder().WriteTo.Sink(sinkA).Build();
        using var trackerA = new MemoryTracker(heapA, new MemoryTrackerOptions { Output = null, Events = pipelineA });

        var p = trackerA.Malloc(32, MallocCaps.Default);
        trackerA.Free(ref p);
        sinkA.Tracker = null;

        Assert.Equal(1, sinkA.Allocations);
        Assert.Equal(1, sinkB.Events.Count(e => e.Kind == HeapEventKind.Allocation));
        Assert.Equal(1, sinkB.Events.Count(e => e.Kind == HeapEventKind.Free));
    }

    /// <summary>Allocates and frees a block through <see cref="Tracker"/> on every allocation event; records how deep its calls nest (capped, so a regression fails instead of overflowing the stack).</summary>
    private sealed class AllocatingSink : IHeapEventSink
    {
        private int _depth;

        public MemoryTracker? Tracker { get; set; }

        public int DeepestNesting { get; private set; }

        public int Allocations { get; private set; }

        public void Emit(in HeapEvent heapEvent)
        {
            if (heapEvent.Kind != HeapEventKind.Allocation || Tracker is not { } tracker)
            {
                return;
            }

            Allocations++;
            _depth++;
            DeepestNesting = Math.Max(DeepestNesting, _depth);
            try
            {
                if (_depth < 20)
                {
                    var p = tracker.Malloc(8, MallocCaps.Default);
                    tracker.Free(ref p);
                }
            }
            finally
            {
                _depth--;
            }
        }
    }
}

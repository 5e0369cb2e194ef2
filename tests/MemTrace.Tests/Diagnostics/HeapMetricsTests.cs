// HeapMetrics through a MeterListener: every gauge matches what the heap and tracker say, the
// counters count, and the size histogram records only while a listener enables it, with nothing
// more than `new HeapMetrics(tracker)` (also added as a sink, it counts each size once).
using System.Diagnostics.Metrics;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public unsafe class HeapMetricsTests
{
    [Fact]
    public void Gauges_and_counters_report_the_tracker_and_its_heap()
    {
        using var metrics = new HeapMetrics();
        using var events = new HeapEventPipelineBuilder().WriteTo.Sink(metrics).Build();
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = events, SnapshotInterval = TimeSpan.Zero });
        metrics.Observe(tracker);
        using var recorder = new Recorder(metrics.Meter);

        tracker.Malloc(out byte* a, 100, MallocCaps.Spiram);
        tracker.Malloc(out byte* b, 200, MallocCaps.Spiram);
        tracker.Malloc(out byte* c, 300, MallocCaps.Internal | MallocCaps.Bit8);
        var copy = a;
        tracker.Free(ref a);
        tracker.Free(ref copy); // A double free: one error.
        tracker.Malloc(64 * 1024 * 1024, MallocCaps.Spiram); // Fails.
        var sizes = recorder.All("memtrace.allocation.size");
        recorder.Collect();

        Assert.Equal(500, recorder.Single("memtrace.live.bytes"));
        Assert.Equal(2, recorder.Single("memtrace.live.blocks"));
        Assert.Equal(3, recorder.Single("memtrace.allocations"));
        Assert.Equal(1, recorder.Single("memtrace.frees"));
        Assert.Equal(1, recorder.Single("memtrace.allocation_failures"));
        Assert.Equal(1, recorder.Single("memtrace.errors"));
        Assert.Equal((long)heap.GetFreeSize(MallocCaps.Spiram), recorder.Tagged("memtrace.region.free", "region", "SPIRAM"));
        Assert.Equal((long)heap.GetLargestFreeBlock(MallocCaps.Spiram), recorder.Tagged("memtrace.region.largest_free_block", "region", "SPIRAM"));
        Assert.Equal((long)heap.GetTotalSize(MallocCaps.Spiram), recorder.Tagged("memtrace.region.size", "region", "SPIRAM"));
        Assert.Equal((long)heap.GetMinimumFreeSize(MallocCaps.Spiram), recorder.Tagged("memtrace.region.minimum_free", "region", "SPIRAM"));
        Assert.Equal((long)heap.GetFreeSize(MallocCaps.Internal), recorder.Tagged("memtrace.caps.free", "caps", "MALLOC_CAP_INTERNAL"));
        Assert.Equal((long)heap.GetMinimumFreeSize(MallocCaps.Internal), recorder.Tagged("memtrace.caps.minimum_free", "caps", "MALLOC_CAP_INTERNAL"));
        Assert.Equal((long)heap.GetLargestFreeBlock(MallocCaps.Dma), recorder.Tagged("memtrace.caps.largest_free_block", "caps", "MALLOC_CAP_DMA"));

        // The two "DRAM" ranges of an ESP32 are one region name: their free bytes add up.
        var dram = heap.Layout.Regions.Where(r => r.Name == "DRAM").ToList();
        Assert.Equal(2, dram.Count);
        Assert.True(recorder.Tagged("memtrace.region.free", "region", "DRAM") > (long)dram.Max(r => r.Size) - 4096);

        Assert.Equal([100L, 200, 300], sizes);
        tracker.Free(ref b);
        tracker.Free(ref c);
    }

    [Fact]
    public void The_size_histogram_records_nothing_while_no_listener_enables_it()
    {
        using var metrics = new HeapMetrics();
        using var events = new HeapEventPipelineBuilder().WriteTo.Sink(metrics).Build();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = events, SnapshotInterval = TimeSpan.Zero });
        metrics.Observe(tracker);

        var histogram = (Histogram<long>)Instrument(metrics.Meter, "memtrace.allocation.size");
        tracker.Malloc(out byte* before, 111, MallocCaps.Default);
        Assert.False(histogram.Enabled);
        using (var gaugesOnly = new Recorder(metrics.Meter, name => name != "memtrace.allocation.size"))
        {
            tracker.Malloc(out byte* during, 222, MallocCaps.Default);
            Assert.False(histogram.Enabled);
            Assert.Empty(gaugesOnly.All("memtrace.allocation.size"));
            tracker.Free(ref during);
        }

        using var all = new Recorder(metrics.Meter);
        Assert.True(histogram.Enabled);
        tracker.Malloc(out byte* after, 333, MallocCaps.Default);
        Assert.Equal([333L], all.All("memtrace.allocation.size"));
        tracker.Free(ref before);
        tracker.Free(ref after);
    }

    [Fact]
    public void The_size_histogram_needs_only_the_tracker_and_builds_no_event()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var metrics = new HeapMetrics(tracker);
        using (var recorder = new Recorder(metrics.Meter))
        {
            tracker.Malloc(out byte* small, 10, MallocCaps.Default);
            tracker.Malloc(out byte* frame, 2000, MallocCaps.Spiram);

            Assert.Equal([10L, 2000], recorder.All("memtrace.allocation.size"));
            Assert.Equal("SPIRAM", (string?)recorder.Measurements.Last(m => m.Name == "memtrace.allocation.size").Tags.Single(t => t.Key == "region").Value);
            Assert.Equal(0, tracker.LastEventSequence);
            tracker.Free(ref small);
            tracker.Free(ref frame);
        }

        Assert.NotEqual(0, tracker.EventGate);
        metrics.Dispose();
        Assert.Equal(0, tracker.EventGate); // Detached: allocations cost nothing again.
    }

    [Fact]
    public void Two_HeapMetrics_on_one_tracker_both_record_sizes_and_disposing_one_leaves_the_other()
    {
        // The tracker kept one attached HeapMetrics: the second replaced the first, whose histogram then never recorded
        // again, even after the second was disposed.
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        using var first = new HeapMetrics(tracker);
        var second = new HeapMetrics(tracker);
        using var firstRecorder = new Recorder(first.Meter);
        using (var secondRecorder = new Recorder(second.Meter))
        {
            tracker.Malloc(out byte* a, 10, MallocCaps.Default);
            Assert.Equal([10L], firstRecorder.All("memtrace.allocation.size"));
            Assert.Equal([10L], secondRecorder.All("memtrace.allocation.size"));
            tracker.Free(ref a);
        }

        second.Dispose();
        tracker.Malloc(out byte* b, 20, MallocCaps.Default);
        Assert.Equal([10L, 20L], firstRecorder.All("memtrace.allocation.size"));
        tracker.Free(ref b);
        Assert.NotEqual(0, tracker.EventGate);
        first.Dispose();
        Assert.Equal(0, tracker.EventGate);
    }

    [Fact]
    public void Before_Observe_and_after_the_heap_is_gone_the_instruments_report_nothing_and_do_not_throw()
    {
        using var metrics = new HeapMetrics();
        using var recorder = new Recorder(metrics.Meter);
        recorder.Collect();
        Assert.Empty(recorder.Measurements);

        var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        metrics.Observe(tracker);
        metrics.Observe(tracker); // The same tracker again is fine.
        tracker.Dispose();
        heap.Dispose();
        recorder.Collect();

        Assert.DoesNotContain(recorder.Measurements, m => m.Name.StartsWith("memtrace.region.", StringComparison.Ordinal) || m.Name.StartsWith("memtrace.caps.", StringComparison.Ordinal));
    }

    [Fact]
    public void Observe_after_Dispose_is_refused_and_leaves_the_tracker_without_metrics()
    {
        // A disposed HeapMetrics attached itself again: the tracker handed it every allocation for the rest of its life
        // (its event gate stayed open), with no Dispose left to detach it.
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var unused = new HeapMetrics();
        unused.Dispose();
        var observed = new HeapMetrics(tracker);
        observed.Dispose();

        Assert.Throws<ObjectDisposedException>(() => unused.Observe(tracker));
        Assert.Throws<ObjectDisposedException>(() => observed.Observe(tracker));
        Assert.Equal(0, tracker.EventGate);

        using var fresh = new HeapMetrics(tracker); // The tracker is free for another.
        Assert.NotEqual(0, tracker.EventGate);
    }

    [Fact]
    public void Observing_a_second_tracker_or_null_is_refused()
    {
        using var heap1 = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var heap2 = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker1 = new MemoryTracker(heap1, new MemoryTrackerOptions { Output = null });
        using var tracker2 = new MemoryTracker(heap2, new MemoryTrackerOptions { Output = null });
        using var metrics = new HeapMetrics(tracker1);

        Assert.Throws<InvalidOperationException>(() => metrics.Observe(tracker2));
        Assert.Throws<ArgumentNullException>(() => metrics.Observe(null!));
        Assert.Equal(HeapMetrics.MeterName, metrics.Meter.Name);
    }

    [Fact]
    public void Observing_a_disposed_tracker_is_refused_and_leaves_the_metrics_free_for_another()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        var disposed = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        disposed.Dispose();
        using var metrics = new HeapMetrics();

        Assert.Throws<ObjectDisposedException>(() => metrics.Observe(disposed));
        Assert.Throws<ObjectDisposedException>(() => new HeapMetrics(disposed));

        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        metrics.Observe(tracker); // Not taken by the refused one.
        using var recorder = new Recorder(metrics.Meter);
        tracker.Malloc(out byte* block, 64, MallocCaps.Default);
        recorder.Collect();
        Assert.Contains(recorder.Measurements, m => m.Name == "memtrace.live.blocks" && m.Value == 1);
        tracker.Free(ref block);
    }

    [Fact]
    public void An_unbounded_host_region_reports_live_figures_but_no_free_figures()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        using var metrics = new HeapMetrics(tracker);
        using var recorder = new Recorder(metrics.Meter);
        var p = tracker.Malloc(48, MallocCaps.Default);

        recorder.Collect();

        Assert.Equal(48, recorder.Single("memtrace.live.bytes"));
        Assert.DoesNotContain(recorder.Measurements, m => m.Name == "memtrace.region.free");
        tracker.Free(ref p);
    }

    [Fact]
    public void Two_heaps_named_in_their_metrics_stay_apart_in_every_measurement()
    {
        // Every HeapMetrics publishes a meter named MemTrace: without a name, two heaps' live bytes are two identical
        // series that a collector merges. With one, each measurement carries heap = the name.
        using var heapA = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var heapB = new HeapCaps(HeapLayout.Esp32S3(), new HeapCapsOptions { ErrorOutput = null });
        using var trackerA = new MemoryTracker(heapA, new MemoryTrackerOptions { Output = null });
        using var trackerB = new MemoryTracker(heapB, new MemoryTrackerOptions { Output = null });
        using var metricsA = new HeapMetrics(trackerA, "radio");
        using var metricsB = new HeapMetrics(trackerB, "display");
        using var recorderA = new Recorder(metricsA.Meter);
        using var recorderB = new Recorder(metricsB.Meter);

        tracker_allocate(trackerA, 100);
        tracker_allocate(trackerB, 5000);
        Assert.Contains(recorderA.Measurements, m => m.Name == "memtrace.allocation.size" && m.Value == 100 && m.Tags.Any(t => t.Key == "heap" && (string?)t.Value == "radio"));
        Assert.Contains(recorderB.Measurements, m => m.Name == "memtrace.allocation.size" && m.Value == 5000 && m.Tags.Any(t => t.Key == "region"));
        recorderA.Collect();
        recorderB.Collect();

        Assert.Equal("radio", metricsA.HeapName);
        Assert.Equal(100, recorderA.Tagged("memtrace.live.bytes", "heap", "radio"));
        Assert.Equal(5000, recorderB.Tagged("memtrace.live.bytes", "heap", "display"));
        foreach (var (recorder, name) in new[] { (recorderA, "radio"), (recorderB, "display") })
        {
            Assert.NotEmpty(recorder.Measurements);
            Assert.All(recorder.Measurements, m => Assert.Contains(m.Tags, t => t.Key == "heap" && (string?)t.Value == name));
        }

        // Region and caps measurements keep their own tags beside it.
        Assert.Equal((long)heapA.GetFreeSize(MallocCaps.Spiram), recorderA.Tagged("memtrace.region.free", "region", "SPIRAM"));
        Assert.Equal((long)heapB.GetFreeSize(MallocCaps.Internal), recorderB.Tagged("memtrace.caps.free", "caps", "MALLOC_CAP_INTERNAL"));

        static void tracker_allocate(MemoryTracker tracker, nuint size) => Assert.True(tracker.Malloc(size, MallocCaps.Default) is not null);
    }

    [Fact]
    public void Without_a_heap_name_no_measurement_has_a_heap_tag_and_a_blank_name_is_refused()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        using var metrics = new HeapMetrics(tracker);
        using var recorder = new Recorder(metrics.Meter);
        var p = tracker.Malloc(10, MallocCaps.Default);
        recorder.Collect();

        Assert.Null(metrics.HeapName);
        Assert.NotEmpty(recorder.Measurements);
        Assert.DoesNotContain(recorder.Measurements, m => m.Tags.Any(t => t.Key == "heap"));
        Assert.Throws<ArgumentException>(() => new HeapMetrics(" "));
        Assert.Throws<ArgumentException>(() => new HeapMetrics(tracker, ""));
        tracker.Free(ref p);
    }

    private static Instrument Instrument(Meter meter, string name)
    {
        Instrument? found = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter == meter && instrument.Name == name)
            {
                found = instrument;
            }
        };
        listener.Start();
        return found ?? throw new InvalidOperationException(name + " not published");
    }

    /// <summary>A MeterListener that records the long measurements of one meter's instruments.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();

        public Recorder(Meter meter, Func<string, bool>? include = null)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter == meter && (include?.Invoke(instrument.Name) ?? true))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                lock (Measurements)
                {
                    Measurements.Add((instrument.Name, value, tags.ToArray()));
                }
            });
            _listener.Start();
        }

        public List<(string Name, long Value, KeyValuePair<string, object?>[] Tags)> Measurements { get; } = [];

        public void Collect()
        {
            lock (Measurements)
            {
                Measurements.Clear();
            }

            _listener.RecordObservableInstruments();
        }

        public long Single(string name) => Assert.Single(Measurements, m => m.Name == name).Value;

        public long Tagged(string name, string tag, string value) =>
            Assert.Single(Measurements, m => m.Name == name && m.Tags.Any(t => t.Key == tag && (string?)t.Value == value)).Value;

        public List<long> All(string name)
        {
            lock (Measurements)
            {
                return [.. Measurements.Where(m => m.Name == name).Select(m => m.Value)];
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}

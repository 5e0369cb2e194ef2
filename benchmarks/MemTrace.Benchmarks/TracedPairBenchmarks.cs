// What tracing costs a tracked program: a tracked malloc+free pair (64 B, 1000 blocks live, the
// host heap) with the tracker alone (the baseline), with a sink that does nothing (the cost of
// the tracker building two events), with the trace file in wait mode (nothing lost: the pair
// runs at the writer's pace once its ring is full), and in drop mode (the emitting thread's
// cost; the drop count says how much of the trace that rate loses). Also a pipeline whose only
// sink takes warnings (no allocation or free event is built: the cost of the gate) and a
// HeapMetrics observing the tracker with no listener (the size histogram's test per allocation).
// The trace file's runs print the cache-line round trip between two threads before and after
// (CacheLineProbe): on the benchmark machine it decides what a written event costs.
using BenchmarkDotNet.Attributes;
using MemTrace.Diagnostics;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class TracedPairBenchmarks
{
    private const int Live = 1000;

    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-bench-").FullName;
    private HeapCaps? _heap;
    private MemoryTracker? _tracker;
    private HeapEventPipeline? _pipeline;
    private TraceFileWriter? _writer;
    private HeapMetrics? _metrics;

    [GlobalSetup(Target = nameof(TrackerAlone))]
    public void SetupAlone() => Setup(null);

    [GlobalSetup(Target = nameof(TrackerWithNullSink))]
    public void SetupNull() => Setup(new HeapEventPipelineBuilder().WriteTo.Sink(new NullSink()).Build());

    [GlobalSetup(Target = nameof(TrackerWithTraceFileWait))]
    public void SetupWait() => SetupTrace(TraceBufferFullMode.Wait);

    [GlobalSetup(Target = nameof(TrackerWithTraceFileDrop))]
    public void SetupDrop() => SetupTrace(TraceBufferFullMode.Drop);

    [GlobalSetup(Target = nameof(TrackerWithWarningOnlySink))]
    public void SetupWarningOnly() => Setup(new HeapEventPipelineBuilder().WriteTo.Sink(new NullSink(), HeapEventLevel.Warning).Build());

    [GlobalSetup(Target = nameof(TrackerWithMetricsNoListener))]
    public void SetupMetrics()
    {
        Setup(null);
        _metrics = new HeapMetrics(_tracker!);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _metrics?.Dispose();
        _tracker?.Dispose();
        _heap?.Dispose();
        if (_writer is not null)
        {
            Console.WriteLine($"// events written {_writer.EventsWritten}, dropped {_writer.EventsDropped} ({100.0 * _writer.EventsDropped / Math.Max(1, _writer.EventsWritten + _writer.EventsDropped):F1}%)");
        }

        _pipeline?.Dispose();
        if (_writer is not null)
        {
            CacheLineProbe.Print("after the run"); // The writer's thread has ended: the probe has both cores.
        }

        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerAlone() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerWithNullSink() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerWithTraceFileWait() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerWithTraceFileDrop() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerWithWarningOnlySink() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerWithMetricsNoListener() => Pairs();

    private void Pairs()
    {
        var tracker = _tracker!;
        for (var i = 0; i < SizeTrace.Length; i++)
        {
            var p = tracker.Malloc(64, MallocCaps.Default);
            tracker.Free(ref p);
        }
    }

    private void SetupTrace(TraceBufferFullMode mode)
    {
        CacheLineProbe.Print("before the run");
        _writer = new TraceFileWriter(new WrappingFile(Path.Combine(_directory, "trace.jsonl")), ownsStream: true, new TraceFileOptions { FullMode = mode });
        Setup(new HeapEventPipelineBuilder().WriteTo.Sink(_writer).Build());
    }

    private void Setup(HeapEventPipeline? pipeline)
    {
        _pipeline = pipeline;
        _heap = new HeapCaps(HeapLayout.Host());
        _tracker = new MemoryTracker(_heap, new MemoryTrackerOptions { Output = null, Events = pipeline });
        for (var i = 0; i < Live; i++)
        {
            _tracker.Malloc(64, MallocCaps.Default);
        }
    }

    private sealed class NullSink : IHeapEventSink
    {
        public void Emit(in HeapEvent heapEvent)
        {
        }
    }
}

// Trace file throughput: events written per second to a local file, end to end (Emit on this
// thread, encoding and writing on the writer's, Flush waits until the operating system has every
// line). Baseline in the same run: writing the same bytes, already encoded, in the same 64 KiB
// batches — the I/O floor. Also the cost of Emit alone on the emitting thread (the ring copy).
// Events alternate allocation and free at a real call site, as a tracked program emits them:
// call sites and region as interned ids, as a tracker builds them.
using BenchmarkDotNet.Attributes;
using MemTrace.Diagnostics;
using MemTrace.Tracking;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public class TraceWriterBenchmarks
{
    public const int Events = 100_000;

    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-bench-").FullName;
    private HeapEvent[] _events = [];
    private byte[] _encoded = [];
    private WrappingFile? _rawFile;
    private WrappingFile? _traceFile;
    private TraceFileWriter? _writer;
    private TraceFileWriter? _dropWriter;

    /// <summary>Bytes of trace per event, measured in setup (for MB/s).</summary>
    public static double BytesPerEvent { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        var allocSite = CallSiteRegistry.GetId(AllocationMethod.Malloc, "/home/dev/firmware/src/network/PacketQueue.cs", 118, "Enqueue", "packet");
        var freeSite = CallSiteRegistry.GetId(AllocationMethod.Free, "/home/dev/firmware/src/network/PacketQueue.cs", 164, "Dequeue", "packet");
        var region = RegionNameRegistry.IdOf("DRAM");
        var time = DateTimeOffset.UtcNow;
        _events = new HeapEvent[Events];
        for (var i = 0; i < Events; i++)
        {
            var allocation = i % 2 == 0;
            _events[i] = new HeapEvent
            {
                Kind = allocation ? HeapEventKind.Allocation : HeapEventKind.Free,
                Sequence = i + 1,
                Time = time.AddMilliseconds(i / 1000),
                ThreadId = 1,
                Address = (nuint)(0x7f3a10000000 + ((i / 2) % 1000 * 64)),
                Size = (nuint)(64 + (i / 2 % 512)),
                Caps = MallocCaps.Bit8 | MallocCaps.Internal,
                RequestNumber = (i / 2) + 1,
                SiteId = allocation ? allocSite : freeSite,
                AllocSiteId = allocation ? 0 : allocSite,
                RegionId = region,
            };
        }

        // The exact bytes the writer produces, for the raw-write baseline.
        var memory = new MemoryStream();
        using (var encoder = new TraceFileWriter(memory, ownsStream: false))
        {
            foreach (var e in _events)
            {
                encoder.Emit(e);
            }
        }

        _encoded = memory.ToArray();
        BytesPerEvent = (double)_encoded.Length / Events;
        Console.WriteLine($"// trace bytes per event: {BytesPerEvent:F1}");
        _rawFile = new WrappingFile(Path.Combine(_directory, "raw.bin"));
        _traceFile = new WrappingFile(Path.Combine(_directory, "trace.jsonl"));
        _writer = new TraceFileWriter(_traceFile, ownsStream: true, new TraceFileOptions { FullMode = TraceBufferFullMode.Wait });
        _dropWriter = new TraceFileWriter(Stream.Null, ownsStream: false, new TraceFileOptions { FullMode = TraceBufferFullMode.Drop, Capacity = 1 << 16 });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer?.Dispose();
        _dropWriter?.Dispose();
        _rawFile?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events)]
    public void RawWriteOfEncodedLines()
    {
        var file = _rawFile!;
        for (var offset = 0; offset < _encoded.Length; offset += 64 * 1024)
        {
            file.Write(_encoded.AsSpan(offset, Math.Min(64 * 1024, _encoded.Length - offset)));
        }
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public void TraceFileWriterEndToEnd()
    {
        var writer = _writer!;
        var events = _events;
        for (var i = 0; i < events.Length; i++)
        {
            writer.Emit(events[i]);
        }

        if (!writer.Flush(TimeSpan.FromMinutes(1)))
        {
            throw new InvalidOperationException("the writer did not catch up");
        }
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public void EmitOnly()
    {
        // Drop mode over a writer whose thread keeps draining: this is the emitting thread's cost.
        var writer = _dropWriter!;
        var events = _events;
        for (var i = 0; i < events.Length; i++)
        {
            writer.Emit(events[i]);
        }
    }
}

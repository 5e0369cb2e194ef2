// LargeTrace: writes a trace of a given size with a real tracker and trace file, for timing
// `memtrace report` on traces far larger than memory (docs/benchmarks.md, "memtrace report on a
// 1 GB trace"). `dotnet run -c Release --project benchmarks/MemTrace.Benchmarks -- --large-trace
// FILE MEGABYTES [THREADS]`.
//
// Each thread keeps 1 000 blocks live and churns them at four call sites, freeing a block its
// neighbour thread allocated every 16th pair (cross-thread frees, which a trace must order after
// their allocations); the trace file waits when its buffer is full, so nothing is dropped. A
// report of the result must find no unknown frees and exactly 1 000 blocks per thread live at the
// end (the ones left allocated on purpose).
using System.Diagnostics;
using System.Globalization;
using MemTrace.Diagnostics;

namespace MemTrace.Benchmarks;

internal static unsafe class LargeTrace
{
    private const int Live = 1000;

    public static void Write(string path, long megabytes, int threads)
    {
        var target = megabytes << 20;
        var stopwatch = Stopwatch.StartNew();
        using var heap = new HeapCaps(HeapLayout.Host());
        var pipeline = new HeapEventPipelineBuilder().WriteTo.TraceFile(path, new TraceFileOptions { FullMode = TraceBufferFullMode.Wait, FlushPolicy = TraceFlushPolicy.Interval }).Build();
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Events = pipeline, SnapshotInterval = TimeSpan.FromMilliseconds(50) });

        // One exchange slot per thread: a block handed to the next thread, which frees it.
        var handoff = new nint[threads];
        var done = 0;
        var workers = new Thread[threads];
        for (var t = 0; t < threads; t++)
        {
            var index = t;
            workers[t] = new Thread(() => Churn(tracker, handoff, index, threads, () => Volatile.Read(ref done) != 0));
            workers[t].Start();
        }

        var file = new FileInfo(path);
        while (true)
        {
            Thread.Sleep(100);
            file.Refresh();
            if (file.Exists && file.Length >= target)
            {
                break;
            }
        }

        Volatile.Write(ref done, 1);
        foreach (var worker in workers)
        {
            worker.Join();
        }

        // Blocks still handed over when the threads stopped: freed here, so that exactly Live per thread stay.
        foreach (var rest in handoff)
        {
            if (rest != 0)
            {
                var q = (void*)rest;
                tracker.Free(ref q);
            }
        }

        tracker.Dispose();
        pipeline.Dispose();
        file.Refresh();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path}: {file.Length / (1 << 20)} MB in {stopwatch.Elapsed.TotalSeconds:F1} s, {threads} thread(s), {Live} blocks live per thread at the end"));
    }

    private static void Churn(MemoryTracker tracker, nint[] handoff, int index, int threads, Func<bool> stop)
    {
        var live = new void*[Live];
        for (var i = 0; i < Live; i++)
        {
            live[i] = tracker.Malloc((nuint)(16 + (i % 64 * 8)), MallocCaps.Default);
        }

        long pair = 0;
        while (!stop())
        {
            for (var i = 0; i < 256; i++, pair++)
            {
                var slot = (int)(pair % Live);
                var size = (nuint)(16 + (pair % 97 * 8));
                var p = live[slot];
                switch (pair % 4)
                {
                    case 0: tracker.Free(ref p); live[slot] = tracker.Malloc(size, MallocCaps.Default); break;
                    case 1: tracker.Free(ref p); live[slot] = tracker.Calloc(1, size, MallocCaps.Default); break;
                    case 2: live[slot] = tracker.Realloc(p, size, MallocCaps.Default); break;
                    default: tracker.Free(ref p); live[slot] = tracker.Malloc(size, MallocCaps.Default); break;
                }

                if (threads > 1 && pair % 16 == 0)
                {
                    // Hand a fresh block to the next thread, and free the one the previous thread handed over.
                    var given = (nint)tracker.Malloc(48, MallocCaps.Default);
                    var old = Interlocked.Exchange(ref handoff[(index + 1) % threads], given);
                    var taken = Interlocked.Exchange(ref handoff[index], 0);
                    if (taken != 0)
                    {
                        var q = (void*)taken;
                        tracker.Free(ref q);
                    }

                    if (old != 0)
                    {
                        var q = (void*)old;
                        tracker.Free(ref q);
                    }
                }
            }
        }

        // The Live blocks stay allocated: the report's leak table.
    }
}

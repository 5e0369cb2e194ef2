// Scenarios that end the process, run by the tests in a child process: the test checks the
// exit code and what was written before the end.
using MemTrace;
using MemTrace.Diagnostics;

return args.FirstOrDefault() switch
{
    "abort-on-allocation-failure" => AbortOnAllocationFailure(),
    "abort-on-refused-allocation" => AbortOnRefusedAllocation(),
    "trace-until-killed" when args.Length == 2 => TraceUntilKilled(args[1]),
    "metrics-demo" when args.Length == 2 => MetricsDemo(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)),
    "leak-report-at-exit" => LeakReportAtExit(),
    "fail-fast-double-free" => FailFastDoubleFree(),
    "fail-fast-corrupt-heap-at-dispose" => FailFastCorruptHeapAtDispose(),
    "fail-fast-poisoning" when args.Length == 4 => FailFastPoisoning(args[1], Enum.Parse<PoisoningLevel>(args[2]), args[3]),
    "run-time-variable-names" => RunTimeVariableNames(),
    _ => Usage(),
};

static unsafe int AbortOnAllocationFailure()
{
    using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { AbortOnAllocationFailure = true });
    heap.RegisterFailedAllocCallback((_, _, _) =>
    {
        Console.WriteLine("callback ran");
        Console.Out.Flush();
    });
    heap.Malloc(128 * 1024 * 1024, MallocCaps.Default);
    Console.WriteLine("not reached");
    return 0;
}

// An allocation refused by a tracker's hook fails as a real failure does: with
// AbortOnAllocationFailure, the failure callback runs, then the process ends.
static unsafe int AbortOnRefusedAllocation()
{
    using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { AbortOnAllocationFailure = true });
    heap.RegisterFailedAllocCallback((_, _, _) =>
    {
        Console.WriteLine("callback ran");
        Console.Out.Flush();
    });
    using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
    tracker.AllocationHook = FailureInjection.FailNth(1);
    heap.MallocDefault(64);
    Console.WriteLine("not reached");
    return 0;
}

// Writes a trace as fast as it can, from one thread, until the test kills the process with
// SIGKILL: prints "ready" once 20000 events have reached the file, then goes on. Small batches
// (a 4 KiB ring) so that writes to the file happen all the time, as in a killed production run.
static unsafe int TraceUntilKilled(string path)
{
    using var events = new HeapEventPipelineBuilder()
        .WriteTo.TraceFile(path, new TraceFileOptions { Capacity = 4096, FullMode = TraceBufferFullMode.Wait })
        .Build();
    using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
    using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = events, SnapshotInterval = TimeSpan.FromMilliseconds(20) });
    var writer = (TraceFileWriter)events.Sinks[0];
    var ready = false;
    for (long i = 0; ; i++)
    {
        tracker.Malloc(out byte* packet, (nuint)(16 + (i % 2000)), MallocCaps.Spiram);
        tracker.Free(ref packet);
        if (!ready && writer.EventsWritten >= 20_000)
        {
            ready = true;
            Console.WriteLine("ready");
            Console.Out.Flush();
        }
    }
}

// A running program for dotnet-counters: a tracker with HeapMetrics (also in its pipeline, for
// the size histogram), allocating and freeing for the given number of seconds with 100 blocks of
// 1000 bytes kept live. Prints "ready <pid>" when the meter exists.
static unsafe int MetricsDemo(int seconds)
{
    using var metrics = new HeapMetrics();
    using var events = new HeapEventPipelineBuilder().WriteTo.Sink(metrics).Build();
    using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
    using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = events, SnapshotInterval = TimeSpan.Zero });
    metrics.Observe(tracker);
    var kept = new List<nint>();
    for (var i = 0; i < 100; i++)
    {
        kept.Add((nint)tracker.Malloc(1000, MallocCaps.Internal));
    }

    Console.WriteLine($"ready {Environment.ProcessId}");
    Console.Out.Flush();
    var end = Environment.TickCount64 + (seconds * 1000L);
    while (Environment.TickCount64 < end)
    {
        for (var i = 0; i < 100; i++)
        {
            tracker.Malloc(out byte* message, (nuint)(32 + (i * 8)), MallocCaps.Spiram);
            tracker.Free(ref message);
        }

        Thread.Sleep(10);
    }

    foreach (var block in kept)
    {
        var p = (byte*)block;
        tracker.Free(ref p);
    }

    return 0;
}

// A tracker that is never disposed, with ReportLeaksAtExit: the report of the block still live is
// written to the tracker's output (standard output) when the process exits.
static unsafe int LeakReportAtExit()
{
    var heap = new HeapCaps(HeapLayout.Host());
    var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { ReportLeaksAtExit = true });
    tracker.Malloc(out byte* leaked_buffer, 123, MallocCaps.Bit8);
    tracker.Malloc(out byte* freed_buffer, 45, MallocCaps.Default);
    tracker.Free(ref freed_buffer);
    Console.WriteLine("main returns");
    GC.KeepAlive(tracker);
    return 0;
}

// The FailFast error policy: a double free ends the process, with the report on standard error.
static unsafe int FailFastDoubleFree()
{
    using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorPolicy = MemoryErrorPolicy.FailFast });
    using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
    tracker.Malloc(out byte* buffer, 64, MallocCaps.Default);
    var copy = buffer;
    tracker.Free(ref buffer);
    tracker.Free(ref copy);
    Console.WriteLine("not reached");
    return 0;
}

// The FailFast error policy at a tracker's disposal: a TLSF header overwritten (an overrun of the
// block before it) is found by the integrity check and ends the process, with the report on standard error.
static unsafe int FailFastCorruptHeapAtDispose()
{
    using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorPolicy = MemoryErrorPolicy.FailFast });
    var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
    tracker.Malloc(out byte* victim, 64, MallocCaps.Default);
    tracker.Malloc(out byte* next, 64, MallocCaps.Default);
    *((nuint*)next - 1) = 0xDEAD0;
    Console.WriteLine("disposing");
    Console.Out.Flush();
    tracker.Dispose();
    Console.WriteLine("not reached");
    GC.KeepAlive(victim is null);
    return 0;
}

// The FailFast error policy with poisoning: a block damaged in one of three ways (overflow, underflow,
// write after free) on the given layout and level ends the process when the damage is found, with the
// report on standard error. A write after free is found on the process heap by a quarantine of one
// block, on a TLSF region under Comprehensive by the malloc that is handed the freed memory.
static unsafe int FailFastPoisoning(string layout, PoisoningLevel level, string fault)
{
    var quarantine = fault == "write-after-free" && layout == "host" ? new QuarantineOptions { MaxBlocks = 1 } : null;
    using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine, ErrorPolicy = MemoryErrorPolicy.FailFast, ErrorOutput = null });
    using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
    tracker.Malloc(out byte* victim, 40, MallocCaps.Default);
    switch (fault)
    {
        case "overflow":
            victim[40] = 0x00;
            tracker.Free(ref victim);
            break;
        case "underflow":
            victim[-8] = 0x00;
            tracker.Free(ref victim);
            break;
        case "write-after-free":
            var stale = victim;
            tracker.Free(ref victim);
            stale[7] = 0x42;
            tracker.Malloc(out byte* next, 40, MallocCaps.Default);
            tracker.Free(ref next);
            break;
        default:
            return Usage();
    }

    Console.WriteLine("not reached");
    return 0;
}

// Variable names built at run time, one per block (the process-wide call-site registry keeps every
// distinct site): the first 65 536 sites keep their names, later ones their file, line and function only.
static unsafe int RunTimeVariableNames()
{
    using var heap = new HeapCaps(HeapLayout.Host());
    using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
    byte* first = null;
    byte* last = null;
    for (var i = 0; i < 100_000; i++)
    {
        tracker.Malloc(out byte* block, 16, MallocCaps.Default, variable: "frame_" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (i == 0)
        {
            first = block;
        }
        else if (i == 99_999)
        {
            last = block;
        }
        else
        {
            tracker.Free(ref block);
        }
    }

    foreach (var record in tracker.GetAllocations())
    {
        var which = record.Address == (nuint)first ? "first" : record.Address == (nuint)last ? "last" : "other";
        Console.WriteLine($"{which}: variable={record.VariableName ?? "(none)"} file={Path.GetFileName(record.File)} line={record.Line} function={record.Function}");
    }

    tracker.Free(ref first);
    tracker.Free(ref last);
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: MemTrace.TestHost abort-on-allocation-failure | abort-on-refused-allocation | trace-until-killed PATH | metrics-demo SECONDS | leak-report-at-exit | fail-fast-double-free | fail-fast-corrupt-heap-at-dispose | fail-fast-poisoning LAYOUT LEVEL overflow|underflow|write-after-free | run-time-variable-names");
    return 64;
}

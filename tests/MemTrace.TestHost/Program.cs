// Scenarios that end the process, run by the tests in a child process: the test checks the
// exit code and what was written before the end.
using MemTrace;

return args.FirstOrDefault() switch
{
    "abort-on-allocation-failure" => AbortOnAllocationFailure(),
    "leak-report-at-exit" => LeakReportAtExit(),
    "fail-fast-double-free" => FailFastDoubleFree(),
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

static int Usage()
{
    Console.Error.WriteLine("usage: MemTrace.TestHost <scenario>");
    return 64;
}

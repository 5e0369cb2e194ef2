// Scenarios that end the process, run by the tests in a child process: the test checks the
// exit code and what was written before the end.
using MemTrace;

return args.FirstOrDefault() switch
{
    "abort-on-allocation-failure" => AbortOnAllocationFailure(),
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

static int Usage()
{
    Console.Error.WriteLine("usage: MemTrace.TestHost <scenario>");
    return 64;
}

// Test doubles: a host heap and a tracker whose outputs go to strings, plus a recorder of the
// failed-allocation callback.
namespace MemTrace.Tests;

internal sealed class FailedAllocations
{
    public List<(nuint Size, MallocCaps Caps, string Function)> Calls { get; } = [];

    public void Record(nuint size, MallocCaps caps, string function) => Calls.Add((size, caps, function));
}

internal sealed class HostFixture : IDisposable
{
    public HostFixture(MemoryErrorPolicy policy = MemoryErrorPolicy.Report, bool withTracker = false, bool trackerEnabled = true)
    {
        Heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorPolicy = policy, ErrorOutput = Errors });
        Heap.RegisterFailedAllocCallback(Failures.Record);
        if (withTracker)
        {
            Tracker = new MemoryTracker(Heap, new MemoryTrackerOptions { Output = Output, Enabled = trackerEnabled });
        }
    }

    public HeapCaps Heap { get; }

    public MemoryTracker? Tracker { get; }

    public MemoryTracker T => Tracker ?? throw new InvalidOperationException("No tracker in this fixture.");

    public StringWriter Errors { get; } = new();

    public StringWriter Output { get; } = new();

    public FailedAllocations Failures { get; } = new();

    public void Dispose()
    {
        Tracker?.Dispose();
        Heap.Dispose();
    }
}

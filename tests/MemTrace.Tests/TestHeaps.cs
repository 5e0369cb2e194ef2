// Test doubles: a host heap and a tracker whose outputs go to strings, a recorder of the
// failed-allocation callback, and native memory a test owns.
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

/// <summary>Native memory a test owns (e.g. for a region added at run time): it stays readable after the heap frees blocks in it.</summary>
internal sealed unsafe class OwnedMemory : IDisposable
{
    public OwnedMemory(int size)
    {
        Size = size;
        Start = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)size, 64);
    }

    public int Size { get; }

    public byte* Start { get; }

    public byte* End => Start + Size;

    public bool Contains(void* block, int length) => (byte*)block >= Start && (byte*)block + length <= End;

    public void Dispose() => System.Runtime.InteropServices.NativeMemory.AlignedFree(Start);
}

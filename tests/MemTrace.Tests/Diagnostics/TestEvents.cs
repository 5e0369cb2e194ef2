// Events and sinks for the diagnostics tests: one event of each kind, with every field a sink
// could write, and sinks that record, throw or count.
using MemTrace.Diagnostics;

namespace MemTrace.Tests.Diagnostics;

internal static class TestEvents
{
    public static readonly CallSite AllocSite = new(AllocationMethod.Calloc, "/src/App/Demo.cs", 30, "Run", "buffer");
    public static readonly CallSite FreeSite = new(AllocationMethod.Free, "/src/App/Demo.cs", 62, "Run", "buffer");
    public static readonly DateTimeOffset Time = new(2026, 11, 25, 14, 38, 0, 123, TimeSpan.Zero);

    public static readonly RegionSnapshot[] Regions =
    [
        new("DRAM", MallocCaps.Bit8 | MallocCaps.Internal | MallocCaps.Dma, 184632, 183000, 180224, 170000, false),
        new("host", MallocCaps.Default, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, true),
    ];

    public static HeapEvent Allocation(long sequence = 1, nuint address = 0x3ffb0a10, nuint size = 256) => new()
    {
        Kind = HeapEventKind.Allocation,
        Sequence = sequence,
        Time = Time,
        ThreadId = 1,
        Address = address,
        Size = size,
        Caps = MallocCaps.Bit8,
        RequestNumber = sequence,
        Site = AllocSite,
        RegionName = "DRAM",
    };

    public static HeapEvent Free(long sequence = 2, nuint address = 0x3ffb0a10, nuint size = 256) => new()
    {
        Kind = HeapEventKind.Free,
        Sequence = sequence,
        Time = Time,
        ThreadId = 1,
        Address = address,
        Size = size,
        Caps = MallocCaps.Bit8,
        RequestNumber = 1,
        Site = FreeSite,
        AllocatedAt = AllocSite,
        RegionName = "DRAM",
    };

    public static HeapEvent Reallocation() => new()
    {
        Kind = HeapEventKind.Reallocation,
        Sequence = 3,
        Time = Time,
        ThreadId = 2,
        Address = 0x3ffb1000,
        Size = 512,
        PreviousAddress = 0x3ffb0a10,
        PreviousSize = 256,
        Caps = MallocCaps.Bit8,
        RequestNumber = 1,
        Site = AllocSite with { Method = AllocationMethod.Realloc, Line = 40 },
        AllocatedAt = AllocSite,
        RegionName = "DRAM",
    };

    public static HeapEvent Failure() => new()
    {
        Kind = HeapEventKind.FailedAllocation,
        Sequence = 4,
        Time = Time,
        ThreadId = 1,
        Size = 8 * 1024 * 1024,
        Caps = MallocCaps.Spiram,
        RequestNumber = 7,
        Site = new CallSite(AllocationMethod.Malloc, "/src/App/Demo.cs", 80, "Run", "video_buffer"),
    };

    public static HeapEvent Error() => new()
    {
        Kind = HeapEventKind.MemoryError,
        Sequence = 5,
        Time = Time,
        ThreadId = 1,
        Address = 0x3ffb0a10,
        Size = 256,
        RequestNumber = 1,
        RegionName = "DRAM",
        Site = FreeSite with { Line = 63, VariableName = "copy" },
        AllocatedAt = AllocSite,
        Error = new MemoryError(MemoryErrorKind.DoubleFree, AllocationMethod.Free, 0x3ffb0a10)
        {
            DetectedAt = FreeSite with { Line = 63, VariableName = "copy" },
            BlockAddress = 0x3ffb0a10,
            BlockSize = 256,
            FreedAt = FreeSite,
            FreedByThreadId = 1,
            RegionName = "DRAM",
            Note = "a \"quoted\" note\nwith two lines",
        },
    };

    public static HeapEvent Checkpoint() => new()
    {
        Kind = HeapEventKind.Checkpoint,
        Sequence = 6,
        Time = Time,
        ThreadId = 1,
        Label = "after init ✓",
        Regions = Regions,
        LiveBlocks = 2,
        LiveBytes = 768,
    };

    public static HeapEvent Snapshot() => Checkpoint() with { Kind = HeapEventKind.Snapshot, Sequence = 7, Label = null };

    public static HeapEvent[] OneOfEachKind() => [Allocation(), Free(), Reallocation(), Failure(), Error(), Checkpoint(), Snapshot()];
}

internal sealed class ListSink : IHeapEventSink, IDisposable
{
    public List<HeapEvent> Events { get; } = [];

    public bool Disposed { get; private set; }

    public void Emit(in HeapEvent heapEvent)
    {
        lock (Events)
        {
            Events.Add(heapEvent);
        }
    }

    public void Dispose() => Disposed = true;
}

internal sealed class ThrowingSink : IHeapEventSink, IDisposable
{
    public void Emit(in HeapEvent heapEvent) => throw new InvalidOperationException("sink failure");

    public void Dispose() => throw new InvalidOperationException("dispose failure");
}

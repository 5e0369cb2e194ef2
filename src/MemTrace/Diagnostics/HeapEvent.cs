// HeapEvent: one thing that happened on a tracked heap, in one immutable shape for every sink.
// A struct passed by reference: building one allocates nothing but what it refers to (call
// sites are interned, regions named once), and none is built when no sink listens.
namespace MemTrace.Diagnostics;

/// <summary>
/// One event of a tracked heap: an allocation, free, realloc, failed request, memory error,
/// checkpoint or statistics snapshot. Which fields are set depends on <see cref="Kind"/>.
/// </summary>
public readonly struct HeapEvent
{
    /// <summary>What happened.</summary>
    public HeapEventKind Kind { get; init; }

    /// <summary>1, 2, 3, … per tracker, in the order the events were emitted.</summary>
    public long Sequence { get; init; }

    /// <summary>When the event was emitted (high resolution).</summary>
    public DateTimeOffset Time { get; init; }

    /// <summary>Managed id of the thread that emitted the event.</summary>
    public int ThreadId { get; init; }

    /// <summary>The block's address (for a realloc, the new address); 0 for a failed request.</summary>
    public nuint Address { get; init; }

    /// <summary>The requested size (for a free, the size of the freed block; for a realloc, the new size).</summary>
    public nuint Size { get; init; }

    /// <summary>For a realloc, the block's address before it.</summary>
    public nuint PreviousAddress { get; init; }

    /// <summary>For a realloc, the block's size before it.</summary>
    public nuint PreviousSize { get; init; }

    /// <summary>The requested capabilities.</summary>
    public MallocCaps Caps { get; init; }

    /// <summary>The block's request number (0 when none).</summary>
    public long RequestNumber { get; init; }

    /// <summary>Where the operation was called (for a free, the free's site).</summary>
    public CallSite Site { get; init; }

    /// <summary>For a free or realloc, where the block was allocated.</summary>
    public CallSite? AllocatedAt { get; init; }

    /// <summary>The region that holds the block, when there is one.</summary>
    public string? RegionName { get; init; }

    /// <summary>For <see cref="HeapEventKind.MemoryError"/>, the report.</summary>
    public MemoryError? Error { get; init; }

    /// <summary>For <see cref="HeapEventKind.Checkpoint"/>, its name.</summary>
    public string? Label { get; init; }

    /// <summary>For <see cref="HeapEventKind.Snapshot"/> (and checkpoints), every region's statistics.</summary>
    public IReadOnlyList<RegionSnapshot>? Regions { get; init; }

    /// <summary>Live blocks the tracker held when the event was emitted.</summary>
    public long LiveBlocks { get; init; }

    /// <summary>Requested bytes of the live blocks the tracker held when the event was emitted.</summary>
    public long LiveBytes { get; init; }
}

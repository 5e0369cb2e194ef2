// MemoryTrackerOptions: settings fixed when a MemoryTracker is created.
namespace MemTrace;

/// <summary>Settings of a <see cref="MemoryTracker"/>.</summary>
public sealed class MemoryTrackerOptions
{
    /// <summary>Whether tracking starts enabled (the seed's <c>debug_track_allocation</c>). Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Where listings, memory info and failed-allocation logs go. Default <see cref="Console.Out"/>; null means nowhere.</summary>
    public TextWriter? Output { get; init; } = Console.Out;

    /// <summary>How many failed allocations <see cref="MemoryTracker.FailedAllocations"/> keeps (the most recent). Default 256.</summary>
    public int FailedAllocationCapacity { get; init; } = 256;

    /// <summary>
    /// The sink that receives the tracker's events (allocations, frees, reallocs, failures, errors,
    /// checkpoints, snapshots); null for none, which costs nothing. Build one with
    /// <c>HeapEventPipelineBuilder</c>; the tracker does not dispose it.
    /// </summary>
    public Diagnostics.IHeapEventSink? Events { get; init; }

    /// <summary>How often, while events flow, a snapshot of every region's statistics is emitted. Default 100 ms; <see cref="TimeSpan.Zero"/> for none.</summary>
    public TimeSpan SnapshotInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Whether <see cref="MemoryTracker.Free{T}(ref T*, string, string, int, string)"/> zeroes a tracked block before freeing it, as the seed's <c>free_unregister_allocation</c> does. Default true.</summary>
    public bool ClearOnFree { get; init; } = true;
}

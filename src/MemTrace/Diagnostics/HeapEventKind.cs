// HeapEventKind: what a HeapEvent reports.
namespace MemTrace.Diagnostics;

/// <summary>What a <see cref="HeapEvent"/> reports.</summary>
public enum HeapEventKind
{
    /// <summary>A block was allocated (malloc, calloc, aligned alloc, realloc of null).</summary>
    Allocation,

    /// <summary>A recorded block was freed.</summary>
    Free,

    /// <summary>A recorded block was resized or moved.</summary>
    Reallocation,

    /// <summary>A request failed.</summary>
    FailedAllocation,

    /// <summary>A memory error was detected (see <see cref="HeapEvent.Error"/>).</summary>
    MemoryError,

    /// <summary>A checkpoint was taken (see <see cref="HeapEvent.Label"/>).</summary>
    Checkpoint,

    /// <summary>Periodic statistics of every region (see <see cref="HeapEvent.Regions"/>), for charts of use and fragmentation over time.</summary>
    Snapshot,
}

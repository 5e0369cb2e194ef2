// ThreadMemoryStatistics: ESP-IDF's task_stat_t for a thread: what the thread allocated and still
// holds, its peak, and the same per region (heap_stat_t), with the live blocks charged to it.
namespace MemTrace;

/// <summary>
/// The memory one thread holds, as ESP-IDF's task tracking reports a task (<c>task_stat_t</c>). A block
/// stays charged to the thread that allocated it until it is freed, by whichever thread, or reallocated: a
/// realloc charges it to the thread that makes it. Sizes are requested sizes. Get these from <see cref="MemoryTracker.GetThreadStatistics"/>.
/// </summary>
public sealed record ThreadMemoryStatistics
{
    /// <summary>Managed id of the thread.</summary>
    public required int ThreadId { get; init; }

    /// <summary>The thread's name, or null.</summary>
    public string? Name { get; init; }

    /// <summary>Whether the thread was still running (ESP-IDF: ALIVE, or DELETED); ended threads are listed only with <see cref="MemoryTrackerOptions.KeepEndedThreadStatistics"/>.</summary>
    public required bool IsAlive { get; init; }

    /// <summary>Bytes of the thread's blocks still live (ESP-IDF: overall current usage).</summary>
    public required long CurrentBytes { get; init; }

    /// <summary>The most bytes the thread ever held at once (ESP-IDF: overall peak usage).</summary>
    public required long PeakBytes { get; init; }

    /// <summary>The thread's blocks still live.</summary>
    public required long CurrentBlocks { get; init; }

    /// <summary>Allocations the thread made since statistics began, counting each block it took over by reallocating it on this thread.</summary>
    public required long Allocations { get; init; }

    /// <summary>One entry per region the thread allocated from (ESP-IDF: <c>heap_stat</c>, <c>heap_count</c> of them).</summary>
    public required IReadOnlyList<ThreadRegionStatistics> Regions { get; init; }
}

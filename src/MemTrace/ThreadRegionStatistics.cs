// ThreadRegionStatistics: ESP-IDF's heap_stat_t: one thread's use of one region.
namespace MemTrace;

/// <summary>One thread's use of one region (ESP-IDF's <c>heap_stat_t</c>); regions that share a name count as one.</summary>
public sealed record ThreadRegionStatistics
{
    /// <summary>The region's name.</summary>
    public required string RegionName { get; init; }

    /// <summary>All the capabilities of the region (of the regions with this name).</summary>
    public required MallocCaps Caps { get; init; }

    /// <summary>Total bytes of the region (of the regions with this name); <see cref="nuint.MaxValue"/> when unbounded.</summary>
    public required nuint RegionSize { get; init; }

    /// <summary>Bytes of the thread's blocks live in the region.</summary>
    public required long CurrentBytes { get; init; }

    /// <summary>The most bytes the thread ever held at once in the region.</summary>
    public required long PeakBytes { get; init; }

    /// <summary>The thread's blocks live in the region (ESP-IDF: <c>alloc_count</c>).</summary>
    public required long CurrentBlocks { get; init; }

    /// <summary>Allocations the thread made in the region since statistics began.</summary>
    public required long Allocations { get; init; }

    /// <summary>The thread's live blocks in the region (ESP-IDF: <c>alloc_stat</c>), by request number.</summary>
    public required IReadOnlyList<AllocationRecord> Blocks { get; init; }
}

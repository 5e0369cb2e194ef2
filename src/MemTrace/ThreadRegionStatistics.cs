// ThreadRegionStatistics: ESP-IDF's heap_stat_t: one thread's use of one region.
namespace MemTrace;

/// <summary>
/// One thread's use of one region (ESP-IDF's <c>heap_stat_t</c>). Regions that share a name (an ESP32's two DRAM
/// regions) are counted apart, as ESP-IDF counts each heap, and told apart by <see cref="RegionLabel"/>.
/// </summary>
public sealed record ThreadRegionStatistics
{
    /// <summary>The region's name, as in the layout (e.g. <c>DRAM</c>).</summary>
    public required string RegionName { get; init; }

    /// <summary>
    /// The region's name, told apart from other regions with the same name: the name for the first of them in the
    /// layout, <c>DRAM#2</c>, <c>DRAM#3</c>, … for the next (regions added at run time come after the layout's, in the
    /// order they were added). What the printed statistics show. Null only when built by hand without one.
    /// </summary>
    public string? RegionLabel { get; init; }

    /// <summary>The region's first address, as <see cref="HeapCaps.PrintHeapInfo(MallocCaps, TextWriter?)"/> shows it (<c>At 0x…</c>); 0 for the process heap.</summary>
    public nuint RegionStart { get; init; }

    /// <summary>All the capabilities of the region.</summary>
    public required MallocCaps Caps { get; init; }

    /// <summary>Total bytes of the region; <see cref="nuint.MaxValue"/> when unbounded.</summary>
    public required nuint RegionSize { get; init; }

    /// <summary>Bytes of the thread's blocks live in the region.</summary>
    public required long CurrentBytes { get; init; }

    /// <summary>The most bytes the thread ever held at once in the region.</summary>
    public required long PeakBytes { get; init; }

    /// <summary>The thread's blocks live in the region (ESP-IDF: <c>alloc_count</c>).</summary>
    public required long CurrentBlocks { get; init; }

    /// <summary>Allocations the thread made in the region since statistics began, counting each block it took over by reallocating it on this thread.</summary>
    public required long Allocations { get; init; }

    /// <summary>The thread's live blocks in the region (ESP-IDF: <c>alloc_stat</c>), by request number.</summary>
    public required IReadOnlyList<AllocationRecord> Blocks { get; init; }
}

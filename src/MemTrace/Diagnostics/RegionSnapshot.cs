// RegionSnapshot: the statistics of one region at one moment, carried by Snapshot events.
namespace MemTrace.Diagnostics;

/// <summary>One region's statistics at one moment.</summary>
/// <param name="Name">The region's name.</param>
/// <param name="Caps">All the region's capabilities.</param>
/// <param name="TotalSize">Bytes of the region, metadata included; <see cref="nuint.MaxValue"/> when unbounded.</param>
/// <param name="FreeBytes">Free bytes; <see cref="nuint.MaxValue"/> when unbounded.</param>
/// <param name="LargestFreeBlock">The largest request guaranteed to succeed; <see cref="nuint.MaxValue"/> when unbounded.</param>
/// <param name="MinimumFreeBytes">Lifetime low-watermark of free bytes; <see cref="nuint.MaxValue"/> when unbounded.</param>
/// <param name="IsUnbounded">True for a process-heap region.</param>
public readonly record struct RegionSnapshot(string Name, MallocCaps Caps, nuint TotalSize, nuint FreeBytes, nuint LargestFreeBlock, nuint MinimumFreeBytes, bool IsUnbounded);

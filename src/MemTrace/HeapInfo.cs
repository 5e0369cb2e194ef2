// HeapInfo: ESP-IDF's multi_heap_info_t, the statistics of one region or of all regions that
// match a set of capabilities (heap_caps_get_info).
namespace MemTrace;

/// <summary>
/// Heap statistics, ESP-IDF's <c>multi_heap_info_t</c>: for one region, or summed over every
/// region that matches a capability request (<see cref="HeapCaps.GetInfo(MallocCaps)"/>).
/// </summary>
/// <remarks>
/// Byte counts are what a user sees: debug overhead (poisoning canaries) is subtracted, as
/// ESP-IDF does. Block counts are allocator blocks (TLSF physical blocks, sentinel excluded).
/// A process-heap (host) region has no fixed size: its free, largest-free and minimum-free
/// figures are <see cref="nuint.MaxValue"/> and <see cref="IsUnbounded"/> is true; print them as
/// "unbounded", never as a number.
/// </remarks>
/// <param name="TotalFreeBytes">Free bytes (<c>total_free_bytes</c>).</param>
/// <param name="TotalAllocatedBytes">Bytes in allocated blocks, usable size without overhead (<c>total_allocated_bytes</c>).</param>
/// <param name="LargestFreeBlock">The largest request guaranteed to succeed in one region (<c>largest_free_block</c>).</param>
/// <param name="MinimumFreeBytes">The sum of each region's lifetime low-watermark of free bytes (<c>minimum_free_bytes</c>).</param>
/// <param name="AllocatedBlocks">Blocks in use (<c>allocated_blocks</c>).</param>
/// <param name="FreeBlocks">Free blocks (<c>free_blocks</c>).</param>
/// <param name="TotalBlocks">All blocks (<c>total_blocks</c>).</param>
/// <param name="IsUnbounded">True when an unbounded (process heap) region is included, so free figures have no limit.</param>
public readonly record struct HeapInfo(
    nuint TotalFreeBytes,
    nuint TotalAllocatedBytes,
    nuint LargestFreeBlock,
    nuint MinimumFreeBytes,
    nuint AllocatedBlocks,
    nuint FreeBlocks,
    nuint TotalBlocks,
    bool IsUnbounded = false)
{
    /// <summary>Sums two infos as <c>heap_caps_get_info</c> does: sums, except the largest free block, which is the larger one.</summary>
    internal HeapInfo Combine(in HeapInfo other) => new(
        SaturatingAdd(TotalFreeBytes, other.TotalFreeBytes),
        TotalAllocatedBytes + other.TotalAllocatedBytes,
        LargestFreeBlock > other.LargestFreeBlock ? LargestFreeBlock : other.LargestFreeBlock,
        SaturatingAdd(MinimumFreeBytes, other.MinimumFreeBytes),
        AllocatedBlocks + other.AllocatedBlocks,
        FreeBlocks + other.FreeBlocks,
        TotalBlocks + other.TotalBlocks,
        IsUnbounded || other.IsUnbounded);

    internal static nuint SaturatingAdd(nuint a, nuint b) => a > nuint.MaxValue - b ? nuint.MaxValue : a + b;
}

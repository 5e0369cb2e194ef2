// Adding a region at run time: heap_caps_add_region_with_caps, with ESP-IDF's rules.
using MemTrace.Regions;

namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    /// <summary>
    /// Adds caller-owned memory as a new region (<c>heap_caps_add_region_with_caps</c>). The region goes to
    /// the head of the list, so requests its capabilities satisfy try it first, and its minimum-free
    /// watermark starts at 0, as for any heap added after startup.
    /// </summary>
    /// <param name="caps">The capabilities at priority 0, 1 and 2 (exactly three sets).</param>
    /// <param name="start">First byte of the memory; it must stay valid until the heap is disposed.</param>
    /// <param name="end">End of the memory, exclusive.</param>
    /// <returns>
    /// <see cref="HeapCapsResult.Ok"/>; <see cref="HeapCapsResult.InvalidArgument"/> for missing caps, a null start or an end
    /// not above the start; <see cref="HeapCapsResult.Fail"/> when the range equals an existing region or straddles
    /// its start or end (ranges that only touch, or lie strictly inside another region, are accepted, as in ESP-IDF);
    /// <see cref="HeapCapsResult.InvalidSize"/> when the memory cannot hold a heap.
    /// </returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public HeapCapsResult AddRegionWithCaps(ReadOnlySpan<MallocCaps> caps, void* start, void* end)
    {
        ThrowIfDisposed();
        if (caps.Length != HeapRegionLayout.PriorityCount || start is null || (nuint)end <= (nuint)start)
        {
            return HeapCapsResult.InvalidArgument;
        }

        var from = (nuint)start;
        var to = (nuint)end;
        lock (_regionLock)
        {
            var set = _set;
            foreach (var existing in set.ByAddress)
            {
                if (!IsAddRegionAllowed(existing.Start, existing.End, from, to))
                {
                    return HeapCapsResult.Fail;
                }
            }

            if (to - from < HeapLayoutBuilder.MinimumRegionSize)
            {
                return HeapCapsResult.InvalidSize;
            }

            Region region;
            try
            {
                region = Decorate(new TlsfRegion("runtime", caps[0], caps[1], caps[2], (byte*)start, to - from, _alignment, minimumStartsAtZero: true));
            }
            catch (ArgumentException)
            {
                return HeapCapsResult.InvalidSize;
            }
            catch (OutOfMemoryException)
            {
                return HeapCapsResult.NoMemory;
            }

            _set = new RegionSet([region, .. set.Ordered], [.. set.Numbered, region]);
            _debugRegions |= region.ChecksBlocks;
            if (_monitorSnapshots is not null)
            {
                _monitorSnapshots[region] = nuint.MaxValue;
            }
        }

        return HeapCapsResult.Ok;
    }

    /// <summary>
    /// ESP-IDF's heap_caps_check_add_region_allowed: a new range [start, end) may not equal an
    /// existing heap [heapStart, heapEnd) nor straddle its start or its end. Touching is fine, and
    /// so (as in ESP-IDF) is a range strictly inside an existing heap.
    /// </summary>
    internal static bool IsAddRegionAllowed(nuint heapStart, nuint heapEnd, nuint start, nuint end)
    {
        var equal = start == heapStart && end == heapEnd;
        var straddlesStart = start < heapStart && end > heapStart;
        var straddlesEnd = start < heapEnd && end > heapEnd;
        return !(equal || straddlesStart || straddlesEnd);
    }
}

// Adding a region at run time: heap_caps_add_region_with_caps, with ESP-IDF's rules
// (components/heap/heap_caps_init.c): the range checks of heap_caps_check_add_region_allowed, the
// region's heap_t descriptor allocated with heap_caps_malloc(sizeof(heap_t), INTERNAL|8BIT) before
// the heap is registered (ESP_ERR_NO_MEM when that fails; freed again when registration fails), and
// multi_heap_register's only size rule: room for the multi_heap header, the TLSF control structure
// and one block (ESP_ERR_INVALID_SIZE otherwise).
//
// heap_caps_add_region (caps looked up in the chip's soc_memory_regions table by the start
// address) is not modelled: layouts carry no chip addresses, since regions are native blocks at
// host addresses.
using MemTrace.Regions;

namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    /// <summary>
    /// sizeof(heap_t) on the chip: caps[3], start, end, the spinlock (owner, count), the multi_heap handle and the list
    /// link, 4 bytes each (components/heap/heap_private.h).
    /// </summary>
    internal const int RegionDescriptorSize = 36;

    /// <summary>
    /// Adds caller-owned memory as a new region (<c>heap_caps_add_region_with_caps</c>). The region goes to
    /// the head of the list, so requests its capabilities satisfy try it first, and its minimum-free
    /// watermark starts at 0, as for any heap added after startup (<c>esp_heap_caps.h</c>: heaps added at runtime
    /// "are not taken into account in the minimum free size calculation"). As on the chip, the region's
    /// descriptor (36 bytes, ESP-IDF's <c>heap_t</c>) is allocated from internal 8-bit memory and stays
    /// allocated for the heap's life; it is the heap's own bookkeeping, not shown to a tracker.
    /// </summary>
    /// <param name="caps">The capabilities at priority 0, 1 and 2 (exactly three sets).</param>
    /// <param name="start">First byte of the memory; it must stay valid until the heap is disposed.</param>
    /// <param name="end">End of the memory, exclusive.</param>
    /// <returns>
    /// <see cref="HeapCapsResult.Ok"/>; <see cref="HeapCapsResult.InvalidArgument"/> for missing caps, a null start or an end
    /// not above the start; <see cref="HeapCapsResult.Fail"/> when the range equals an existing region or straddles
    /// its start or end (ranges that only touch, or lie strictly inside another region, are accepted, as in ESP-IDF);
    /// <see cref="HeapCapsResult.NoMemory"/> when no internal 8-bit memory is left for the descriptor (the failure
    /// callback runs, as for ESP-IDF's <c>heap_caps_malloc</c> of it); <see cref="HeapCapsResult.InvalidSize"/> when the
    /// memory cannot hold a heap: too small for the multi_heap header, the TLSF control structure and one block (a few
    /// hundred bytes), or a start that is not 4-byte aligned.
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
        if (!IsAddRegionAllowed(_set, from, to))
        {
            return HeapCapsResult.Fail;
        }

        // As ESP-IDF: the descriptor is allocated with no lock of the region list held, since a failure runs the
        // failed-allocation callback, which may wait for another thread that adds a region or opens a monitor window.
        var descriptor = MallocTagged(AllocationMethod.Malloc, RegionDescriptorSize, MallocCaps.Internal | MallocCaps.Bit8, 0);
        if (descriptor is null)
        {
            return HeapCapsResult.NoMemory;
        }

        var result = HeapCapsResult.Ok;
        lock (_regionLock)
        {
            // Checked again: a region added by another thread since the check above may now hold the range.
            var set = _set;
            if (!IsAddRegionAllowed(set, from, to))
            {
                result = HeapCapsResult.Fail;
            }
            else
            {
                try
                {
                    var region = Decorate(new TlsfRegion("runtime", caps[0], caps[1], caps[2], (byte*)start, to - from, _alignment, minimumStartsAtZero: true));
                    _set = new RegionSet([region, .. set.Ordered], [.. set.Numbered, region]);
                    _debugRegions |= region.ChecksBlocks;
                    if (_monitorSnapshots is not null)
                    {
                        _monitorSnapshots[region] = nuint.MaxValue;
                    }
                }
                catch (ArgumentException)
                {
                    result = HeapCapsResult.InvalidSize;
                }
                catch (OutOfMemoryException)
                {
                    result = HeapCapsResult.NoMemory;
                }
            }
        }

        if (result != HeapCapsResult.Ok)
        {
            FreeTagged(descriptor, clearIfTagged: false, out _);
        }

        return result;
    }

    /// <summary>Whether [<paramref name="start"/>, <paramref name="end"/>) may be added beside every bounded region of <paramref name="set"/>.</summary>
    private static bool IsAddRegionAllowed(RegionSet set, nuint start, nuint end)
    {
        foreach (var existing in set.ByAddress)
        {
            if (!IsAddRegionAllowed(existing.Start, existing.End, start, end))
            {
                return false;
            }
        }

        return true;
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

// HeapCaps statistics: heap_caps_get_* and heap_caps_print_heap_info. A region matches a query
// when its capabilities include every requested bit (heap_caps_match); sums saturate at
// nuint.MaxValue when an unbounded (process heap) region is included.
using System.Globalization;
using System.Runtime.CompilerServices;
using MemTrace.Internals;

namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    /// <summary>Free bytes in all regions with <paramref name="caps"/> (<c>heap_caps_get_free_size</c>).</summary>
    /// <param name="caps">Capabilities; <see cref="MallocCaps.None"/> matches every region.</param>
    /// <returns>The sum; <see cref="nuint.MaxValue"/> when an unbounded region matches.</returns>
    public nuint GetFreeSize(MallocCaps caps) => Sum(caps, static r => r.FreeBytes);

    /// <summary>
    /// The sum of each matching region's lifetime low-watermark of free bytes (<c>heap_caps_get_minimum_free_size</c>); not
    /// one simultaneous minimum. As on the chip, a region added with <see cref="AddRegionWithCaps"/> counts 0 (its watermark
    /// starts at 0) until <see cref="MonitorLocalMinimumFreeSizeStart"/> resets the watermarks.
    /// </summary>
    /// <param name="caps">Capabilities.</param>
    /// <returns>The sum; <see cref="nuint.MaxValue"/> when an unbounded region matches.</returns>
    public nuint GetMinimumFreeSize(MallocCaps caps) => Sum(caps, static r => r.MinimumFreeBytes);

    /// <summary>The largest request guaranteed to succeed in one matching region (<c>heap_caps_get_largest_free_block</c>).</summary>
    /// <param name="caps">Capabilities.</param>
    /// <returns>The largest such block; <see cref="nuint.MaxValue"/> when an unbounded region matches.</returns>
    public nuint GetLargestFreeBlock(MallocCaps caps)
    {
        ThrowIfDisposed();
        nuint largest = 0;
        foreach (var region in _set.Ordered)
        {
            if (Matches(region.AllCaps, caps))
            {
                largest = Math.Max(largest, region.LargestFreeBlock);
            }
        }

        return largest;
    }

    /// <summary>Total bytes of matching regions, metadata included (<c>heap_caps_get_total_size</c>).</summary>
    /// <param name="caps">Capabilities.</param>
    /// <returns>The sum; <see cref="nuint.MaxValue"/> when an unbounded region matches.</returns>
    public nuint GetTotalSize(MallocCaps caps) => Sum(caps, static r => r.TotalSize);

    /// <summary>Statistics of all matching regions together (<c>heap_caps_get_info</c>).</summary>
    /// <param name="caps">Capabilities.</param>
    /// <returns>The combined statistics.</returns>
    public HeapInfo GetInfo(MallocCaps caps)
    {
        ThrowIfDisposed();
        var info = default(HeapInfo);
        foreach (var region in _set.Ordered)
        {
            if (Matches(region.AllCaps, caps))
            {
                info = info.Combine(region.GetInfo());
            }
        }

        return info;
    }

    /// <summary>
    /// Prints the statistics of every matching region and their totals in ESP-IDF's format
    /// (<c>heap_caps_print_heap_info</c>). Figures of an unbounded region print as <c>unbounded</c>.
    /// </summary>
    /// <param name="caps">Capabilities.</param>
    /// <param name="output">Where to write; null for <see cref="Console.Out"/>.</param>
    public void PrintHeapInfo(MallocCaps caps, TextWriter? output = null)
    {
        ThrowIfDisposed();
        output ??= Console.Out;
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Heap summary for capabilities 0x{(uint)caps:X8}:").AppendLine();
        var totals = default(HeapInfo);
        foreach (var region in _set.Ordered)
        {
            if (!Matches(region.AllCaps, caps))
            {
                continue;
            }

            var info = region.GetInfo();
            totals = totals.Combine(info);
            var start = region.IsUnbounded ? "(process heap)" : "0x" + region.Start.ToString("x8", CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture, $"  At {start} len {Bytes(region.TotalSize)} free {Bytes(info.TotalFreeBytes)} allocated {info.TotalAllocatedBytes} min_free {Bytes(info.MinimumFreeBytes)}").AppendLine();
            text.Append(CultureInfo.InvariantCulture, $"    largest_free_block {Bytes(info.LargestFreeBlock)} alloc_blocks {info.AllocatedBlocks} free_blocks {info.FreeBlocks} total_blocks {info.TotalBlocks}").AppendLine();
        }

        text.AppendLine("  Totals:");
        text.Append(CultureInfo.InvariantCulture, $"    free {Bytes(totals.TotalFreeBytes)} allocated {totals.TotalAllocatedBytes} min_free {Bytes(totals.MinimumFreeBytes)} largest_free_block {Bytes(totals.LargestFreeBlock)}").AppendLine();
        output.Write(text.ToString());
    }

    /// <summary>The id of the name of the region that holds <paramref name="ptr"/> (RegionNameRegistry), or 0: what heap events carry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int RegionNameIdOf(void* ptr) => FindRegion(ptr)?.NameId ?? 0;

    /// <summary>
    /// The number of the region that holds <paramref name="ptr"/>, or -1: an index that tells apart regions with the
    /// same name (an ESP32's two DRAM regions), stable for the heap's life: the layout's order, then regions added at
    /// run time in the order they were added (see <see cref="DescribeNumberedRegions"/>). O(regions) after the lookup.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int RegionNumberOf(void* ptr)
    {
        var region = FindRegion(ptr);
        var numbered = _set.Numbered; // A set read after FindRegion's holds every region of the one it read: sets only grow.
        for (var i = 0; i < numbered.Length; i++)
        {
            if (ReferenceEquals(numbered[i], region))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Every region by number (<see cref="RegionNumberOf"/>), with a label that tells apart regions with the same name:
    /// the name for the first of them, <c>name#2</c>, <c>name#3</c>, … for the next. Reads only what never changes, so
    /// it answers after the heap is disposed too.
    /// </summary>
    internal NumberedRegion[] DescribeNumberedRegions()
    {
        var numbered = _set.Numbered;
        var described = new NumberedRegion[numbered.Length];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < numbered.Length; i++)
        {
            var region = numbered[i];
            var count = seen[region.Name] = seen.GetValueOrDefault(region.Name) + 1;
            var label = count == 1 ? region.Name : string.Create(CultureInfo.InvariantCulture, $"{region.Name}#{count}");
            described[i] = new NumberedRegion(i, region.Name, label, region.AllCaps, region.IsUnbounded ? 0 : region.Start, region.TotalSize);
        }

        return described;
    }

    /// <summary>
    /// The free bytes of region number <paramref name="number"/> (<see cref="RegionNumberOf"/>): one heap's
    /// <c>multi_heap_free_size</c>, which no capability query isolates when regions share their capabilities.
    /// </summary>
    internal nuint FreeBytesOfRegion(int number) => _set.Numbered[number].FreeBytes;

    /// <summary>Every region's statistics now, in list order.</summary>
    internal IReadOnlyList<Diagnostics.RegionSnapshot> SnapshotRegions()
    {
        var regions = _set.Ordered;
        var snapshots = new Diagnostics.RegionSnapshot[regions.Length];
        for (var i = 0; i < regions.Length; i++)
        {
            var region = regions[i];
            snapshots[i] = new Diagnostics.RegionSnapshot(region.Name, region.AllCaps, region.TotalSize, region.FreeBytes, region.LargestFreeBlock, region.MinimumFreeBytes, region.IsUnbounded);
        }

        return snapshots;
    }

    /// <summary>Formats a byte figure, <c>unbounded</c> for <see cref="nuint.MaxValue"/>.</summary>
    internal static string Bytes(nuint value) => value == nuint.MaxValue ? "unbounded" : value.ToString(CultureInfo.InvariantCulture);

    private static bool Matches(MallocCaps regionCaps, MallocCaps caps) => (regionCaps & caps) == caps;

    private nuint Sum(MallocCaps caps, Func<Regions.Region, nuint> figure)
    {
        ThrowIfDisposed();
        nuint sum = 0;
        foreach (var region in _set.Ordered)
        {
            if (Matches(region.AllCaps, caps))
            {
                sum = HeapInfo.SaturatingAdd(sum, figure(region));
            }
        }

        return sum;
    }
}

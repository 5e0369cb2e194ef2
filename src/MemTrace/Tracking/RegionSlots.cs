// RegionSlots: which counter slot of a thread account a region's blocks are counted in, and what
// each slot stands for.
//
// A region is known by its number in the heap (HeapCaps.RegionNumberOf: the layout's order, then
// regions added at run time), not by its name, so regions that share a name (an ESP32 has two
// "DRAM" regions) have a slot each and read apart ("DRAM", "DRAM#2"), as ESP-IDF keeps statistics
// per heap. An account has MaxRegions slots; regions numbered past the last share it.
using MemTrace.Internals;

namespace MemTrace.Tracking;

internal static class RegionSlots
{
    /// <summary>The slot that regions numbered past the others share.</summary>
    public const int LastSlot = ThreadAccount.MaxRegions - 1;

    /// <summary>The slot of region number <paramref name="regionNumber"/> (-1, a block outside every region, goes to the last).</summary>
    public static int SlotOf(int regionNumber) => (uint)regionNumber < LastSlot ? regionNumber : LastSlot;

    /// <summary>What each slot in use stands for: its region's label, caps, start and size; the last slot, when several regions share it, all of theirs together.</summary>
    public static Slot[] Describe(IReadOnlyList<NumberedRegion> regions)
    {
        var slots = new Slot[Math.Min(regions.Count, ThreadAccount.MaxRegions)];
        for (var i = 0; i < slots.Length; i++)
        {
            var region = regions[i];
            slots[i] = new Slot(region.Name, region.Label, region.Caps, region.Start, region.TotalSize);
        }

        if (regions.Count > ThreadAccount.MaxRegions)
        {
            var shared = slots[LastSlot];
            for (var i = ThreadAccount.MaxRegions; i < regions.Count; i++)
            {
                shared = shared with { Caps = shared.Caps | regions[i].Caps, TotalSize = HeapInfo.SaturatingAdd(shared.TotalSize, regions[i].TotalSize) };
            }

            slots[LastSlot] = shared with { Name = "(other regions)", Label = "(other regions)" };
        }

        return slots;
    }

    /// <summary>What one slot stands for.</summary>
    public readonly record struct Slot(string Name, string Label, MallocCaps Caps, nuint Start, nuint TotalSize);
}

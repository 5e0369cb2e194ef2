// RegionSlots: small numbers for the regions a tracker's per-thread statistics count by.
//
// A region is known to the tracker by its name (HeapCaps hands out the name of the region that
// holds a block); regions of one layout that share a name (an ESP32 has two "DRAM" regions) share
// a slot, as their statistics read the same to a user. Slots are given out on first use, in that
// order; lookups compare references first (region names are the layout's string objects) and run
// only when per-thread statistics are on.
namespace MemTrace.Tracking;

internal sealed class RegionSlots
{
    private readonly Lock _lock = new();
    private string[] _names = [];
    private Entry[] _entries = [];

    /// <summary>The names of the slots given out so far, by slot.</summary>
    public IReadOnlyList<string> Names => Volatile.Read(ref _names);

    /// <summary>The slot of the region named <paramref name="name"/> (null: a block outside every region).</summary>
    public int SlotOf(string? name)
    {
        name ??= "(no region)";
        var entries = Volatile.Read(ref _entries);
        for (var i = 0; i < entries.Length; i++)
        {
            if (ReferenceEquals(entries[i].Name, name))
            {
                return entries[i].Slot;
            }
        }

        return SlotOfSlow(name);
    }

    /// <summary>A name not seen as this string object: find its slot by value, or give it a new one, and remember the object.</summary>
    private int SlotOfSlow(string name)
    {
        lock (_lock)
        {
            var slot = Array.IndexOf(_names, name);
            if (slot < 0)
            {
                if (_names.Length == ThreadAccount.MaxRegions)
                {
                    return ThreadAccount.MaxRegions - 1;
                }

                slot = _names.Length;
                Volatile.Write(ref _names, [.. _names, name]);
            }

            Volatile.Write(ref _entries, [.. _entries, new Entry(name, slot)]);
            return slot;
        }
    }

    private readonly record struct Entry(string Name, int Slot);
}

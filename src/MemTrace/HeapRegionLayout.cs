// HeapRegionLayout: one region of a memory map, as ESP-IDF's heap_t describes it: a name, a
// size and the capabilities it offers at each of three priorities.
using System.Collections.ObjectModel;

namespace MemTrace;

/// <summary>One region of a <see cref="HeapLayout"/>: its name, size, kind and capabilities per priority.</summary>
public sealed class HeapRegionLayout
{
    /// <summary>The number of capability priorities (ESP-IDF's <c>SOC_MEMORY_TYPE_NO_PRIOS</c>).</summary>
    public const int PriorityCount = 3;

    internal HeapRegionLayout(string name, HeapRegionKind kind, nuint size, MallocCaps caps0, MallocCaps caps1, MallocCaps caps2, bool addedAtRuntime = false)
    {
        Name = name;
        Kind = kind;
        Size = size;
        Caps = new ReadOnlyCollection<MallocCaps>([caps0, caps1, caps2]);
        AddedAtRuntime = addedAtRuntime;
    }

    /// <summary>The region's name, e.g. <c>DRAM</c>, <c>SPIRAM</c> or <c>host</c>.</summary>
    public string Name { get; }

    /// <summary>What backs the region.</summary>
    public HeapRegionKind Kind { get; }

    /// <summary>Size in bytes, metadata included; 0 for an unbounded (host) region.</summary>
    public nuint Size { get; }

    /// <summary>Capabilities at priority 0, 1 and 2. A request is tried in this region at the first priority that has one of its bits, provided all priorities together have all of them.</summary>
    public IReadOnlyList<MallocCaps> Caps { get; }

    /// <summary>
    /// True for a region the system adds with <c>heap_caps_add_region_with_caps</c> during startup, such as
    /// PSRAM: such regions sit at the head of the heap list, before the internal regions (which
    /// are sorted by ascending size), so a <see cref="MallocCaps.Default"/> request prefers them.
    /// </summary>
    public bool AddedAtRuntime { get; }

    /// <summary>All the region's capabilities together.</summary>
    public MallocCaps AllCaps => Caps[0] | Caps[1] | Caps[2];

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Kind}, {(Size == 0 ? "unbounded" : Size + " bytes")}, {AllCaps.ToCapsString()})";
}

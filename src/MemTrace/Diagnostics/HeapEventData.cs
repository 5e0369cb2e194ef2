// HeapEventData: the part of a HeapEvent that holds no reference — ids instead of strings and
// call sites, the time as UTC ticks — so that the tracker builds it with plain stores and the
// trace writer's ring copies it with no GC write barrier. HeapEvent adds the one reference
// (HeapEventDetails) that rare events and events built by user code need.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Diagnostics;

/// <summary>The reference-free fields of a <see cref="HeapEvent"/>: 80 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct HeapEventData
{
    /// <summary>See <see cref="HeapEvent.Sequence"/>.</summary>
    public long Sequence;

    /// <summary><see cref="HeapEvent.Time"/> as <see cref="DateTimeOffset.UtcTicks"/>.</summary>
    public long UtcTicks;

    public nuint Address;
    public nuint Size;
    public nuint PreviousAddress;
    public nuint PreviousSize;
    public long RequestNumber;

    /// <summary>The call site's id in the CallSiteRegistry (0: none).</summary>
    public uint Site;

    /// <summary>The allocation site's id in the CallSiteRegistry (0: none, <see cref="HeapEvent.AllocatedAt"/> is null).</summary>
    public uint AllocSite;

    public uint Caps;
    public int ThreadId;

    /// <summary>The region name's id in the <see cref="RegionNameRegistry"/> (0: none).</summary>
    public int Region;

    public HeapEventKind Kind;

    /// <summary>Writes every field: an allocation, free, realloc or failure as a tracker builds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(HeapEventKind kind, long sequence, long utcTicks, int threadId, nuint address, nuint size, uint caps, long requestNumber, uint site, uint allocSite, int region, nuint previousAddress, nuint previousSize)
    {
        Sequence = sequence;
        UtcTicks = utcTicks;
        Address = address;
        Size = size;
        PreviousAddress = previousAddress;
        PreviousSize = previousSize;
        RequestNumber = requestNumber;
        Site = site;
        AllocSite = allocSite;
        Caps = caps;
        ThreadId = threadId;
        Region = region;
        Kind = kind;
    }
}

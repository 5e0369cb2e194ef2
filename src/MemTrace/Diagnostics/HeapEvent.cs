// HeapEvent: one thing that happened on a tracked heap, in one immutable shape for every sink.
//
// Compact, because the tracker builds one per allocation and free on the allocating thread and
// the trace writer copies it into its ring: 88 bytes with a single reference. Call sites and the
// region are interned ids (CallSiteRegistry, RegionNameRegistry), the time is UTC ticks from the
// tracker's coarse clock, and everything rare — a memory error, a checkpoint's label and region
// statistics — sits behind the one reference (HeapEventDetails). The public properties compute
// the rich values from the ids, so sinks read Site, RegionName and Time as before.
//
// Events built by user code (or read from a trace) through the init setters keep their call
// sites and region name in the details, never in the process-wide registries: a trace with any
// number of distinct sites cannot fill the registries that the tracker's own sites need. Setting
// such a property allocates the details (copied on each set, so that `with` never changes the
// event it copies).
using System.Runtime.CompilerServices;
using MemTrace.Tracking;

namespace MemTrace.Diagnostics;

/// <summary>
/// One event of a tracked heap: an allocation, free, realloc, failed request, memory error,
/// checkpoint or statistics snapshot. Which fields are set depends on <see cref="Kind"/>.
/// </summary>
/// <remarks>
/// A tracker builds events without allocating: call sites and the region are stored as interned ids
/// and resolved when a property is read (reading <see cref="Site"/> copies a <see cref="CallSite"/>;
/// keep the event rather than the resolved values if that matters). Setting <see cref="Site"/>,
/// <see cref="AllocatedAt"/>, <see cref="RegionName"/>, <see cref="Error"/>, <see cref="Label"/>,
/// <see cref="Regions"/>, <see cref="LiveBlocks"/> or <see cref="LiveBytes"/> in an initializer allocates
/// a small object that holds them.
/// </remarks>
public readonly struct HeapEvent
{
    private readonly HeapEventData _data;
    private readonly HeapEventDetails? _details;

    internal HeapEvent(in HeapEventData data, HeapEventDetails? details)
    {
        _data = data;
        _details = details;
    }

    /// <summary>An allocation, free, realloc or failure as a tracker builds it: every field written once, in place, no details.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal HeapEvent(HeapEventKind kind, long sequence, long utcTicks, int threadId, nuint address, nuint size, uint caps, long requestNumber, uint site, uint allocSite, int region, nuint previousAddress = 0, nuint previousSize = 0)
    {
        _data.Set(kind, sequence, utcTicks, threadId, address, size, caps, requestNumber, site, allocSite, region, previousAddress, previousSize);
        _details = null;
    }

    /// <summary>What happened.</summary>
    public HeapEventKind Kind
    {
        get => _data.Kind;
        init => _data.Kind = value;
    }

    /// <summary>
    /// 1, 2, 3, … per tracker: unique, and ordered as the events happened wherever one happened before
    /// another: on one thread; a free on one thread of a block allocated on another (an allocation is
    /// numbered once the heap has handed out its block); a block freed on one thread and allocated again
    /// on another (a free is numbered before the heap releases its block). One exception: a realloc that
    /// moves its block is numbered after the move (the host heap's realloc moves inside the C library,
    /// with no moment between taking the new block and releasing the old one), so an allocation of the
    /// old address on another thread may carry a smaller number. Events reach a sink after their heap
    /// call, so a sink may get a free after that re-allocation; sort by this number for the order in
    /// which blocks changed hands (see <see cref="TraceFileWriter"/> for a trace file's order).
    /// A periodic snapshot takes its number before the event that triggered it.
    /// </summary>
    public long Sequence
    {
        get => _data.Sequence;
        init => _data.Sequence = value;
    }

    /// <summary>
    /// When the event was emitted, in UTC. A tracker reads its coarse clock (one memory load): whole
    /// milliseconds, refreshed about every 4 ms, so events close together often share a time —
    /// <see cref="Sequence"/> orders them. A time set by user code is kept to the tick, in UTC.
    /// </summary>
    public DateTimeOffset Time
    {
        get => new(_data.UtcTicks, TimeSpan.Zero);
        init => _data.UtcTicks = value.UtcTicks;
    }

    /// <summary>Managed id of the thread that emitted the event.</summary>
    public int ThreadId
    {
        get => _data.ThreadId;
        init => _data.ThreadId = value;
    }

    /// <summary>The block's address (for a realloc, the new address); 0 for a failed request.</summary>
    public nuint Address
    {
        get => _data.Address;
        init => _data.Address = value;
    }

    /// <summary>The requested size (for a free, the size of the freed block; for a realloc, the new size).</summary>
    public nuint Size
    {
        get => _data.Size;
        init => _data.Size = value;
    }

    /// <summary>For a realloc, the block's address before it.</summary>
    public nuint PreviousAddress
    {
        get => _data.PreviousAddress;
        init => _data.PreviousAddress = value;
    }

    /// <summary>For a realloc, the block's size before it.</summary>
    public nuint PreviousSize
    {
        get => _data.PreviousSize;
        init => _data.PreviousSize = value;
    }

    /// <summary>The requested capabilities.</summary>
    public MallocCaps Caps
    {
        get => (MallocCaps)_data.Caps;
        init => _data.Caps = (uint)value;
    }

    /// <summary>The block's request number (0 when none).</summary>
    public long RequestNumber
    {
        get => _data.RequestNumber;
        init => _data.RequestNumber = value;
    }

    /// <summary>Where the operation was called (for a free, the free's site).</summary>
    public CallSite Site
    {
        get => _details is { } details ? details.Site : CallSiteRegistry.Get(_data.Site);
        init
        {
            var details = Detailed();
            details.Site = value;
            _details = details;
        }
    }

    /// <summary>For a free or realloc, where the block was allocated.</summary>
    public CallSite? AllocatedAt
    {
        get => _details is { } details ? details.AllocatedAt : _data.AllocSite != 0 ? CallSiteRegistry.Get(_data.AllocSite) : null;
        init
        {
            var details = Detailed();
            details.AllocatedAt = value;
            _details = details;
        }
    }

    /// <summary>The region that holds the block, when there is one.</summary>
    public string? RegionName
    {
        get => _details is { } details ? details.RegionName : RegionNameRegistry.Get(_data.Region);
        init
        {
            var details = Detailed();
            details.RegionName = value;
            _details = details;
        }
    }

    /// <summary>For <see cref="HeapEventKind.MemoryError"/>, the report.</summary>
    public MemoryError? Error
    {
        get => _details?.Error;
        init
        {
            var details = Detailed();
            details.Error = value;
            _details = details;
        }
    }

    /// <summary>For <see cref="HeapEventKind.Checkpoint"/>, its name.</summary>
    public string? Label
    {
        get => _details?.Label;
        init
        {
            var details = Detailed();
            details.Label = value;
            _details = details;
        }
    }

    /// <summary>For <see cref="HeapEventKind.Snapshot"/> (and checkpoints), every region's statistics.</summary>
    public IReadOnlyList<RegionSnapshot>? Regions
    {
        get => _details?.Regions;
        init
        {
            var details = Detailed();
            details.Regions = value;
            _details = details;
        }
    }

    /// <summary>For a checkpoint or snapshot, the live blocks the tracker held when the event was emitted (0 for other kinds).</summary>
    public long LiveBlocks
    {
        get => _details?.LiveBlocks ?? 0;
        init
        {
            var details = Detailed();
            details.LiveBlocks = value;
            _details = details;
        }
    }

    /// <summary>For a checkpoint or snapshot, the requested bytes of the live blocks the tracker held when the event was emitted (0 for other kinds).</summary>
    public long LiveBytes
    {
        get => _details?.LiveBytes ?? 0;
        init
        {
            var details = Detailed();
            details.LiveBytes = value;
            _details = details;
        }
    }

    /// <summary>The call site's id in the CallSiteRegistry, for events a tracker builds (0: none).</summary>
    internal uint SiteId
    {
        get => _data.Site;
        init => _data.Site = value;
    }

    /// <summary>The allocation site's id in the CallSiteRegistry (0: none).</summary>
    internal uint AllocSiteId
    {
        get => _data.AllocSite;
        init => _data.AllocSite = value;
    }

    /// <summary>The region name's id in the RegionNameRegistry (0: none).</summary>
    internal int RegionId
    {
        get => _data.Region;
        init => _data.Region = value;
    }

    /// <summary><see cref="Time"/> as UTC ticks.</summary>
    internal long UtcTicks
    {
        get => _data.UtcTicks;
        init => _data.UtcTicks = value;
    }

    /// <summary>The rare and user-supplied fields, or null when the ids say everything; when set, every rich property reads from it.</summary>
    internal HeapEventDetails? Details
    {
        get => _details;
        init => _details = value;
    }

    /// <summary>The reference-free fields (ids, not values), for the trace writer.</summary>
    internal static ref readonly HeapEventData DataOf(ref readonly HeapEvent heapEvent) => ref heapEvent._data;

    /// <summary>A fresh copy of the details, holding the values the ids resolve to when there were none.</summary>
    private HeapEventDetails Detailed()
    {
        if (_details is { } details)
        {
            return details.Copy();
        }

        return new HeapEventDetails
        {
            Site = CallSiteRegistry.Get(_data.Site),
            AllocatedAt = _data.AllocSite != 0 ? CallSiteRegistry.Get(_data.AllocSite) : null,
            RegionName = RegionNameRegistry.Get(_data.Region),
        };
    }
}

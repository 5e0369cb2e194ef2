// TrackerThreadCell: one thread's share of a tracker: a ring of free record handles, a block
// of request numbers, counters, and the mark that says the thread is inside a record. Only its
// thread writes it, except that the tracker may take the handles of a cell whose thread has
// ended, and any thread may read the counters and the mark.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using MemTrace.Diagnostics.Sinks;
using MemTrace.Internals;

namespace MemTrace.Tracking;

internal sealed class TrackerThreadCell(object owner) : ThreadCell(owner)
{
    /// <summary>Ring capacity. A freed record stays intact (for double-free reports) until its handle comes round again.</summary>
    public const int RingSize = 256;

    /// <summary>Request numbers are drawn from the tracker's counter in blocks of this many.</summary>
    public const int RequestBlock = 64;

    private const int Mask = RingSize - 1;

    private readonly uint[] _ring = new uint[RingSize];
    private int _head;

    /// <summary>Free handles in the ring; oldest (first to reuse) at the head.</summary>
    public int Count;

    public long NextRequest;
    public long RequestEnd;

    // Counters written by this thread only; a free on another thread counts there. They only grow, so that a sum
    // read while other threads work never counts a free without its allocation (see MemoryTracker.ReadTotals):
    // live figures are allocated less freed. A realloc adds its growth to AllocatedBytes or its shrinkage to FreedBytes.
    public long AllocatedBytes;
    public long FreedBytes;
    public long Allocations;
    public long Frees;

    /// <summary>The thread's account of per-thread statistics; null when they are off.</summary>
    public ThreadAccount? Account;

    /// <summary>
    /// Non-zero while the thread reads or writes a record of the tracker's store (one plain store on
    /// entry and one on exit); the tracker's Dispose waits until it is 0 before it frees the store.
    /// </summary>
    public int Busy;

    /// <summary>True while the thread runs the tracker's allocation hook: the hook's own requests are not shown to it again.</summary>
    public bool InHook;

    /// <summary>
    /// This thread's ring of the tracker's trace writer, once an event went there (null until then): the tracker looks
    /// its cell up on every operation anyway, so the writer's own thread-static look-up is saved on every event.
    /// </summary>
    public EventRing? TraceRing;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Pop()
    {
        Debug.Assert(Count > 0, "Pop from an empty ring.");
        var handle = _ring[_head];
        _head = (_head + 1) & Mask;
        Count--;
        return handle;
    }

    /// <summary>Adds a just-freed handle at the tail (reused last). The ring must not be full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(uint handle)
    {
        Debug.Assert(Count < RingSize, "Push onto a full ring: spill first.");
        _ring[(_head + Count) & Mask] = handle;
        Count++;
    }

    /// <summary>
    /// Puts back a handle that was taken but not used (reused first). The ring must not be full: a
    /// failure callback may have freed blocks on this thread since the handle was taken, so callers
    /// spill first when it is (MemoryTracker.ReturnUnused).
    /// </summary>
    public void PushFront(uint handle)
    {
        Debug.Assert(Count < RingSize, "PushFront onto a full ring: spill first.");
        _head = (_head - 1) & Mask;
        _ring[_head] = handle;
        Count++;
    }
}

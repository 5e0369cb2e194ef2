// EventRingMerge: how the trace writer drains its per-thread rings, in sequence order.
//
// Each ring holds its thread's events in the order the thread emitted them, which for a
// tracker's events is increasing sequence order (a thread numbers an event, then emits it); the
// numbers are a total order across threads (one interlocked increment). A drain merges the rings
// by sequence number: a binary heap of the rings with events, keyed by (number at the head,
// ring's index), and no heap work while only one ring has events. Only heads are ever taken, so
// a ring's events come out in its own order whatever their numbers: events built by user code
// with the number 0, or equal numbers, are neither lost nor duplicated; ties go to the ring
// registered first.
//
// Which events a drain takes: it reads every ring's tail twice, one pass after the other (Limit,
// then Visible). Whatever happened before an event within the first snapshot is within the
// second: the acquire load that saw the event's tail synchronizes with its publication, so an
// event that another thread published earlier (before handing over, say, the block it
// allocated) is seen by every later load of its ring's tail. The merge takes the events within
// Visible in sequence order and stops at the first one beyond its ring's Limit; so what it takes
// is closed under happened-before, and a free on one thread is never written before the
// allocation on another that it follows. The events after the stop wait for the next drain,
// whose first snapshot holds them. What can still come out of sequence order: two events
// numbered concurrently on two threads, the smaller published just after its ring's tail was
// read and the larger before its own ring's was (a race at the boundary between two drains,
// between events neither of which happened before the other).
//
// Stopping must not hold a ring back forever: with numbers that do not increase across threads
// (two trackers sharing a writer, user events) a ring's events could wait behind another's drain
// after drain. So events within the previous drain's first snapshot (overdue) are never held
// again: while any remain, a ring whose head is beyond its Limit leaves this drain instead of
// stopping it. Overdue events were published before the previous drain, so what happened before
// them is within this drain's first snapshot, with smaller numbers, and comes out first.
//
// The last drain before the end (final) takes everything visible: nothing after it is written.
// Writer thread only, like the rings' consumer side.
namespace MemTrace.Diagnostics.Sinks;

internal sealed class EventRingMerge
{
    private Entry[] _heap = [];
    private int _count;
    private int _used;
    private long _overdue;
    private EventRing[] _rings = [];

    /// <summary>Events taken since the merge was created.</summary>
    public long Taken { get; private set; }

    /// <summary>Starts a drain: both snapshots of every ring's tail.</summary>
    /// <param name="rings">The rings, in registration order (the order of ties).</param>
    /// <param name="final">Take every visible event (the last drain before the end).</param>
    public void Begin(EventRing[] rings, bool final)
    {
        SnapshotFirst(rings);
        SnapshotSecond(rings, final);
    }

    /// <summary>The first pass of <see cref="Begin"/>: what this drain may take.</summary>
    public void SnapshotFirst(EventRing[] rings)
    {
        foreach (var ring in rings)
        {
            ring.Overdue = ring.Limit;
            ring.Limit = ring.Tail;
        }
    }

    /// <summary>The second pass of <see cref="Begin"/>: what this drain sees; builds the heap.</summary>
    public void SnapshotSecond(EventRing[] rings, bool final)
    {
        _rings = rings;
        if (_heap.Length < rings.Length)
        {
            _heap = new Entry[Math.Max(rings.Length, _heap.Length * 2)];
        }

        _count = 0;
        _overdue = 0;
        for (var i = 0; i < rings.Length; i++)
        {
            var ring = rings[i];
            var visible = ring.Tail;
            ring.Visible = visible;
            if (final)
            {
                ring.Limit = visible;
            }

            var head = ring.Head;
            if (head < ring.Overdue)
            {
                _overdue += ring.Overdue - head;
            }

            if (head < visible)
            {
                _heap[_count++] = new Entry(ring.HeadSequence, i, ring);
            }
        }

        _used = _count;
        for (var i = (_count / 2) - 1; i >= 0; i--)
        {
            SiftDown(i);
        }
    }

    /// <summary>The next event in merge order, released from its ring; false when this drain has no more.</summary>
    public bool TryTake(out HeapEvent heapEvent)
    {
        while (_count > 0)
        {
            ref var top = ref _heap[0];
            var ring = top.Ring;
            var head = ring.Head;
            if (head >= ring.Limit)
            {
                // Beyond the first snapshot: what happened before it may not be visible yet.
                if (_overdue == 0)
                {
                    _count = 0;
                    break;
                }

                RemoveTop();
                continue;
            }

            if (head < ring.Overdue)
            {
                _overdue--;
            }

            heapEvent = ring.Take();
            Taken++;
            if (head + 1 == ring.Visible)
            {
                RemoveTop();
            }
            else if (_count > 1)
            {
                top.Sequence = ring.HeadSequence;
                SiftDown(0);
            }

            return true;
        }

        heapEvent = default;
        return false;
    }

    /// <summary>Ends the drain: publishes the rings' heads to their producers and forgets the rings.</summary>
    public void End()
    {
        foreach (var ring in _rings)
        {
            ring.PublishHead();
        }

        Array.Clear(_heap, 0, _used);
        _count = 0;
        _used = 0;
        _rings = [];
    }

    private void RemoveTop()
    {
        _count--;
        _heap[0] = _heap[_count];
        _heap[_count] = default;
        SiftDown(0);
    }

    private void SiftDown(int i)
    {
        var heap = _heap;
        var count = _count;
        var item = heap[i];
        while (true)
        {
            var child = (2 * i) + 1;
            if (child >= count)
            {
                break;
            }

            if (child + 1 < count && Before(in heap[child + 1], in heap[child]))
            {
                child++;
            }

            if (!Before(in heap[child], in item))
            {
                break;
            }

            heap[i] = heap[child];
            i = child;
        }

        heap[i] = item;
    }

    private static bool Before(in Entry a, in Entry b) => a.Sequence < b.Sequence || (a.Sequence == b.Sequence && a.Index < b.Index);

    /// <summary>A ring in the heap: the number of its head event and its index (the order of ties).</summary>
    private struct Entry(long sequence, int index, EventRing ring)
    {
        public long Sequence = sequence;
        public readonly int Index = index;
        public readonly EventRing Ring = ring;
    }
}

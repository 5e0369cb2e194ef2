// ThreadRings: the rings of one trace writer, one per thread that emits to it (EventRing).
//
// A thread finds its ring through one thread-static field that remembers the last ring the thread
// used, tagged with its writer's token, so a thread that emits to one writer pays a load and a
// compare. A thread's first event, or a switch between two writers,
// looks the ring up (or allocates it) under a lock and adds it to a copy-on-write array, which
// the writer's thread reads without a lock. The thread-static refers to the ring and the ring to
// the token, never to the writer: a thread keeps at most the ring of the last writer it emitted
// to, not the writer.
//
// A ring's memory is allocated on its thread's first event. If it cannot be (OutOfMemory), the
// thread gets a ring that refuses every event, so the event is counted as dropped and Emit still
// throws nothing; that thread's events to that writer are dropped from then on.
//
// The rings of threads that have ended are dropped by the writer's thread once empty: an ended
// thread publishes nothing more, so no event is lost. The tails and drop counts of dropped rings
// are kept as sums, so that the totals of events ever enqueued (what Flush waits for) and ever
// dropped never go back.
using System.Runtime.CompilerServices;

namespace MemTrace.Diagnostics.Sinks;

internal sealed class ThreadRings
{
    [ThreadStatic]
    private static EventRing? t_ring;

    private readonly Lock _lock = new();

    /// <summary>Identifies this set's rings; rings refer to it rather than to the set, so a thread-static never keeps a writer alive.</summary>
    private readonly object _token = new();

    /// <summary>Given to a thread whose ring could not be allocated; allocated up front, as that happens when memory is short.</summary>
    private readonly EventRing _refusing;

    private readonly int _capacity;
    private EventRing[] _rings = [];
    private long _retiredTail;
    private long _retiredDropped;

    /// <summary>Rings of <paramref name="capacity"/> events each.</summary>
    public ThreadRings(int capacity)
    {
        _capacity = capacity;
        _refusing = EventRing.Refusing(_token);
    }

    /// <summary>The rings, in the order their threads first emitted. Read without a lock; replaced, never changed.</summary>
    public EventRing[] All => Volatile.Read(ref _rings);

    /// <summary>Events ever enqueued into this set's rings, dropped rings included.</summary>
    public long Enqueued => Sum(drops: false);

    /// <summary>Events dropped because a thread's ring was full (or could not be allocated), dropped rings included.</summary>
    public long Dropped => Sum(drops: true);

    /// <summary>The calling thread's ring, allocated on its first event.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EventRing OfThisThread()
    {
        var ring = t_ring;
        if (ring is null || !ReferenceEquals(ring.Token, _token))
        {
            ring = RingOfThisThread();
        }

        return ring;
    }

    /// <summary>Whether <paramref name="ring"/> is one of this set's rings.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Owns(EventRing ring) => ReferenceEquals(ring.Token, _token);

    /// <summary>
    /// The ring the calling thread used last, when it belongs to this set; null otherwise. Allocates nothing: for a
    /// question about the thread's ring (is it full?) that must not give a thread that emits nothing a ring.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EventRing? CurrentOfThisThread()
    {
        var ring = t_ring;
        return ring is not null && ReferenceEquals(ring.Token, _token) ? ring : null;
    }

    /// <summary>Drops the rings of threads that have ended once they are empty. The consumer's thread only.</summary>
    /// <returns>How many rings were dropped.</returns>
    public int DropEnded()
    {
        var ended = 0;
        foreach (var ring in All)
        {
            if (EndedAndEmpty(ring))
            {
                ended++;
            }
        }

        if (ended == 0)
        {
            return 0;
        }

        lock (_lock)
        {
            var kept = new List<EventRing>(_rings.Length);
            foreach (var ring in _rings)
            {
                if (EndedAndEmpty(ring))
                {
                    _retiredTail += ring.Tail;
                    _retiredDropped += ring.Dropped;
                }
                else
                {
                    kept.Add(ring);
                }
            }

            var dropped = _rings.Length - kept.Count;
            Volatile.Write(ref _rings, [.. kept]);
            return dropped;
        }
    }

    /// <summary>
    /// The tails (events enqueued) or drop counts of every ring, retired ones included, read under the lock so that a
    /// ring being retired is counted once.
    /// </summary>
    private long Sum(bool drops)
    {
        lock (_lock)
        {
            var total = drops ? _retiredDropped + _refusing.Dropped : _retiredTail;
            foreach (var ring in _rings)
            {
                total += drops ? ring.Dropped : ring.Tail;
            }

            return total;
        }
    }

    private static bool EndedAndEmpty(EventRing ring)
    {
        // Ended: the thread was collected, or it no longer runs. Its last publication happened before it
        // ended; the barrier keeps the tail's load after the load that saw the end.
        if (ring.Owner.Target is Thread { IsAlive: true })
        {
            return false;
        }

        Interlocked.MemoryBarrier();
        return ring.Head == ring.Tail;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private EventRing RingOfThisThread()
    {
        var thread = Thread.CurrentThread;
        lock (_lock)
        {
            foreach (var ring in _rings)
            {
                if (ReferenceEquals(ring.Owner.Target, thread))
                {
                    return t_ring = ring;
                }
            }

            try
            {
                var created = new EventRing(_capacity, _token, thread);
                Volatile.Write(ref _rings, [.. _rings, created]);
                return t_ring = created;
            }
            catch (OutOfMemoryException)
            {
                SelfLog.WriteLine("MemTrace: no memory for a thread's trace ring; that thread's events to the trace are dropped and counted.");
                return t_ring = _refusing;
            }
        }
    }
}

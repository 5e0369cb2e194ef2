// EventRing: the bounded buffer between one emitting thread and the trace writer's thread. One
// producer, one consumer: each thread that emits to a trace writer gets a ring of its own
// (ThreadRings), so a producer never contends with another.
//
// The producer alone writes the tail, so claiming a slot needs no CAS: it copies the event's
// reference-free part (HeapEventData, 80 bytes) into the slot with plain stores (no GC write
// barrier), stores the event's one reference (set only on rare events) into a parallel array
// only when it is not null, and publishes with a release store of the tail. The consumer reads
// the tail with an acquire load, so everything before it is visible to it: no per-slot stamp,
// no interlocked operation anywhere on the producer's path.
//
// Whether the ring has room is decided from the head, never from the slots: the producer keeps
// a cached copy of the head beside the tail and reads the consumer's published head only when
// the cached one says full; the consumer publishes its head every PublishEvery releases (and at
// the end of each drain), so a producer polling a full ring reads a cache line that rarely
// changes instead of one the consumer writes on every event. The producer's fields, the
// published head and the consumer's own fields are on separate cache lines (Positions), so
// neither side's stores take a line the other side reads all the time. The consumer clears only
// the references it finds set.
//
// Taking the slots' cache lines a block at a time: the slots the producer fills were last read by
// the consumer, so each of their cache lines is in the consumer's cache, and the producer's first
// store to a line must take it from there. Stores leave the core in order, so with one event at a
// time the producer waits out one such transfer after another. At the first slot of each block of
// OwnAhead slots, when the whole block is free, the producer zeroes it in one go: the transfers
// of the block's 40 lines overlap. On the two vCPUs of the benchmark machine this is what decides
// the cost of a traced pair when the hypervisor places them far apart (a cache-line round trip of
// about 520 ns instead of 105): a pair in drop mode took about 300 ns there, and now takes 80 to
// 95 (docs/benchmarks.md). Zeroing touches only slots the consumer has released, never one it
// may still read.
//
// The ring also counts the events its producer dropped because it was full (drop mode), on the
// producer's own line with plain stores: the thread that already holds its ring pays no second
// look-up and no interlocked operation to count a drop. The refusing ring (capacity 0), shared by
// the threads whose ring could not be allocated, counts with an interlocked increment.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Diagnostics.Sinks;

internal sealed class EventRing
{
    /// <summary>The consumer publishes its head at least this often (in released events).</summary>
    public const int PublishEvery = 64;

    /// <summary>The producer takes the slots' cache lines this many slots at a time (see <see cref="TakeOwnership"/>).</summary>
    public const int OwnAhead = 32;

    private readonly HeapEventData[] _slots;
    private readonly HeapEventDetails?[] _details;
    private readonly long _mask;
    private readonly long _capacity;
    private Positions _positions;

    /// <summary>A ring of at least <paramref name="capacity"/> events (a power of two, at least 16).</summary>
    /// <param name="capacity">Events the ring holds.</param>
    /// <param name="token">Identifies the ring set the ring belongs to (see <see cref="ThreadRings"/>).</param>
    /// <param name="owner">The thread that produces into the ring; null for a ring with no owner.</param>
    public EventRing(int capacity, object? token = null, Thread? owner = null)
    {
        var size = SizeFor(capacity);
        _slots = new HeapEventData[size];
        _details = new HeapEventDetails?[size];
        _mask = size - 1;
        _capacity = size;
        Token = token;
        Owner = new WeakReference(owner);
    }

    private EventRing(object token)
    {
        // Capacity 0: every enqueue finds the ring full.
        _slots = [];
        _details = [];
        Token = token;
        Owner = new WeakReference(null);
    }

    /// <summary>Identifies the ring set (the trace writer) the ring belongs to; a thread-static that remembers the ring never keeps the writer alive.</summary>
    public object? Token { get; }

    /// <summary>The producing thread; not alive once the thread has ended and been collected.</summary>
    public WeakReference Owner { get; }

    /// <summary>Events the ring holds; 0 for a ring that refuses every event.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Events published and not yet released, as the producer can tell (the head as last published).</summary>
    public long Count => Volatile.Read(ref _positions.Tail) - Volatile.Read(ref _positions.Head);

    /// <summary>Events the producer dropped because the ring was full (see <see cref="CountDrop"/>); any thread may read it.</summary>
    public long Dropped => Volatile.Read(ref _positions.Dropped);

    /// <summary>Events published so far (an acquire load: the events before it are visible to the reader).</summary>
    public long Tail => Volatile.Read(ref _positions.Tail);

    /// <summary>Events released by the consumer so far. Consumer only.</summary>
    public long Head => _positions.ConsumerHead;

    /// <summary>The consumer's first snapshot of the tail in the current drain (see <see cref="EventRingMerge"/>). Consumer only.</summary>
    public long Limit
    {
        get => _positions.Limit;
        set => _positions.Limit = value;
    }

    /// <summary>The consumer's second snapshot of the tail in the current drain. Consumer only.</summary>
    public long Visible
    {
        get => _positions.Visible;
        set => _positions.Visible = value;
    }

    /// <summary>The first snapshot of the previous drain: events before it are overdue. Consumer only.</summary>
    public long Overdue
    {
        get => _positions.Overdue;
        set => _positions.Overdue = value;
    }

    /// <summary>The number of slots of a ring asked to hold <paramref name="capacity"/> events: a power of two, at least 16.</summary>
    public static int SizeFor(int capacity) => (int)Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, capacity)));

    /// <summary>A ring that refuses every event, for a thread whose ring could not be allocated.</summary>
    public static EventRing Refusing(object token) => new(token);

    /// <summary>Copies the event into the next free slot and publishes it; false when the ring is full. Producer only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(in HeapEvent heapEvent)
    {
        ref var slot = ref TryClaim(out var tail);
        if (Unsafe.IsNullRef(ref slot))
        {
            return false;
        }

        slot = HeapEvent.DataOf(in heapEvent);
        SetDetails(tail, heapEvent.Details);
        Publish(tail);
        return true;
    }

    /// <summary>Stores the one reference of the event claimed at <paramref name="tail"/>, if it has one (the consumer leaves a released slot's null). Producer only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetDetails(long tail, HeapEventDetails? details)
    {
        if (details is not null)
        {
            _details[(int)(tail & _mask)] = details;
        }
    }

    /// <summary>
    /// The next free slot, for the producer to fill in place and then <see cref="Publish"/>; a null reference when the
    /// ring is full. <paramref name="tail"/> is the slot's position. Every field of the slot must be written: it holds
    /// an older event. Producer only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref HeapEventData TryClaim(out long tail)
    {
        tail = _positions.Tail; // Only this thread writes it.
        if (IsFullAt(tail))
        {
            return ref Unsafe.NullRef<HeapEventData>();
        }

        ref var slot = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_slots), (nint)(tail & _mask));
        if ((tail & (OwnAhead - 1)) == 0)
        {
            TakeOwnership(ref slot, tail);
        }

        return ref slot;
    }

    /// <summary>
    /// At the first slot of each block of <see cref="OwnAhead"/>, when the whole block is free: zeroes it, so that the
    /// producer takes the block's cache lines from the consumer's cache all at once instead of one event at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TakeOwnership(ref HeapEventData first, long tail)
    {
        // The block is free when its last slot is: otherwise part of it is still the consumer's, and its events are
        // written one at a time. A power-of-two capacity below OwnAhead never passes (the block would run past the end).
        if (!IsFullAt(tail + OwnAhead - 1))
        {
            Unsafe.InitBlockUnaligned(ref Unsafe.As<HeapEventData, byte>(ref first), 0, (uint)(OwnAhead * Unsafe.SizeOf<HeapEventData>()));
        }
    }

    /// <summary>Whether <see cref="TryClaim"/> would find the ring full now. Producer only.</summary>
    public bool IsFull
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => IsFullAt(_positions.Tail);
    }

    /// <summary>Publishes the slot claimed at <paramref name="tail"/> by <see cref="TryClaim"/>. Producer only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Publish(long tail) => Volatile.Write(ref _positions.Tail, tail + 1);

    /// <summary>Counts one event dropped by the producer. Producer only; any thread for the refusing ring, which is shared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountDrop()
    {
        ref var positions = ref _positions;
        if (_capacity != 0)
        {
            Volatile.Write(ref positions.Dropped, positions.Dropped + 1); // Only this thread writes it.
        }
        else
        {
            Interlocked.Increment(ref positions.Dropped);
        }
    }

    /// <summary>The sequence number of the event at the head; the caller knows one is there. Consumer only.</summary>
    public long HeadSequence => _slots[(int)(_positions.ConsumerHead & _mask)].Sequence;

    /// <summary>Copies out the event at the head and releases its slot; the caller knows one is there. Consumer only.</summary>
    public HeapEvent Take()
    {
        var head = _positions.ConsumerHead;
        var index = (int)(head & _mask);
        var details = _details[index];
        var heapEvent = new HeapEvent(in _slots[index], details);
        if (details is not null)
        {
            _details[index] = null;
        }

        _positions.ConsumerHead = ++head;
        if ((head & (PublishEvery - 1)) == 0)
        {
            PublishHead();
        }

        return heapEvent;
    }

    /// <summary>The oldest published event (a copy); false when none is ready. Consumer only.</summary>
    public bool TryTake(out HeapEvent heapEvent)
    {
        if (_positions.ConsumerHead == Tail)
        {
            heapEvent = default;
            return false;
        }

        heapEvent = Take();
        return true;
    }

    /// <summary>Releases every published event unread; returns how many. Consumer only.</summary>
    public long Discard()
    {
        var tail = Tail;
        var discarded = tail - _positions.ConsumerHead;
        while (_positions.ConsumerHead < tail)
        {
            _details[(int)(_positions.ConsumerHead++ & _mask)] = null;
        }

        PublishHead();
        return discarded;
    }

    /// <summary>Lets the producer see every slot released so far. Consumer only.</summary>
    public void PublishHead()
    {
        // Only when it changed: a store, even of the same value, takes the line from a producer polling a full ring.
        if (_positions.Head != _positions.ConsumerHead)
        {
            Volatile.Write(ref _positions.Head, _positions.ConsumerHead);
        }
    }

    /// <summary>Whether the slot at <paramref name="tail"/> is still taken: decided from the cached head, and from the published one only when the cached one says full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsFullAt(long tail) => tail - _positions.CachedHead >= _capacity && !HasRoom(tail);

    /// <summary>Reads the published head (the cached one said full) and keeps it; false when the ring is really full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool HasRoom(long tail)
    {
        var head = Volatile.Read(ref _positions.Head);
        if (tail - head >= _capacity)
        {
            return false;
        }

        _positions.CachedHead = head;
        return true;
    }

    /// <summary>
    /// The producer's line (tail, cached head and drop count), the published head (read by the producer only when the
    /// ring looks full) and the consumer's own fields (its head and its snapshots of the tail), each on its
    /// own cache lines, with a line between the producer's and the published head's against the adjacent-line
    /// prefetcher. The 64 bytes before the tail keep the ring's read-only fields off the producer's line, and
    /// those after the consumer's fields keep whatever follows the ring in memory off the consumer's.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 352)]
    private struct Positions
    {
        [FieldOffset(64)]
        public long Tail;

        [FieldOffset(72)]
        public long CachedHead;

        [FieldOffset(80)]
        public long Dropped;

        [FieldOffset(192)]
        public long Head;

        [FieldOffset(256)]
        public long ConsumerHead;

        [FieldOffset(264)]
        public long Limit;

        [FieldOffset(272)]
        public long Visible;

        [FieldOffset(280)]
        public long Overdue;
    }
}

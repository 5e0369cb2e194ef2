// EventRing: the bounded buffer between the threads that emit events and the trace writer's
// thread. Many producers, one consumer.
//
// A producer claims a position with one CAS on the tail and copies the event's reference-free
// part (HeapEventData, 80 bytes) into the slot: plain stores, no GC write barrier. The event's one
// reference, set only on rare events, goes to a parallel array, written only when not null.
// Publishing is a release store of the slot's position + 1, which the consumer waits for.
//
// Whether the ring has room is decided from the head, never from the slots: producers keep a
// cached copy of the head beside the tail and read the consumer's head only when the cached one
// says full; the consumer publishes its head every PublishEvery releases (and whenever it goes
// idle), so that producers polling a full ring read a cache line that rarely changes instead of
// one the consumer writes on every event. A full ring therefore costs a drop two loads and a
// compare. The consumer clears only the references it finds set.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Diagnostics.Sinks;

internal sealed class EventRing
{
    /// <summary>The consumer publishes its head at least this often (in released events).</summary>
    public const int PublishEvery = 64;

    private readonly Slot[] _slots;
    private readonly HeapEventDetails?[] _details;
    private readonly long _mask;
    private readonly long _capacity;
    private Positions _positions;

    public EventRing(int capacity)
    {
        var size = (int)Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, capacity)));
        _slots = new Slot[size];
        _details = new HeapEventDetails?[size];
        _mask = size - 1;
        _capacity = size;
    }

    public int Capacity => _slots.Length;

    /// <summary>Events enqueued and not yet released as far as producers can tell (approximate while threads run).</summary>
    public long Count => Volatile.Read(ref _positions.Tail) - Volatile.Read(ref _positions.Head);

    /// <summary>Positions handed out to producers so far.</summary>
    public long Tail => Volatile.Read(ref _positions.Tail);

    /// <summary>Positions released by the consumer so far. Consumer only.</summary>
    public long Head => _positions.ConsumerHead;

    /// <summary>Copies the event into the next free slot; false when the ring is full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(in HeapEvent heapEvent)
    {
        ref var positions = ref _positions;
        var position = Volatile.Read(ref positions.Tail);
        while (true)
        {
            if (position - Volatile.Read(ref positions.CachedHead) >= _capacity)
            {
                // The cached head says full: read the published one (a line the consumer writes every PublishEvery events).
                var head = Volatile.Read(ref positions.Head);
                if (position - head >= _capacity)
                {
                    return false;
                }

                // Producers may store an older head over a newer one; any head read is a safe lower bound.
                Volatile.Write(ref positions.CachedHead, head);
            }

            var seen = Interlocked.CompareExchange(ref positions.Tail, position + 1, position);
            if (seen == position)
            {
                break;
            }

            position = seen;
        }

        var index = position & _mask;
        ref var slot = ref _slots[index];
        slot.Data = HeapEvent.DataOf(in heapEvent);
        var details = heapEvent.Details;
        if (details is not null)
        {
            _details[index] = details;
        }

        Volatile.Write(ref slot.Published, position + 1);
        return true;
    }

    /// <summary>The oldest published event (a copy); false when none is ready. Consumer only.</summary>
    public bool TryPeek(out HeapEvent heapEvent)
    {
        var head = _positions.ConsumerHead;
        var index = head & _mask;
        ref var slot = ref _slots[index];
        if (Volatile.Read(ref slot.Published) != head + 1)
        {
            heapEvent = default;
            return false;
        }

        heapEvent = new HeapEvent(in slot.Data, _details[index]);
        return true;
    }

    /// <summary>Frees the slot that <see cref="TryPeek"/> returned. Consumer only.</summary>
    public void Release()
    {
        var head = _positions.ConsumerHead;
        var index = head & _mask;
        if (_details[index] is not null)
        {
            _details[index] = null;
        }

        _positions.ConsumerHead = ++head;
        if ((head & (PublishEvery - 1)) == 0)
        {
            PublishHead();
        }
    }

    /// <summary>Lets producers see every slot released so far. Consumer only; call before waiting.</summary>
    public void PublishHead() => Volatile.Write(ref _positions.Head, _positions.ConsumerHead);

    private struct Slot
    {
        public long Published;
        public HeapEventData Data;
    }

    /// <summary>
    /// The producers' line (tail and cached head), the published head (read by producers only when the ring
    /// looks full) and the consumer's own head, each on its own cache lines.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 320)]
    private struct Positions
    {
        [FieldOffset(64)]
        public long Tail;

        [FieldOffset(72)]
        public long CachedHead;

        [FieldOffset(192)]
        public long Head;

        [FieldOffset(256)]
        public long ConsumerHead;
    }
}

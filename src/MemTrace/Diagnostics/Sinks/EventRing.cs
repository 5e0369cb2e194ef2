// EventRing: the bounded buffer between the threads that emit events and the trace writer's
// thread. Dmitry Vyukov's bounded MPMC queue, used with one consumer: each slot carries a
// sequence number that says whether it is free for the producer at a position or full for the
// consumer. Enqueue is one CAS and a struct copy into a slot allocated once: no lock, no
// allocation, no throw. The consumer reads the event in place (by ref) and clears the slot so
// that the ring keeps no strings alive.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Diagnostics.Sinks;

internal sealed class EventRing
{
    private readonly Slot[] _slots;
    private readonly long _mask;
    private PaddedLong _tail;
    private PaddedLong _head;

    public EventRing(int capacity)
    {
        var size = (int)Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, capacity)));
        _slots = new Slot[size];
        _mask = size - 1;
        for (var i = 0; i < size; i++)
        {
            _slots[i].Sequence = i;
        }
    }

    public int Capacity => _slots.Length;

    /// <summary>Events enqueued and not yet released (approximate while producers run).</summary>
    public long Count => Volatile.Read(ref _tail.Value) - Volatile.Read(ref _head.Value);

    /// <summary>Positions handed out to producers so far.</summary>
    public long Tail => Volatile.Read(ref _tail.Value);

    /// <summary>Positions released by the consumer so far.</summary>
    public long Head => Volatile.Read(ref _head.Value);

    /// <summary>Copies the event into the next free slot; false when the ring is full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(in HeapEvent heapEvent)
    {
        var slots = _slots;
        var position = Volatile.Read(ref _tail.Value);
        while (true)
        {
            ref var slot = ref slots[position & _mask];
            var difference = Volatile.Read(ref slot.Sequence) - position;
            if (difference == 0)
            {
                if (Interlocked.CompareExchange(ref _tail.Value, position + 1, position) == position)
                {
                    slot.Event = heapEvent;
                    Volatile.Write(ref slot.Sequence, position + 1);
                    return true;
                }
            }
            else if (difference < 0)
            {
                return false;
            }

            position = Volatile.Read(ref _tail.Value);
        }
    }

    /// <summary>The oldest published event, in place; a null ref when none is ready. Consumer only.</summary>
    public ref HeapEvent Peek()
    {
        var head = _head.Value;
        ref var slot = ref _slots[head & _mask];
        if (Volatile.Read(ref slot.Sequence) != head + 1)
        {
            return ref Unsafe.NullRef<HeapEvent>();
        }

        return ref slot.Event;
    }

    /// <summary>Frees the slot that <see cref="Peek"/> returned. Consumer only.</summary>
    public void Release()
    {
        var head = _head.Value;
        ref var slot = ref _slots[head & _mask];
        slot.Event = default;
        Volatile.Write(ref slot.Sequence, head + _slots.Length);
        Volatile.Write(ref _head.Value, head + 1);
    }

    private struct Slot
    {
        public long Sequence;
        public HeapEvent Event;
    }

    /// <summary>A counter alone on its cache lines, so producers and the consumer do not share one.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedLong
    {
        [FieldOffset(64)]
        public long Value;
    }
}

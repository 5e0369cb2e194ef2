// EventRing: many producers and one consumer lose nothing and keep each producer's order; a full
// ring refuses until the consumer publishes its head; a released slot keeps no reference.
using System.Runtime.CompilerServices;
using MemTrace.Diagnostics;
using MemTrace.Diagnostics.Sinks;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class EventRingTests
{
    [Fact]
    public void Producers_on_four_threads_get_every_event_through_in_their_order_with_a_ring_far_smaller_than_the_burst()
    {
        const int Producers = 4;
        const int PerProducer = 50_000;
        var ring = new EventRing(64);
        var producers = Enumerable.Range(0, Producers).Select(p => new Thread(() =>
        {
            for (var i = 1; i <= PerProducer; i++)
            {
                var e = new HeapEvent { Kind = HeapEventKind.Allocation, ThreadId = p, Sequence = i, Size = (nuint)(p * 1_000_000 + i) };
                var spinner = default(SpinWait);
                while (!ring.TryEnqueue(in e))
                {
                    spinner.SpinOnce();
                }
            }
        })).ToList();
        producers.ForEach(t => t.Start());

        var last = new long[Producers];
        var received = 0;
        var deadline = Environment.TickCount64 + 60_000;
        while (received < Producers * PerProducer && Environment.TickCount64 < deadline)
        {
            if (!ring.TryPeek(out var e))
            {
                ring.PublishHead(); // As the writer does before it waits.
                Thread.Yield();
                continue;
            }

            Assert.Equal(last[e.ThreadId] + 1, e.Sequence);
            Assert.Equal((nuint)((e.ThreadId * 1_000_000) + e.Sequence), e.Size);
            last[e.ThreadId] = e.Sequence;
            ring.Release();
            received++;
        }

        producers.ForEach(t => t.Join());
        Assert.Equal(Producers * PerProducer, received);
        Assert.All(last, l => Assert.Equal(PerProducer, l));
        Assert.Equal(ring.Tail, ring.Head);
    }

    [Fact]
    public void A_full_ring_refuses_until_the_consumer_publishes_what_it_released()
    {
        var ring = new EventRing(16);
        var e = new HeapEvent { Kind = HeapEventKind.Free };
        for (var i = 0; i < 16; i++)
        {
            Assert.True(ring.TryEnqueue(in e));
        }

        Assert.False(ring.TryEnqueue(in e));
        Assert.True(ring.TryPeek(out _));
        ring.Release();
        Assert.False(ring.TryEnqueue(in e)); // Released but not yet published: producers do not see the slot.

        ring.PublishHead();

        Assert.True(ring.TryEnqueue(in e));
        Assert.False(ring.TryEnqueue(in e));
        Assert.Equal(16, ring.Count);
    }

    [Fact]
    public void Events_come_out_with_their_details_and_a_released_slot_keeps_no_reference_to_them()
    {
        var ring = new EventRing(16);
        var plain = new HeapEvent { Kind = HeapEventKind.Allocation, Sequence = 1 };
        Assert.True(ring.TryEnqueue(in plain));
        var details = EnqueueWithDetails(ring, "kept only by the ring");

        Assert.True(ring.TryPeek(out var first));
        Assert.Null(first.Details);
        ring.Release();
        Assert.True(ring.TryPeek(out var second));
        Assert.Equal("kept only by the ring", second.Label);
        second = default;
        ring.Release();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(details.IsAlive);
        Assert.False(ring.TryPeek(out _));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference EnqueueWithDetails(EventRing ring, string label)
    {
        var e = new HeapEvent { Kind = HeapEventKind.Checkpoint, Sequence = 2, Label = new string(label.AsSpan()) };
        Assert.True(ring.TryEnqueue(in e));
        return new WeakReference(e.Details);
    }
}

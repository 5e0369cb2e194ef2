// EventRing and EventRingMerge: one producer and one consumer per ring lose nothing across
// wrap-arounds; the producer clears a block of slots ahead of it only when the consumer has
// released all of it; a full ring refuses until the consumer publishes its head; a released slot keeps
// no reference; the merge of several rings comes out in sequence order (ties in ring order, user
// numbers neither lost nor duplicated), stops at an event published between its two snapshots,
// never holds overdue events back, and under many producer threads in wait mode loses nothing,
// keeps each thread's order and respects what happened before what.
using System.Runtime.CompilerServices;
using MemTrace.Diagnostics;
using CsCheck;
using MemTrace.Diagnostics.Sinks;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class EventRingTests
{
    [Fact]
    public void Events_wrap_around_a_small_ring_many_times_in_order()
    {
        var ring = new EventRing(16);
        long next = 1;
        long expected = 1;
        for (var round = 0; round < 500; round++)
        {
            for (var i = 0; i < 11; i++)
            {
                Assert.True(ring.TryEnqueue(Event(next++)));
            }

            while (ring.TryTake(out var e))
            {
                Assert.Equal(expected, e.Sequence);
                Assert.Equal((nuint)(expected * 16), e.Size);
                expected++;
            }

            ring.PublishHead();
        }

        Assert.Equal(5501, expected);
        Assert.Equal(5500, ring.Tail);
        Assert.Equal(ring.Tail, ring.Head);
        Assert.Equal(0, ring.Count);
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
        Assert.True(ring.TryTake(out _));
        Assert.False(ring.TryEnqueue(in e)); // Released but not yet published: the producer does not see the slot.

        ring.PublishHead();

        Assert.True(ring.TryEnqueue(in e));
        Assert.False(ring.TryEnqueue(in e));
        Assert.Equal(16, ring.Count);
    }

    [Fact]
    public void A_block_of_slots_the_consumer_still_holds_in_part_is_not_cleared_ahead_of_the_producer()
    {
        // Capacity 64: the producer clears a block of 32 slots when it reaches its first one, if the whole block is free.
        var ring = new EventRing(64);
        long next = 1;
        for (var i = 0; i < 40; i++)
        {
            Assert.True(ring.TryEnqueue(Full(next++)));
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.True(ring.TryTake(out _));
        }

        ring.PublishHead();

        // Positions 40..83: at 64 the block is slots 0..31, of which 20..31 still hold events 21..32, not yet taken.
        while (ring.TryEnqueue(Full(next)))
        {
            next++;
        }

        Assert.Equal(85, next);
        for (long expected = 21; expected < next; expected++)
        {
            Assert.True(ring.TryTake(out var e));
            AssertIntact(expected, e);
        }

        Assert.False(ring.TryTake(out _));
    }

    [Fact]
    public void Events_come_out_intact_whatever_the_consumer_has_released_when_the_producer_reaches_a_block()
    {
        // Random runs of enqueues, takes and head publications against a queue, on rings of two, four and eight blocks.
        var step = Gen.Select(Gen.Int[0, 2], Gen.Int[1, 90]);
        Gen.Select(Gen.Int[5, 7].Select(shift => 1 << shift), step.Array[1, 200]).Sample((capacity, steps) =>
        {
            var ring = new EventRing(capacity);
            var model = new Queue<long>();
            long next = 1;
            foreach (var (kind, count) in steps)
            {
                for (var i = 0; i < count; i++)
                {
                    switch (kind)
                    {
                        case 0 when ring.TryEnqueue(Full(next)):
                            model.Enqueue(next++);
                            break;
                        case 1 when ring.TryTake(out var e):
                            AssertIntact(model.Dequeue(), e);
                            break;
                    }
                }

                if (kind == 2)
                {
                    ring.PublishHead();
                }
            }

            while (ring.TryTake(out var e))
            {
                AssertIntact(model.Dequeue(), e);
            }

            Assert.Empty(model);
        }, iter: 2000);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(256)]
    public void Events_passed_between_two_real_threads_come_out_intact_with_the_producer_clearing_blocks_ahead(int capacity)
    {
        // A producer that fills slots both ways (a copy, and in place after TryClaim) and a consumer that drains and
        // publishes its head at random moments: with the block check loosened by 8 slots, this fails at once.
        const long Events = 100_000;
        var ring = new EventRing(capacity);
        string? failure = null;
        var producer = new Thread(() =>
        {
            var random = new Random(capacity);
            for (long n = 1; n <= Events; n++)
            {
                while (!Put(ring, n))
                {
                    Thread.SpinWait(random.Next(1, 20));
                }
            }
        });
        var consumer = new Thread(() =>
        {
            var random = new Random(~capacity);
            long expected = 1;
            while (expected <= Events)
            {
                for (var budget = random.Next(1, 3 * capacity); budget > 0 && ring.TryTake(out var e); budget--)
                {
                    var sent = Full(expected++);
                    if (failure is null && !HeapEvent.DataOf(in sent).Equals(HeapEvent.DataOf(in e)))
                    {
                        failure = $"event {expected - 1} came out as sequence {e.Sequence}, address {e.Address}, size {e.Size}";
                    }
                }

                if (random.Next(3) == 0)
                {
                    ring.PublishHead();
                }
            }
        });
        producer.Start();
        consumer.Start();

        Assert.True(producer.Join(TimeSpan.FromMinutes(1)) && consumer.Join(TimeSpan.FromMinutes(1)), "the threads did not finish");
        Assert.Null(failure);
        Assert.False(ring.TryTake(out _));
        Assert.Equal(Events, ring.Tail);

        static bool Put(EventRing ring, long n)
        {
            if ((n & 1) == 0)
            {
                return ring.TryEnqueue(Full(n));
            }

            ref var slot = ref ring.TryClaim(out var tail);
            if (Unsafe.IsNullRef(ref slot))
            {
                return false;
            }

            var e = Full(n);
            slot = HeapEvent.DataOf(in e);
            ring.Publish(tail);
            return true;
        }
    }

    [Fact]
    public void A_refusing_ring_takes_nothing()
    {
        var ring = EventRing.Refusing(new object());

        Assert.False(ring.TryEnqueue(Event(1)));
        Assert.Equal(0, ring.Capacity);
        Assert.Equal(0, ring.Tail);
    }

    [Fact]
    public void Events_come_out_with_their_details_and_a_released_slot_keeps_no_reference_to_them()
    {
        var ring = new EventRing(16);
        var plain = new HeapEvent { Kind = HeapEventKind.Allocation, Sequence = 1 };
        Assert.True(ring.TryEnqueue(in plain));
        var details = EnqueueWithDetails(ring, "kept only by the ring");
        var discarded = EnqueueWithDetails(ring, "discarded at the end");

        Assert.True(ring.TryTake(out var first));
        Assert.Null(first.Details);
        Assert.True(ring.TryTake(out var second));
        Assert.Equal("kept only by the ring", second.Label);
        second = default;
        Assert.Equal(1, ring.Discard());
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(details.IsAlive);
        Assert.False(discarded.IsAlive);
        Assert.False(ring.TryTake(out _));
    }

    [Fact]
    public void The_merge_of_rings_filled_in_turn_comes_out_in_sequence_order_with_ties_in_ring_order()
    {
        var a = new EventRing(16);
        var b = new EventRing(16);
        var c = new EventRing(16);
        Fill(a, 1, 4, 4, 9);
        Fill(b, 2, 3, 4, 10, 11);
        Fill(c, 0, 0, 5, 8, 4); // User numbers: zeros, and one that goes back.

        var merged = Drain(new EventRingMerge(), [a, b, c], final: false);

        // Ties go to the ring first in the array; a ring's events keep its own order (c's 4 after its 8).
        Assert.Equal([(2, 0L), (2, 0L), (0, 1L), (1, 2L), (1, 3L), (0, 4L), (0, 4L), (1, 4L), (2, 5L), (2, 8L), (2, 4L), (0, 9L), (1, 10L), (1, 11L)], merged);
        Assert.All(new[] { a, b, c }, r => Assert.Equal(r.Tail, r.Head));
    }

    [Fact]
    public void The_merge_stops_at_an_event_published_between_its_two_snapshots_and_takes_it_in_the_next_drain()
    {
        var a = new EventRing(16);
        var b = new EventRing(16);
        EventRing[] rings = [a, b];
        var merge = new EventRingMerge();
        Fill(a, 1, 3);

        merge.SnapshotFirst(rings);
        Fill(b, 2); // Published between the snapshots: what happened before it may not be seen yet.
        merge.SnapshotSecond(rings, final: false);

        Assert.Equal([(0, 1L)], TakeAll(merge, rings));
        Assert.Equal([(1, 2L), (0, 3L)], Drain(merge, rings, final: false));
    }

    [Fact]
    public void The_final_drain_takes_every_event_seen()
    {
        var a = new EventRing(16);
        var b = new EventRing(16);
        EventRing[] rings = [a, b];
        var merge = new EventRingMerge();
        Fill(a, 1, 3);

        merge.SnapshotFirst(rings);
        Fill(b, 2);
        merge.SnapshotSecond(rings, final: true);

        Assert.Equal([(0, 1L), (1, 2L), (0, 3L)], TakeAll(merge, rings));
    }

    [Fact]
    public void Overdue_events_are_taken_even_when_a_ring_with_smaller_numbers_keeps_publishing_between_the_snapshots()
    {
        // Two trackers' numbers in one writer: a's 100 is larger than everything b publishes.
        var a = new EventRing(16);
        var b = new EventRing(16);
        EventRing[] rings = [a, b];
        var merge = new EventRingMerge();
        Fill(a, 100);

        merge.SnapshotFirst(rings);
        Fill(b, 5);
        merge.SnapshotSecond(rings, final: false);
        Assert.Empty(TakeAll(merge, rings)); // b's 5 comes first, and it is beyond the first snapshot.

        merge.SnapshotFirst(rings);
        Fill(b, 6);
        merge.SnapshotSecond(rings, final: false);
        Assert.Equal([(1, 5L), (0, 100L)], TakeAll(merge, rings)); // a's 100 is overdue: b leaves the merge at its 6.

        Assert.Equal([(1, 6L)], Drain(merge, rings, final: false));
    }

    [Fact]
    public void Eight_threads_each_with_its_own_ring_lose_nothing_in_wait_mode_and_each_drain_is_in_sequence_order()
    {
        const int Producers = 8;
        const int PerProducer = 10_000;
        var rings = Enumerable.Range(0, Producers).Select(_ => new EventRing(16)).ToArray();
        long sequence = 0;
        var producers = Enumerable.Range(0, Producers).Select(p => new Thread(() =>
        {
            for (var i = 0; i < PerProducer; i++)
            {
                var e = new HeapEvent { Kind = HeapEventKind.Allocation, ThreadId = p, Sequence = Interlocked.Increment(ref sequence), Size = (nuint)i };
                var spinner = default(SpinWait);
                while (!rings[p].TryEnqueue(in e))
                {
                    spinner.SpinOnce(sleep1Threshold: -1); // Wait mode: the ring is far smaller than the burst.
                }
            }
        })).ToList();
        producers.ForEach(t => t.Start());

        var merge = new EventRingMerge();
        var seen = new bool[(Producers * PerProducer) + 1];
        var nextOfProducer = new long[Producers];
        var received = 0;
        var deadline = Environment.TickCount64 + 120_000;
        while (received < Producers * PerProducer && Environment.TickCount64 < deadline)
        {
            merge.Begin(rings, final: false);
            var last = long.MinValue;
            var drained = 0;
            while (merge.TryTake(out var e))
            {
                if (e.Sequence <= last || seen[e.Sequence] || (long)e.Size != nextOfProducer[e.ThreadId])
                {
                    // Out of order within one drain, twice, or not the producer's next (one of its events missing).
                    Assert.Fail($"event {e.Sequence} of producer {e.ThreadId} (its #{e.Size}) after {last} in one drain; seen before: {seen[e.Sequence]}; expected its #{nextOfProducer[e.ThreadId]}");
                }

                last = e.Sequence;
                seen[e.Sequence] = true;
                nextOfProducer[e.ThreadId]++;
                drained++;
            }

            merge.End();
            received += drained;
            if (drained == 0)
            {
                Thread.Yield();
            }
        }

        producers.ForEach(t => t.Join());
        Assert.Equal(Producers * PerProducer, received);
        Assert.All(nextOfProducer, n => Assert.Equal(PerProducer, n));
        Assert.All(rings, r => Assert.Equal(r.Tail, r.Head));
        Assert.Equal(Producers * PerProducer, merge.Taken);
    }

    [Fact]
    public void Events_handed_from_thread_to_thread_come_out_in_the_order_they_happened()
    {
        // Three threads take turns: each publishes an event, then hands the turn to the next. Every event
        // happened before the next one, so the merge must give exactly 1, 2, 3, ... whatever the drains' timing.
        const int Threads = 3;
        const int Events = 10_000;
        var rings = Enumerable.Range(0, Threads).Select(_ => new EventRing(64)).ToArray();
        long turn = 0;
        var producers = Enumerable.Range(0, Threads).Select(p => new Thread(() =>
        {
            for (long mine = p; mine < Events; mine += Threads)
            {
                var spinner = default(SpinWait);
                while (Volatile.Read(ref turn) != mine)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                }

                var e = new HeapEvent { Kind = HeapEventKind.Free, ThreadId = p, Sequence = mine + 1 };
                while (!rings[p].TryEnqueue(in e))
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                }

                Volatile.Write(ref turn, mine + 1);
            }
        })).ToList();
        producers.ForEach(t => t.Start());

        var merge = new EventRingMerge();
        long expected = 1;
        var deadline = Environment.TickCount64 + 120_000;
        while (expected <= Events && Environment.TickCount64 < deadline)
        {
            merge.Begin(rings, final: false);
            while (merge.TryTake(out var e))
            {
                if (e.Sequence != expected)
                {
                    Assert.Fail($"event {e.Sequence} where {expected} was expected");
                }

                expected++;
            }

            merge.End();
            Thread.Yield();
        }

        producers.ForEach(t => t.Join());
        Assert.Equal(Events + 1, expected);
    }

    private static HeapEvent Event(long sequence) => new() { Kind = HeapEventKind.Allocation, Sequence = sequence, Size = (nuint)(sequence * 16) };

    private static void Fill(EventRing ring, params long[] sequences)
    {
        foreach (var sequence in sequences)
        {
            Assert.True(ring.TryEnqueue(Event(sequence)));
        }
    }

    /// <summary>One whole drain: (index of the ring, sequence) of each event taken.</summary>
    private static List<(int Ring, long Sequence)> Drain(EventRingMerge merge, EventRing[] rings, bool final)
    {
        merge.SnapshotFirst(rings);
        merge.SnapshotSecond(rings, final);
        return TakeAll(merge, rings);
    }

    private static List<(int Ring, long Sequence)> TakeAll(EventRingMerge merge, EventRing[] rings)
    {
        // The ring an event came from is the one whose head moved.
        var taken = new List<(int, long)>();
        var heads = rings.Select(r => r.Head).ToArray();
        while (merge.TryTake(out var e))
        {
            var ring = Enumerable.Range(0, rings.Length).Single(i => rings[i].Head != heads[i]);
            heads[ring]++;
            taken.Add((ring, e.Sequence));
        }

        merge.End();
        return taken;
    }

    /// <summary>An event with every field set from its number, so that a slot cleared or mixed up shows.</summary>
    private static HeapEvent Full(long n) => new(HeapEventKind.Reallocation, n, utcTicks: n * 3, threadId: (int)(n % 1000) + 1, address: (nuint)(n * 4096), size: (nuint)(n * 16), caps: (uint)n | 1, requestNumber: n * 5, site: (uint)n + 7, allocSite: (uint)n + 11, region: (int)(n % 100) + 1, previousAddress: (nuint)(n * 8192), previousSize: (nuint)(n * 32));

    private static void AssertIntact(long n, in HeapEvent e)
    {
        var expected = Full(n);
        Assert.Equal(HeapEvent.DataOf(in expected), HeapEvent.DataOf(in e));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference EnqueueWithDetails(EventRing ring, string label)
    {
        var e = new HeapEvent { Kind = HeapEventKind.Checkpoint, Sequence = 2, Label = new string(label.AsSpan()) };
        Assert.True(ring.TryEnqueue(in e));
        return new WeakReference(e.Details);
    }
}

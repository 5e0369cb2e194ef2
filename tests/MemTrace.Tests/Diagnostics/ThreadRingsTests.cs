// ThreadRings: a ring per thread, found again on each event; one thread using two sets in turn
// gets a ring in each; the rings of ended threads are dropped only once empty, and the totals of
// events enqueued and dropped keep theirs. Drops counted in the rings add up exactly, also those of
// the refusing ring that threads share.
using MemTrace.Diagnostics;
using MemTrace.Diagnostics.Sinks;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class ThreadRingsTests
{
    [Fact]
    public void Each_thread_gets_a_ring_of_its_own_and_finds_it_again()
    {
        var set = new ThreadRings(64);
        var mine = set.OfThisThread();
        EventRing? other = null;
        var thread = new Thread(() => other = set.OfThisThread());
        thread.Start();
        thread.Join();

        Assert.Same(mine, set.OfThisThread());
        Assert.NotSame(mine, other);
        Assert.Equal(64, mine.Capacity);
        Assert.Equal([mine, other!], set.All);
    }

    [Fact]
    public void One_thread_using_two_sets_in_turn_keeps_a_ring_in_each()
    {
        var first = new ThreadRings(32);
        var second = new ThreadRings(32);
        var e = new HeapEvent { Kind = HeapEventKind.Allocation };
        for (var i = 0; i < 10; i++)
        {
            Assert.True(first.OfThisThread().TryEnqueue(in e));
            Assert.True(second.OfThisThread().TryEnqueue(in e));
            Assert.True(second.OfThisThread().TryEnqueue(in e));
        }

        Assert.Equal(10, Assert.Single(first.All).Tail);
        Assert.Equal(20, Assert.Single(second.All).Tail);
        Assert.Equal((10L, 20L), (first.Enqueued, second.Enqueued));
    }

    [Fact]
    public void The_ring_of_an_ended_thread_is_dropped_only_once_empty_and_its_events_stay_counted()
    {
        var set = new ThreadRings(16);
        var thread = new Thread(() =>
        {
            var e = new HeapEvent { Kind = HeapEventKind.Free };
            for (var i = 0; i < 5; i++)
            {
                Assert.True(set.OfThisThread().TryEnqueue(in e));
            }
        });
        thread.Start();
        thread.Join();
        var ring = Assert.Single(set.All);

        Assert.Equal(0, set.DropEnded()); // Ended, but its events are not taken yet.
        Assert.Equal(5, set.Enqueued);

        while (ring.TryTake(out _))
        {
        }

        Assert.Equal(1, set.DropEnded());
        Assert.Empty(set.All);
        Assert.Equal(5, set.Enqueued);

        set.OfThisThread(); // A live thread's ring stays.
        Assert.Equal(0, set.DropEnded());
        Assert.Single(set.All);
    }

    [Fact]
    public void Drops_of_eight_threads_add_up_exactly_and_stay_counted_once_their_rings_are_dropped()
    {
        const int Threads = 8;
        const int PerThread = 100_000;
        var set = new ThreadRings(16);
        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            var ring = set.OfThisThread();
            for (var i = 0; i < PerThread; i++)
            {
                set.OfThisThread().CountDrop();
            }

            Assert.Equal(PerThread, ring.Dropped);
        })).ToList();

        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(Threads * PerThread, set.Dropped);
        Assert.Equal(Threads, set.DropEnded()); // Ended and empty: their rings go, their drops stay counted.
        Assert.Empty(set.All);
        Assert.Equal(Threads * PerThread, set.Dropped);
    }

    [Fact]
    public void The_refusing_ring_shared_by_threads_counts_their_drops_exactly()
    {
        const int Threads = 4;
        const int PerThread = 50_000;
        var refusing = EventRing.Refusing(new object());
        var e = new HeapEvent { Kind = HeapEventKind.Allocation };
        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                Assert.False(refusing.TryEnqueue(in e));
                refusing.CountDrop();
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(Threads * PerThread, refusing.Dropped);
        Assert.Equal(0, refusing.Tail);
    }

    [Fact]
    public void One_thread_dropping_for_two_sets_in_turn_counts_each_exactly()
    {
        var first = new ThreadRings(16);
        var second = new ThreadRings(16);
        for (var i = 0; i < 1000; i++)
        {
            first.OfThisThread().CountDrop();
            second.OfThisThread().CountDrop();
            second.OfThisThread().CountDrop();
        }

        Assert.Equal((1000L, 2000L), (first.Dropped, second.Dropped));
        Assert.Equal((0L, 0L), (first.Enqueued, second.Enqueued));
    }
}

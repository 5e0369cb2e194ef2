// DropCounter: per-thread counts that add up exactly, threads that ended included, with one thread
// counting for two counters in turn.
using MemTrace.Diagnostics.Sinks;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class DropCounterTests
{
    [Fact]
    public void Counts_of_eight_threads_add_up_exactly_after_the_threads_end()
    {
        const int Threads = 8;
        const int PerThread = 100_000;
        var counter = new DropCounter();
        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                counter.Increment();
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(Threads * PerThread, counter.Total);
    }

    [Fact]
    public void One_thread_counting_for_two_counters_in_turn_counts_each_exactly()
    {
        var first = new DropCounter();
        var second = new DropCounter();

        for (var i = 0; i < 1000; i++)
        {
            first.Increment();
            second.Increment();
            second.Increment();
        }

        Assert.Equal(1000, first.Total);
        Assert.Equal(2000, second.Total);
    }
}

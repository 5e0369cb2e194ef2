using MemTrace.Internals;
using Xunit;

namespace MemTrace.Tests.Internals;

public class CoarseClockTests
{
    [Fact]
    public void The_clock_follows_the_system_tick_while_in_use_and_never_goes_back()
    {
        CoarseClock.Acquire();
        try
        {
            Assert.True(CoarseClock.IsRefreshing);
            var start = CoarseClock.Now;
            Assert.InRange(Environment.TickCount64 - start, 0, 1000);
            var previous = start;
            var deadline = Environment.TickCount64 + 5000;
            while (CoarseClock.Now < start + 40 && Environment.TickCount64 < deadline)
            {
                var now = CoarseClock.Now;
                Assert.True(now >= previous, $"went back from {previous} to {now}");
                previous = now;
                Thread.Sleep(1);
            }

            // Refreshed by the clock's own thread: nothing here read the system tick into it.
            Assert.True(CoarseClock.Now >= start + 40, $"stuck at {CoarseClock.Now - start} ms after 5 s");
            Assert.InRange(Environment.TickCount64 - CoarseClock.Now, 0, 200);
        }
        finally
        {
            CoarseClock.Release();
        }
    }

    [Fact]
    public void The_refreshing_thread_is_no_thread_pool_worker_and_comes_back_after_a_release()
    {
        for (var round = 0; round < 3; round++)
        {
            CoarseClock.Acquire();
            try
            {
                Assert.True(CoarseClock.IsRefreshing);
                var deadline = Environment.TickCount64 + 5000;
                var clock = FindClockThread();
                while (clock is null && Environment.TickCount64 < deadline)
                {
                    Thread.Sleep(1); // The thread names itself once it runs.
                    clock = FindClockThread();
                }

                Assert.NotNull(clock);
                var start = CoarseClock.Now;
                while (CoarseClock.Now <= start && Environment.TickCount64 < deadline)
                {
                    Thread.Sleep(1);
                }

                Assert.True(CoarseClock.Now > start, $"round {round}: not refreshed");
            }
            finally
            {
                CoarseClock.Release();
            }

            Thread.Sleep(2 * CoarseClock.PeriodMilliseconds); // Another test's tracker may keep it running; either way it must work again.
        }
    }

    private static string? FindClockThread()
    {
        // The runtime names its threads after Thread.Name; on Linux /proc shows the name cut to 15 bytes.
        var tasks = new DirectoryInfo($"/proc/{Environment.ProcessId}/task");
        if (!tasks.Exists)
        {
            return "not on Linux";
        }

        foreach (var task in tasks.EnumerateDirectories())
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task.FullName, "comm")).Trim();
                if (name.StartsWith("MemTrace clock", StringComparison.Ordinal))
                {
                    return name;
                }
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }

        return null;
    }
}

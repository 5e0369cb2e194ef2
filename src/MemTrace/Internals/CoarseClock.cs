// CoarseClock: a millisecond clock that costs one memory read.
//
// Environment.TickCount64 is itself a coarse clock (CLOCK_MONOTONIC_COARSE on Linux, ticking every
// 1-4 ms), but reading it is a native call of about 7 ns: more than half of what a malloc+free pair
// of glibc costs. Records and heap events only need the time to a few milliseconds (records are
// ordered by request numbers, events by their sequence numbers), so a shared value refreshed every
// 4 ms does the job for the price of a load. Readers never see time go backwards.
//
// The refresh runs on a thread of its own that sleeps between refreshes, while at least one
// MemoryTracker is alive. It was a System.Threading.Timer: each tick woke a thread-pool worker,
// which, its callback done, spun looking for more work before it slept again. Profiled under a
// tracked allocation loop on two cores, that worker and the timer thread took about 8 % of the CPU
// samples, taken from the program or from the trace writer; the sleeping thread takes a few
// microseconds per refresh.
namespace MemTrace.Internals;

internal static class CoarseClock
{
    /// <summary>The refresh period, about the kernel tick that TickCount64 has anyway.</summary>
    public const int PeriodMilliseconds = 4;

    private static readonly Lock s_lock = new();
    private static long s_now = Environment.TickCount64;
    private static int s_users;
    private static Thread? s_thread;

    /// <summary>Milliseconds on the <see cref="Environment.TickCount64"/> scale, at most about <see cref="PeriodMilliseconds"/> behind while the clock is in use.</summary>
    public static long Now => Volatile.Read(ref s_now);

    /// <summary>Whether the refreshing thread is running (it ends within a period of the last <see cref="Release"/>).</summary>
    internal static bool IsRefreshing
    {
        get
        {
            lock (s_lock)
            {
                return s_thread is not null;
            }
        }
    }

    /// <summary>Starts refreshing (reference-counted); call <see cref="Release"/> once per call.</summary>
    public static void Acquire()
    {
        lock (s_lock)
        {
            Refresh();
            if (s_users++ == 0 && s_thread is null)
            {
                // Started suppressing the execution context, so the thread holds no AsyncLocal values.
                using (ExecutionContext.SuppressFlow())
                {
                    s_thread = new Thread(RefreshUntilReleased) { IsBackground = true, Name = "MemTrace clock" };
                    s_thread.Start();
                }
            }
        }
    }

    /// <summary>Lets the refreshing stop once the last user has released the clock.</summary>
    public static void Release()
    {
        lock (s_lock)
        {
            if (s_users > 0)
            {
                s_users--;
            }
        }
    }

    private static void RefreshUntilReleased()
    {
        while (true)
        {
            Thread.Sleep(PeriodMilliseconds);
            lock (s_lock)
            {
                if (s_users == 0)
                {
                    // Decided under the lock: an Acquire after this starts a new thread.
                    s_thread = null;
                    return;
                }
            }

            Refresh();
        }
    }

    private static void Refresh()
    {
        var now = Environment.TickCount64;
        var seen = Volatile.Read(ref s_now);
        while (now > seen)
        {
            var won = Interlocked.CompareExchange(ref s_now, now, seen);
            if (won == seen)
            {
                return;
            }

            seen = won;
        }
    }
}

// CoarseClock: a millisecond clock that costs one memory read.
//
// Environment.TickCount64 is itself a coarse clock (CLOCK_MONOTONIC_COARSE on Linux, ticking every
// 1-4 ms), but reading it is a native call of about 7 ns: more than half of what a malloc+free pair
// of glibc costs. Records and heap events only need the time to a few milliseconds (records are
// ordered by request numbers, events by their sequence numbers), so a shared value refreshed every
// 4 ms by a timer does the job for the price of a load. The timer runs only while at least one
// MemoryTracker is alive; readers never see time go backwards.
namespace MemTrace.Internals;

internal static class CoarseClock
{
    /// <summary>The refresh period, about the kernel tick that TickCount64 has anyway.</summary>
    public const int PeriodMilliseconds = 4;

    private static readonly Lock s_lock = new();
    private static long s_now = Environment.TickCount64;
    private static int s_users;
    private static Timer? s_timer;

    /// <summary>Milliseconds on the <see cref="Environment.TickCount64"/> scale, at most about <see cref="PeriodMilliseconds"/> behind while the clock is in use.</summary>
    public static long Now => Volatile.Read(ref s_now);

    /// <summary>Starts refreshing (reference-counted); call <see cref="Release"/> once per call.</summary>
    public static void Acquire()
    {
        lock (s_lock)
        {
            Refresh(null);
            if (s_users++ == 0)
            {
                // Created suppressing the execution context, so the timer holds no AsyncLocal values.
                using (ExecutionContext.SuppressFlow())
                {
                    s_timer = new Timer(Refresh, null, PeriodMilliseconds, PeriodMilliseconds);
                }
            }
        }
    }

    /// <summary>Stops refreshing when the last user releases the clock.</summary>
    public static void Release()
    {
        lock (s_lock)
        {
            if (--s_users == 0)
            {
                s_timer?.Dispose();
                s_timer = null;
            }
        }
    }

    private static void Refresh(object? state)
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

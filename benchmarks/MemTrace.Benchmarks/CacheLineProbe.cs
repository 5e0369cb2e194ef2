// CacheLineProbe: how long one cache line takes to go from one core to another and back, measured
// by two threads that take turns writing a counter the other waits for (the managed twin of
// benchmarks/reference/cacheline_pingpong.c, without pinning: on the benchmark machine's two vCPUs
// two spinning threads run on both). On that machine the figure is about 105 ns or about 520 ns,
// as the hypervisor places the vCPUs, and the trace writer's cost to an emitting thread follows it
// (docs/benchmarks.md), so the benchmarks that depend on it print it before and after their runs.
using System.Diagnostics;

namespace MemTrace.Benchmarks;

/// <summary>Measures the cache-line round trip between two threads.</summary>
public static class CacheLineProbe
{
    /// <summary>The mean round trip in nanoseconds over <paramref name="roundTrips"/> exchanges; NaN on a single core.</summary>
    public static double RoundTripNanoseconds(int roundTrips = 200_000)
    {
        if (Environment.ProcessorCount < 2)
        {
            return double.NaN;
        }

        // The two counters 256 bytes apart: on cache lines of their own whatever the array's alignment.
        var lines = new long[64];
        const int Ping = 8;
        const int Pong = 40;
        var other = new Thread(() =>
        {
            for (long i = 1; i <= roundTrips; i++)
            {
                while (Volatile.Read(ref lines[Ping]) != i)
                {
                }

                Volatile.Write(ref lines[Pong], i);
            }
        }) { IsBackground = true };
        other.Start();
        var watch = Stopwatch.StartNew();
        for (long i = 1; i <= roundTrips; i++)
        {
            Volatile.Write(ref lines[Ping], i);
            while (Volatile.Read(ref lines[Pong]) != i)
            {
            }
        }

        watch.Stop();
        other.Join();
        return watch.Elapsed.TotalNanoseconds / roundTrips;
    }

    /// <summary>Prints the round trip as a BenchmarkDotNet log comment, with <paramref name="when"/>.</summary>
    public static void Print(string when) => Console.WriteLine($"// cache-line round trip between two threads ({when}): {RoundTripNanoseconds():F0} ns");
}

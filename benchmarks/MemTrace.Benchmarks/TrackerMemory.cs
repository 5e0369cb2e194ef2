// Tracker memory per live block, measured rather than computed: the resident set of a fresh process
// holding N live 16-byte blocks on the host heap with the tracker recording them, minus that of a
// fresh process holding the same N blocks on the same heap with no tracker. Each configuration runs
// in a child process of its own (resident memory does not shrink reliably after a free, so two
// configurations in one process would measure each other), three times, and the lowest reading is
// kept. The difference is everything the tracker costs in memory: records, handle rings, per-thread
// cells, its managed objects and code. Reported beside the tracker's own BookkeepingBytes.
//
//   dotnet run -c Release --project benchmarks/MemTrace.Benchmarks -- --tracker-memory
using System.Diagnostics;
using System.Globalization;

namespace MemTrace.Benchmarks;

public static unsafe class TrackerMemory
{
    private static readonly int[] s_counts = [1_000, 100_000, 1_000_000];

    /// <summary>Runs every configuration in child processes and prints a Markdown table.</summary>
    public static void Run()
    {
        Console.WriteLine("| Live blocks | RSS, heap alone | RSS, heap + tracker | Tracker, measured | Per live block | Per block added since the row above | BookkeepingBytes per live block |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        long previousDelta = 0;
        var previousCount = 0;
        foreach (var count in s_counts)
        {
            var alone = Lowest(count, tracked: false, out _);
            var tracked = Lowest(count, tracked: true, out var bookkeeping);
            var delta = tracked - alone;
            var marginal = previousCount == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"{(double)(delta - previousDelta) / (count - previousCount):N1} B");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {count:N0} | {alone / 1024.0:N0} KiB | {tracked / 1024.0:N0} KiB | {delta / 1024.0:N0} KiB | {(double)delta / count:N1} B | {marginal} | {(double)bookkeeping / count:N1} B |"));
            previousDelta = delta;
            previousCount = count;
        }
    }

    /// <summary>The child: allocate, then print the resident set (and the tracker's own figure).</summary>
    public static void Child(int count, bool tracked)
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = tracked ? new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, CheckIntegrityOnDispose = false }) : null;
        var blocks = new nint[count];
        for (var i = 0; i < count; i++)
        {
            blocks[i] = (nint)(tracker is null ? heap.Malloc(16, MallocCaps.Default) : tracker.Malloc(16, MallocCaps.Default));
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ResidentBytes()} {tracker?.BookkeepingBytes ?? 0}"));
        GC.KeepAlive(blocks);
    }

    private static long Lowest(int count, bool tracked, out long bookkeeping)
    {
        var lowest = long.MaxValue;
        bookkeeping = 0;
        for (var run = 0; run < 3; run++)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!, ["--tracker-memory-child", count.ToString(CultureInfo.InvariantCulture), tracked ? "tracked" : "alone"])
            {
                RedirectStandardOutput = true,
            };
            using var child = Process.Start(start)!;
            var line = child.StandardOutput.ReadToEnd().Trim().Split(' ');
            child.WaitForExit();
            lowest = Math.Min(lowest, long.Parse(line[0], CultureInfo.InvariantCulture));
            bookkeeping = long.Parse(line[1], CultureInfo.InvariantCulture);
        }

        return lowest;
    }

    /// <summary>VmRSS of this process (Linux).</summary>
    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new PlatformNotSupportedException("VmRSS is read from /proc/self/status (Linux).");
    }
}

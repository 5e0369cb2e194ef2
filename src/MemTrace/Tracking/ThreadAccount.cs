// ThreadAccount: what one thread has allocated and still holds, in total and per region, with
// peaks: ESP-IDF's per-task heap statistics (heap_task_info.c) for threads.
//
// As in ESP-IDF, a block stays charged to the thread that allocated it, so a free on another
// thread subtracts from the allocating thread's account: counters are therefore updated with
// interlocked operations (any thread may free), and a peak is raised with a compare-exchange
// loop. This is paid only when MemoryTrackerOptions.ThreadStatistics is on; otherwise no account
// exists.
using System.Runtime.CompilerServices;

namespace MemTrace.Tracking;

internal sealed class ThreadAccount
{
    /// <summary>Region slots per account; regions beyond the last share it.</summary>
    public const int MaxRegions = 32;

    public ThreadAccount(int index, Thread thread, int threadId)
    {
        Index = index;
        Thread = thread;
        ThreadId = threadId;
        Name = thread.Name;
    }

    /// <summary>The account's index in the tracker's account table (what the side table stores per block).</summary>
    public int Index { get; }

    /// <summary>The thread charged.</summary>
    public Thread Thread { get; }

    /// <summary>Managed id of <see cref="Thread"/>.</summary>
    public int ThreadId { get; }

    /// <summary>The thread's name when its account was made (a later name is read from the thread while it lives).</summary>
    public string? Name { get; }

    public long CurrentBytes;
    public long PeakBytes;
    public long CurrentBlocks;
    public long Allocations;

    public readonly long[] RegionCurrentBytes = new long[MaxRegions];
    public readonly long[] RegionPeakBytes = new long[MaxRegions];
    public readonly long[] RegionCurrentBlocks = new long[MaxRegions];
    public readonly long[] RegionAllocations = new long[MaxRegions];

    /// <summary>A block of <paramref name="bytes"/> was allocated in region slot <paramref name="region"/>.</summary>
    public void Allocated(int region, long bytes)
    {
        Interlocked.Increment(ref Allocations);
        Interlocked.Increment(ref RegionAllocations[region]);
        Interlocked.Increment(ref CurrentBlocks);
        Interlocked.Increment(ref RegionCurrentBlocks[region]);
        Add(region, bytes);
    }

    /// <summary>A block of <paramref name="bytes"/> in region slot <paramref name="region"/> was freed (by any thread).</summary>
    public void Freed(int region, long bytes)
    {
        Interlocked.Decrement(ref CurrentBlocks);
        Interlocked.Decrement(ref RegionCurrentBlocks[region]);
        Add(region, -bytes);
    }

    /// <summary>A block was resized or moved from one region slot to another by a realloc.</summary>
    public void Resized(int fromRegion, long fromBytes, int toRegion, long toBytes)
    {
        if (fromRegion != toRegion)
        {
            Interlocked.Decrement(ref RegionCurrentBlocks[fromRegion]);
            Interlocked.Increment(ref RegionCurrentBlocks[toRegion]);
            Interlocked.Increment(ref RegionAllocations[toRegion]);
            RaisePeak(ref RegionPeakBytes[toRegion], Interlocked.Add(ref RegionCurrentBytes[toRegion], toBytes));
            Interlocked.Add(ref RegionCurrentBytes[fromRegion], -fromBytes);
        }
        else
        {
            RaisePeak(ref RegionPeakBytes[toRegion], Interlocked.Add(ref RegionCurrentBytes[toRegion], toBytes - fromBytes));
        }

        RaisePeak(ref PeakBytes, Interlocked.Add(ref CurrentBytes, toBytes - fromBytes));
    }

    private void Add(int region, long bytes)
    {
        RaisePeak(ref RegionPeakBytes[region], Interlocked.Add(ref RegionCurrentBytes[region], bytes));
        RaisePeak(ref PeakBytes, Interlocked.Add(ref CurrentBytes, bytes));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RaisePeak(ref long peak, long value)
    {
        var seen = Volatile.Read(ref peak);
        while (value > seen)
        {
            var won = Interlocked.CompareExchange(ref peak, value, seen);
            if (won == seen)
            {
                return;
            }

            seen = won;
        }
    }
}

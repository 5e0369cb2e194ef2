// ThreadAccount: what one thread has allocated and still holds, in total and per region, with
// peaks: ESP-IDF's per-task heap statistics (heap_task_info.c) for threads.
//
// As in ESP-IDF, a block stays charged to the thread that allocated it, so a free on another
// thread subtracts from the allocating thread's account. Most frees happen on the allocating
// thread, so an account has two sides (mimalloc's thread-local free list and its separate,
// atomic, list for frees from other threads, applied to counters):
//
// - the owner's side, written only by the owning thread with plain stores (no interlocked
//   operation, no fence): allocations, the owner's own frees and reallocs, and the peaks it sees;
// - the remote side, a separate object (another cache line), updated with interlocked operations
//   by frees that other threads make of the owner's blocks, as signed deltas (a realloc on another
//   thread is a free here and an allocation on that thread's account, as ESP-IDF charges a
//   realloc to the current task).
//
// A count is the sum of the two sides; readers read the remote side first, then the owner's, so a
// block freed remotely was allocated in what they read and a count never reads below zero. Current
// bytes can only rise on the owner's side (an allocation, or a realloc on the owning thread): the
// owner raises its peak with its own count plus the remote delta as it reads it (a count that held
// at that moment). Totals are exact once the threads are quiet; while they run, a reader sees each
// side at some moment.
//
// This is paid only when MemoryTrackerOptions.ThreadStatistics is on; otherwise no account exists.
using System.Runtime.CompilerServices;

namespace MemTrace.Tracking;

internal sealed class ThreadAccount
{
    /// <summary>Region slots per account; regions numbered past the last share it.</summary>
    public const int MaxRegions = 32;

    /// <summary>Approximate managed bytes of one account: both sides' region counters and the objects.</summary>
    public const int ReservedBytes = (2 * MaxRegions * 4 * sizeof(long)) + 256;

    // Owner side: written by the owning thread only (plain stores), read by others with Volatile.Read.
    private readonly Counters[] _regions = new Counters[MaxRegions];
    private long _allocations;
    private long _bytes;
    private long _blocks;
    private long _peakBytes;

    // Remote side: signed deltas from other threads, interlocked.
    private readonly Remote _remote = new();

    // The thread while it may still be running; null once its cell has been retired (the thread ended), so that an
    // ended thread's Thread object, and the runtime's native thread data its finalizer releases, are not kept for as
    // long as the tracker lives with its account.
    private Thread? _thread;
    private string? _name;

    public ThreadAccount(int index, Thread thread, int threadId)
    {
        Index = index;
        _thread = thread;
        ThreadId = threadId;
        _name = thread.Name;
    }

    /// <summary>The account's index in the tracker's account table (what the side table stores per block).</summary>
    public int Index { get; }

    /// <summary>Whether the thread charged is still running.</summary>
    public bool IsAlive => Volatile.Read(ref _thread)?.IsAlive ?? false;

    /// <summary>The thread's name now while it lives, its last name once it has ended (its name when the account was made if it had none since).</summary>
    public string? CurrentName => Volatile.Read(ref _thread)?.Name ?? Volatile.Read(ref _name);

    /// <summary>Managed id of the thread charged.</summary>
    public int ThreadId { get; }

    /// <summary>
    /// The thread has ended (its cell is being retired, under the tracker's cell lock): keeps its last name and lets
    /// go of the <see cref="System.Threading.Thread"/> object.
    /// </summary>
    public void ThreadEnded()
    {
        var thread = _thread;
        if (thread is not null)
        {
            Volatile.Write(ref _name, thread.Name ?? _name);
            Volatile.Write(ref _thread, null);
        }
    }

    /// <summary>Allocations the thread made.</summary>
    public long Allocations => Volatile.Read(ref _allocations);

    /// <summary>Bytes of the thread's blocks live now.</summary>
    public long CurrentBytes
    {
        get
        {
            var remote = Volatile.Read(ref _remote.Bytes);
            return Volatile.Read(ref _bytes) + remote;
        }
    }

    /// <summary>The thread's blocks live now.</summary>
    public long CurrentBlocks
    {
        get
        {
            var remote = Volatile.Read(ref _remote.Blocks);
            return Volatile.Read(ref _blocks) + remote;
        }
    }

    /// <summary>
    /// <see cref="CurrentBytes"/> and the most bytes the thread's blocks ever took at once, read together: the peak is
    /// never below the count read with it. A side raises its peak just after its count, so a reader between the two
    /// would otherwise see a count above the peak; the count it read held at that moment, so it is a peak too.
    /// </summary>
    public (long CurrentBytes, long PeakBytes) Bytes()
    {
        var current = CurrentBytes;
        return (current, Math.Max(current, Volatile.Read(ref _peakBytes)));
    }

    /// <summary>Allocations, current bytes, peak bytes (never below the current bytes read with it, as <see cref="Bytes"/>) and current blocks of region slot <paramref name="region"/>.</summary>
    public (long Allocations, long CurrentBytes, long PeakBytes, long CurrentBlocks) Region(int region)
    {
        ref var remote = ref _remote.Regions[region];
        ref var own = ref _regions[region];
        var remoteBytes = Volatile.Read(ref remote.Bytes);
        var remoteBlocks = Volatile.Read(ref remote.Blocks);
        var bytes = Volatile.Read(ref own.Bytes) + remoteBytes;
        return (
            Volatile.Read(ref own.Allocations),
            bytes,
            Math.Max(bytes, Volatile.Read(ref own.Peak)),
            Volatile.Read(ref own.Blocks) + remoteBlocks);
    }

    /// <summary>A block of <paramref name="bytes"/> was allocated in region slot <paramref name="region"/>; called on the owning thread only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Allocated(int region, long bytes)
    {
        _allocations++;
        _blocks++;
        var total = _bytes + bytes;
        _bytes = total;
        RaiseOwnPeak(ref _peakBytes, total + Volatile.Read(ref _remote.Bytes));

        ref var counters = ref _regions[region];
        counters.Allocations++;
        counters.Blocks++;
        var inRegion = counters.Bytes + bytes;
        counters.Bytes = inRegion;
        RaiseOwnPeak(ref counters.Peak, inRegion + Volatile.Read(ref _remote.Regions[region].Bytes));
    }

    /// <summary>A block of <paramref name="bytes"/> in region slot <paramref name="region"/> was freed by the owning thread (<paramref name="byOwner"/>) or another.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Freed(int region, long bytes, bool byOwner)
    {
        if (!byOwner)
        {
            FreedRemotely(region, bytes);
            return;
        }

        _blocks--;
        _bytes -= bytes;
        ref var counters = ref _regions[region];
        counters.Blocks--;
        counters.Bytes -= bytes;
    }

    /// <summary>
    /// A block was resized or moved from one region slot to another by a realloc on the owning thread (a realloc on another
    /// thread moves the block to that thread's account: <see cref="Freed"/> here, <see cref="Allocated"/> there).
    /// </summary>
    public void Resized(int fromRegion, long fromBytes, int toRegion, long toBytes)
    {
        ref var to = ref _regions[toRegion];
        if (fromRegion != toRegion)
        {
            ref var from = ref _regions[fromRegion];
            from.Blocks--;
            from.Bytes -= fromBytes;
            to.Blocks++;
            to.Allocations++;
            to.Bytes += toBytes;
        }
        else
        {
            to.Bytes += toBytes - fromBytes;
        }

        RaiseOwnPeak(ref to.Peak, to.Bytes + Volatile.Read(ref _remote.Regions[toRegion].Bytes));
        _bytes += toBytes - fromBytes;
        RaiseOwnPeak(ref _peakBytes, _bytes + Volatile.Read(ref _remote.Bytes));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreedRemotely(int region, long bytes)
    {
        ref var counters = ref _remote.Regions[region];
        Interlocked.Decrement(ref counters.Blocks);
        Interlocked.Add(ref counters.Bytes, -bytes);
        Interlocked.Decrement(ref _remote.Blocks);
        Interlocked.Add(ref _remote.Bytes, -bytes);
    }

    /// <summary>Raises a peak of the owner's side: only the owner writes it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RaiseOwnPeak(ref long peak, long value)
    {
        if (value > peak)
        {
            peak = value;
        }
    }

    /// <summary>One region's counters on one side.</summary>
    private struct Counters
    {
        public long Allocations;
        public long Bytes;
        public long Blocks;
        public long Peak;
    }

    /// <summary>The remote side: deltas that other threads' frees apply, kept apart from the owner's counters (their allocation and peak fields stay 0).</summary>
    private sealed class Remote
    {
        public readonly Counters[] Regions = new Counters[MaxRegions];
        public long Bytes;
        public long Blocks;
    }
}

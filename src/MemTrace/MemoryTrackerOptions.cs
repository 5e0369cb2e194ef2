// MemoryTrackerOptions: settings fixed when a MemoryTracker is created. Every debugging aid is off
// by default and, when off, costs the tracked hot path at most one predictable branch.
namespace MemTrace;

/// <summary>Settings of a <see cref="MemoryTracker"/>.</summary>
public sealed class MemoryTrackerOptions
{
    /// <summary>Whether tracking starts enabled (the seed's <c>debug_track_allocation</c>). Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Where listings, memory info and failed-allocation logs go. Default <see cref="Console.Out"/>; null means nowhere.</summary>
    public TextWriter? Output { get; init; } = Console.Out;

    /// <summary>How many failed allocations <see cref="MemoryTracker.FailedAllocations"/> keeps (the most recent). Default 256.</summary>
    public int FailedAllocationCapacity { get; init; } = 256;

    /// <summary>
    /// The sink that receives the tracker's events (allocations, frees, reallocs, failures, errors,
    /// checkpoints, snapshots); null for none, which costs nothing. Build one with
    /// <c>HeapEventPipelineBuilder</c>; the tracker does not dispose it. A pipeline serves one tracker for its
    /// whole life: each tracker numbers its events and requests from 1, and two in one trace would mix them.
    /// </summary>
    public Diagnostics.IHeapEventSink? Events { get; init; }

    /// <summary>
    /// How often, while events flow, a snapshot of every region's statistics is emitted. Default 100 ms; <see cref="TimeSpan.Zero"/>
    /// for none; otherwise at least 1 ms (the tracker's constructor refuses a negative or shorter interval). With snapshots
    /// on, a failed allocation also takes one right after its event (at most one per tick of the event clock, a few
    /// milliseconds), when the regions are at their lowest.
    /// </summary>
    public TimeSpan SnapshotInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether <see cref="MemoryTracker.Free{T}(ref T*, string, string, int, string)"/> zeroes a tracked block before freeing
    /// it, as the seed's <c>free_unregister_allocation</c> does. Default true. With a quarantine
    /// (<see cref="HeapCapsOptions.Quarantine"/>) or Comprehensive poisoning, every freed block is filled with <c>0xFE</c>
    /// instead, whatever this says: the fill is what catches writes after free.
    /// </summary>
    public bool ClearOnFree { get; init; } = true;

    /// <summary>
    /// Frames of managed stack kept per allocation, from the caller of the tracker down (ESP-IDF's
    /// <c>CONFIG_HEAP_TRACING_STACK_DEPTH</c>); 0, the default, captures none. Traces are kept in managed
    /// memory beside the records, never on the traced heap, and appear in listings, leak reports,
    /// failure logs and error reports (<see cref="AllocationRecord.StackTrace"/>). Frames a printed stack trace
    /// hides (<see cref="System.Diagnostics.StackTraceHiddenAttribute"/> on the method or its type, and
    /// AggressiveInlining methods that were not inlined) are not kept and do not count: mark allocator shims
    /// that way so the kept frames start at the code that asked. Each capture walks the
    /// whole stack, which costs microseconds: see docs/benchmarks.md. At most 256.
    /// </summary>
    public int StackTraceDepth { get; init; }

    /// <summary>
    /// Keep current and peak bytes per thread and per region (ESP-IDF's <c>CONFIG_HEAP_TASK_TRACKING</c>),
    /// read with <see cref="MemoryTracker.GetThreadStatistics"/>. A block stays charged to the thread that
    /// allocated it until it is freed, by whichever thread, or reallocated: a realloc charges the block to the thread
    /// that makes it, as ESP-IDF charges it to the current task. When on, an allocation, and a free or realloc on the
    /// allocating thread, cost a region lookup and plain counter updates; a free or realloc on another thread, a
    /// few interlocked operations. Default false.
    /// </summary>
    public bool ThreadStatistics { get; init; }

    /// <summary>
    /// Keep the statistics of threads that have ended, marked not alive (ESP-IDF's <c>CONFIG_HEAP_TRACK_DELETED_TASKS</c>,
    /// printed <c>DELETED</c>). Default false, as that option's default: an ended thread's row is dropped, with the
    /// blocks it still holds (they stay live and listed by the tracker, charged to no row), and its account, about
    /// 2 kB, is let go of once none of its blocks is live, at the tracker's next sweep of ended threads (made when a new
    /// thread first uses the tracker while it holds the cells of 64 threads or more, and of twice as many as were running
    /// at its last sweep). When true, every thread that ever allocated keeps its row and account for as long as the
    /// tracker lives. Only with <see cref="ThreadStatistics"/>.
    /// </summary>
    public bool KeepEndedThreadStatistics { get; init; }

    /// <summary>
    /// Write a leak report of every block still live to <see cref="MemoryTracker.Output"/> when the tracker
    /// is disposed or, if it never is, when the process exits (<see cref="AppDomain.ProcessExit"/>), as the
    /// CRT's <c>_CRTDBG_LEAK_CHECK_DF</c> does. Default false.
    /// </summary>
    public bool ReportLeaksAtExit { get; init; }

    /// <summary>
    /// Check the whole heap's integrity when the tracker is disposed (<see cref="HeapCaps.CheckIntegrityAll(bool, TextWriter?)"/>):
    /// a corruption found is reported as any memory error, under the heap's <see cref="HeapCaps.ErrorPolicy"/>. Default true.
    /// </summary>
    public bool CheckIntegrityOnDispose { get; init; } = true;
}

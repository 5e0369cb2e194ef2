// MemoryTracker: the seed's tracked-allocation utilities over a HeapCaps.
//
// This file holds the core: creation, the per-thread cells, record handles, and the
// IAllocationObserver side through which the heap reports allocations made on it directly.
// MemoryTracker.Allocate.cs has the tracked allocation methods, MemoryTracker.Free.cs the
// free, MemoryTracker.Reports.cs the listings and logs, MemoryTracker.Checkpoints.cs and
// MemoryTracker.Leaks.cs checkpoints and leak reports, MemoryTracker.DebugAids.cs the break on a
// request, the allocation hook and stack capture, MemoryTracker.ThreadStatistics.cs per-thread
// accounting.
//
// Cost model (see docs/benchmarks.md): a tracked malloc+free pair takes no lock and allocates
// nothing managed. The record handle travels in the block's tag, so free finds its record in
// O(1) whatever the number of live blocks; handles and request numbers come from per-thread
// caches; call sites are interned ids. The debugging aids cost, when off, one test of a field on
// allocation (_admission: a break request or a hook) and one on commit and free (_recordAids:
// stacks or per-thread statistics); each record also takes the checkpoint epoch, one load.
//
// Disposal while other threads still run. Dispose frees the record store, and a record can be in
// use on another thread at that moment: a free made on the heap directly reports to the tracker
// after the block is gone, a listing may be reading. So every access to the store happens inside a
// section. A writer (always the thread that owns the block) marks its cell busy with a plain store
// and then reads _closing; a reader takes the shared _readers count (interlocked) and then reads
// _closing. Dispose sets _closing, detaches from the heap, runs a process-wide memory barrier and
// waits until no cell is busy and no reader is in: from then on no thread can reach the store. A
// section that starts later sees _closing and touches nothing; an allocation it was completing is
// left with no tag, so no block keeps a handle of the freed store. Sections never run user code
// (events are emitted after them), so they are short and cannot throw. The cost on the hot path is
// two plain stores to the thread's cell and one load of a field.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using MemTrace.Internals;
using MemTrace.Regions;
using MemTrace.Tracking;

namespace MemTrace;

/// <summary>
/// Tracks the blocks of a <see cref="HeapCaps"/>: for every block, where it was allocated (file,
/// line, member and, where the call has one, the variable), its size, caps, method, address,
/// request number, thread and time. The seed's <c>traceable_heap_caps_*</c> wrappers,
/// <c>free_unregister_allocation</c>, <c>list_allocations</c>, <c>log_memory_allocation</c> and
/// <c>print_memory_info</c>, for .NET.
/// </summary>
/// <remarks>
/// <para>Attaching a tracker to a heap makes it see every allocation on that heap, also those made
/// through <see cref="HeapCaps"/> directly (recorded with no call site). A heap has at most one
/// tracker; disposing the tracker detaches it.</para>
/// <para>Thread-safe, with no lock for the caller to create (the seed's <c>memorySemaphore</c> is not
/// needed). Timestamps come from a shared millisecond clock that a background thread refreshes every 4 ms while
/// any tracker is alive (reading the system clock on every allocation would cost more than half a
/// malloc). Request numbers are unique per tracker and increase on each thread (1, 2, 3, … in a
/// single-threaded program); threads draw them in blocks of 64, so with several threads the numbers
/// in use have gaps and their order across threads is not the order in which the requests were made
/// (use checkpoints to tell what was allocated since a point in time).</para>
/// <para>After <see cref="Dispose"/> every method that allocates, frees, lists or reports throws
/// <see cref="ObjectDisposedException"/>, and so does setting <see cref="Enabled"/>; the counters
/// (<see cref="LiveBlocks"/>, <see cref="FailedAllocations"/>, …) keep their last values. Disposing
/// the tracker while other threads still allocate and free on its heap directly is safe: the tracker
/// detaches first and waits until no thread is inside one of its records. Its own methods, though,
/// must not race with its disposal: a call that overlaps <see cref="Dispose"/> either completes
/// without recording or throws <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed unsafe partial class MemoryTracker : IDisposable, IAllocationObserver
{
    private readonly RecordStore _store = new();
    private readonly int _slot;
    private readonly Lock _cellsLock = new();
    private readonly List<TrackerThreadCell> _cells = [];

    // The counters of the cells of ended threads, let go by RetireEndedCells (read and written under _cellsLock).
    private long _retiredAllocations;
    private long _retiredAllocatedBytes;
    private long _retiredFrees;
    private long _retiredFreedBytes;

    /// <summary>How many cells the list holds when a new thread's cell makes the tracker let go of those of ended threads.</summary>
    private int _retireCellsAt = MinRetireCellsAt;
    private readonly long _startTick;
    private readonly DateTimeOffset _startTime;
    private readonly bool _clearOnFree;
    private readonly bool _checkIntegrityOnDispose;
    private readonly bool _reportLeaksAtExit;
    private long _requestCounter;
    private volatile bool _enabled;
    private int _disposed;

    /// <summary>Set by Dispose before it waits for the sections that use the store: no section may start after it.</summary>
    private volatile bool _closing;

    /// <summary>Readers of the store in progress (listings, reports, error descriptions).</summary>
    private int _readers;

    /// <summary>Creates a tracker and attaches it to <paramref name="heap"/>.</summary>
    /// <param name="heap">The heap to track.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="heap"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Another tracker is attached to the heap, or <see cref="MemoryTrackerOptions.Events"/> is a pipeline that serves another tracker (one pipeline per tracker).</exception>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range (<see cref="MemoryTrackerOptions.FailedAllocationCapacity"/> below 1, <see cref="MemoryTrackerOptions.StackTraceDepth"/> outside [0, 256], a <see cref="MemoryTrackerOptions.SnapshotInterval"/> that is negative or under 1 ms but not zero); the message names it.</exception>
    public MemoryTracker(HeapCaps heap, MemoryTrackerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(heap);
        heap.ThrowIfDisposed();
        options ??= new MemoryTrackerOptions();
        if (options.FailedAllocationCapacity <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.FailedAllocationCapacity, "FailedAllocationCapacity must be at least 1.");
        }

        if (options.StackTraceDepth is < 0 or > StackCapture.MaxDepth)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.StackTraceDepth, $"StackTraceDepth must be within [0, {StackCapture.MaxDepth}].");
        }

        if (options.SnapshotInterval != TimeSpan.Zero && options.SnapshotInterval < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.SnapshotInterval, $"SnapshotInterval must be zero (no snapshots) or at least 1 ms, not {options.SnapshotInterval}.");
        }

        var pipeline = options.Events as Diagnostics.HeapEventPipeline;
        pipeline?.Claim(this); // Before anything that needs undoing: a pipeline serves one tracker.
        Heap = heap;
        _enabled = options.Enabled;
        _clearOnFree = options.ClearOnFree;
        _checkIntegrityOnDispose = options.CheckIntegrityOnDispose;
        _reportLeaksAtExit = options.ReportLeaksAtExit;
        _stackDepth = options.StackTraceDepth;
        _stacks = _stackDepth > 0 ? new HandleSideTable<StackFrame[]?>() : null;
        if (options.ThreadStatistics)
        {
            _owners = new HandleSideTable<uint>();
            _keepEndedAccounts = options.KeepEndedThreadStatistics;
        }

        _recordAids = _stacks is not null || _owners is not null;
        Output = options.Output;
        _failures = new AllocationRecord[options.FailedAllocationCapacity];
        _startTick = Environment.TickCount64;
        _startTime = DateTimeOffset.UtcNow;
        // The clock first: it may have stood still since the last tracker went, and from Attach on, allocations
        // made on the heap by other threads are stamped with it (so is the first snapshot's due time).
        CoarseClock.Acquire();
        InitializeEvents(options);
        _slot = ThreadCells.AcquireSlot();
        try
        {
            heap.Attach(this);
        }
        catch
        {
            ThreadCells.ReleaseSlot(_slot);
            CoarseClock.Release();
            pipeline?.Unclaim(this);
            throw;
        }

        StartEvents();

        if (_reportLeaksAtExit)
        {
            AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        }
    }

    /// <summary>The heap this tracker is attached to.</summary>
    public HeapCaps Heap { get; }

    /// <summary>
    /// Whether allocations are recorded (the seed's <c>debug_track_allocation</c>). While false,
    /// tracked methods allocate without recording (the cost of <see cref="HeapCaps"/> alone);
    /// frees still release the records of blocks recorded earlier, and bad frees are still caught.
    /// A failed request made through the tracker's methods is logged either way, as the seed's
    /// <c>traceable_heap_caps_*</c> wrappers log every failure whatever <c>debug_track_allocation</c>
    /// says; a failed request made on the <see cref="HeapCaps"/> directly is logged only while this is true.
    /// False once the tracker is disposed.
    /// </summary>
    /// <exception cref="ObjectDisposedException">Set after the tracker was disposed.</exception>
    public bool Enabled
    {
        get => _enabled;
        set
        {
            ThrowIfDisposed();
            _enabled = value;

            // Dispose sets _disposed, then clears _enabled: after a full fence, either this sees
            // _disposed or Dispose's clear comes after this write.
            Interlocked.MemoryBarrier();
            if (value && Volatile.Read(ref _disposed) != 0)
            {
                _enabled = false;
                ThrowHelper.ThrowObjectDisposed(this);
            }
        }
    }

    /// <summary>Where listings, memory info and failed-allocation logs are written; null for nowhere.</summary>
    public TextWriter? Output { get; set; }

    /// <summary>Blocks recorded and still live. Never negative, also while other threads allocate and free.</summary>
    public long LiveBlocks => ReadTotals().LiveBlocks;

    /// <summary>Requested bytes of the blocks recorded and still live. Never negative, also while other threads allocate and free.</summary>
    public long LiveBytes => ReadTotals().LiveBytes;

    /// <summary>Allocations recorded since the tracker was created.</summary>
    public long TotalAllocations => ReadTotals().Allocations;

    /// <summary>Frees of recorded blocks since the tracker was created.</summary>
    public long TotalFrees => ReadTotals().Frees;

    /// <summary>
    /// Bytes the tracker itself holds for its bookkeeping (records, handle rings, counters), all
    /// outside the traced heap. Divide by <see cref="LiveBlocks"/> for the cost per live block.
    /// </summary>
    public long BookkeepingBytes
    {
        get
        {
            lock (_cellsLock)
            {
                return _store.ReservedBytes + (_cells.Count * (long)((TrackerThreadCell.RingSize * sizeof(uint)) + 128))
                    + (_stacks?.ReservedBytes ?? 0) + (_owners?.ReservedBytes ?? 0) + (_accounts.Length * (long)sizeof(nint)) + ((_accountCount - _releasedAccounts) * (long)ThreadAccountBytes);
            }
        }
    }

    /// <summary>
    /// Checks the heap's integrity (unless <see cref="MemoryTrackerOptions.CheckIntegrityOnDispose"/> is
    /// false), writes the leak report when <see cref="MemoryTrackerOptions.ReportLeaksAtExit"/> is set,
    /// then detaches the tracker from its heap and releases its records. Blocks stay allocated, with no
    /// trace of the tracker: free them with <see cref="HeapCaps.Free(void*)"/>.
    /// </summary>
    /// <remarks>
    /// Other threads may go on allocating and freeing on the heap directly while the tracker is disposed:
    /// the tracker detaches, then waits until no thread is inside one of its records before it frees
    /// them. The heap may also have been disposed first. The tracker's own methods must not be called
    /// concurrently with <see cref="Dispose"/> (see <see cref="MemoryTracker"/>).
    /// </remarks>
    /// <exception cref="MemoryErrorException">The integrity check found a corruption and the heap's policy is
    /// <see cref="MemoryErrorPolicy.Throw"/>; the tracker is disposed all the same.</exception>
    /// <exception cref="InvalidOperationException">Called from inside a walker of the tracker's heap (<see cref="HeapCaps.Walk"/>); nothing is disposed.</exception>
    public void Dispose()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            Heap.ThrowIfWalkingOnThisThread("The tracker cannot be disposed from inside a walker of its heap");
        }

        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _enabled = false;
        ExceptionDispatchInfo? integrityFailure = null;
        try
        {
            if (_checkIntegrityOnDispose)
            {
                CheckIntegrityAtShutdown();
            }
        }
        catch (MemoryErrorException e)
        {
            integrityFailure = ExceptionDispatchInfo.Capture(e);
        }

        if (_reportLeaksAtExit)
        {
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            WriteShutdownLeakReport();
        }

        StopEvents();

        // No section may start from now on; wait for those in progress, then no thread can reach the store.
        _closing = true;
        Heap.Detach(this);
        var quiet = WaitForSections();
        ClearTagsOfLiveBlocks();
        if (quiet)
        {
            _store.Dispose();
        }

        ThreadCells.ReleaseSlot(_slot);
        CoarseClock.Release();
        integrityFailure?.Throw();
    }

    /// <summary>
    /// Runs the heap's integrity check while the tracker is still attached, so that corruptions are
    /// reported with what it knows of the blocks. Everything found is reported as a <see cref="MemoryError"/>
    /// under the heap's policy, a region whose own structures are damaged (a TLSF region without
    /// poisoning) included.
    /// </summary>
    private void CheckIntegrityAtShutdown()
    {
        try
        {
            Heap.CheckIntegrityReporting("when the tracker was disposed");
        }
        catch (ObjectDisposedException)
        {
            // The heap went first: there is nothing left to check.
        }
    }

    /// <summary>
    /// Waits until no thread is inside a section that uses the store (see the top of this file). False
    /// when one is still inside after <see cref="SectionWaitMilliseconds"/> (only a bug could cause it):
    /// the store is then left allocated rather than freed under that thread.
    /// </summary>
    private bool WaitForSections()
    {
        // Makes _closing visible to every thread, and their busy marks to this one (the other
        // side of the plain stores on the hot path).
        Interlocked.MemoryBarrierProcessWide();
        TrackerThreadCell[] cells;
        lock (_cellsLock)
        {
            cells = [.. _cells];
        }

        var deadline = Environment.TickCount64 + SectionWaitMilliseconds;
        var spinner = default(SpinWait);
        foreach (var cell in cells)
        {
            while (Volatile.Read(ref cell.Busy) != 0)
            {
                if (ReferenceEquals(cell.Thread, Thread.CurrentThread) || Environment.TickCount64 > deadline)
                {
                    return false;
                }

                spinner.SpinOnce();
            }
        }

        while (Volatile.Read(ref _readers) != 0)
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            spinner.SpinOnce();
        }

        return true;
    }

    /// <summary>The fewest cells at which the cells of ended threads are let go.</summary>
    private const int MinRetireCellsAt = 64;

    /// <summary>How long Dispose waits for threads inside the store's sections, which run no user code and take microseconds.</summary>
    private const int SectionWaitMilliseconds = 10_000;

    /// <summary>Enters a section that writes records: false when the tracker is closing (then nothing may be written).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool EnterRecords(TrackerThreadCell cell)
    {
        Volatile.Write(ref cell.Busy, cell.Busy + 1);
        if (!_closing)
        {
            return true;
        }

        Volatile.Write(ref cell.Busy, cell.Busy - 1);
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ExitRecords(TrackerThreadCell cell) => Volatile.Write(ref cell.Busy, cell.Busy - 1);

    /// <summary>Enters a section that reads records from any thread: false when the tracker is closing.</summary>
    private bool EnterReader()
    {
        Interlocked.Increment(ref _readers);
        if (!_closing)
        {
            return true;
        }

        Interlocked.Decrement(ref _readers);
        return false;
    }

    private void ExitReader() => Interlocked.Decrement(ref _readers);

    /// <summary>
    /// A block whose record could not be written because the tracker is closing: it keeps no tag, so
    /// that nothing later takes it for a block of the store that is being freed. The caller owns it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Abandon(void* block) => Heap.SetTag(block, 0);

    // ---- Per-thread cells ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TrackerThreadCell Cell() => ThreadCells.TryGet<TrackerThreadCell>(_slot, this) ?? CreateCell();

    /// <summary>The cell of a thread that the heap calls back (it may be any thread, at any time): null once the tracker is closing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TrackerThreadCell? ObserverCell() => ThreadCells.TryGet<TrackerThreadCell>(_slot, this) ?? TryCreateCell();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TrackerThreadCell CreateCell()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }

        return AddCell();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TrackerThreadCell? TryCreateCell() => _closing ? null : AddCell();

    private TrackerThreadCell AddCell()
    {
        var cell = new TrackerThreadCell(this);
        lock (_cellsLock)
        {
            if (_cells.Count >= _retireCellsAt)
            {
                RetireEndedCells();
            }

            _cells.Add(cell);
            if (_owners is not null)
            {
                cell.Account = AddAccount(cell);
            }
        }

        ThreadCells.Set(_slot, cell);
        return cell;
    }

    /// <summary>
    /// Lets go of the cells of threads that have ended (the caller holds <see cref="_cellsLock"/>): their free handles
    /// go to the shared pool and their counters, final since only a cell's thread writes them, to the retired totals.
    /// Without this a tracker kept a cell (a ring of handles and counters, about 1 kB) for every thread that ever used
    /// it, and every reading of its totals went through all of them. The next sweep comes when the list has doubled.
    /// </summary>
    private void RetireEndedCells()
    {
        Span<uint> batch = stackalloc uint[TrackerThreadCell.RingSize];
        var kept = 0;
        for (var index = 0; index < _cells.Count; index++)
        {
            var cell = _cells[index];
            if (cell.Thread.IsAlive)
            {
                _cells[kept++] = cell;
                continue;
            }

            GiveBackHandles(cell, batch);
            if (cell.Account is { } account)
            {
                account.ThreadEnded();
                if (!_keepEndedAccounts)
                {
                    _endedAccounts.Add(account);
                }
            }

            _retiredAllocations += Volatile.Read(ref cell.Allocations);
            _retiredAllocatedBytes += Volatile.Read(ref cell.AllocatedBytes);
            _retiredFrees += Volatile.Read(ref cell.Frees);
            _retiredFreedBytes += Volatile.Read(ref cell.FreedBytes);
        }

        _cells.RemoveRange(kept, _cells.Count - kept);
        _retireCellsAt = Math.Max(MinRetireCellsAt, 2 * kept);
        if (_endedAccounts.Count != 0)
        {
            ReleaseEndedAccounts();
        }
    }

    /// <summary>
    /// The counters of all threads, summed. Each thread counts its own allocations and frees, and a block may be
    /// freed on another thread than the one that allocated it; read one thread after the other, a free could be
    /// counted without its allocation (live figures below zero). So every thread's frees are read first, then every
    /// thread's allocations: a free seen was made after its allocation, which the second pass then sees too.
    /// </summary>
    internal TrackerTotals ReadTotals()
    {
        long frees, freedBytes, allocations, allocatedBytes;
        lock (_cellsLock)
        {
            frees = _retiredFrees;
            freedBytes = _retiredFreedBytes;
            allocations = _retiredAllocations;
            allocatedBytes = _retiredAllocatedBytes;
            foreach (var cell in _cells)
            {
                frees += Volatile.Read(ref cell.Frees);
                freedBytes += Volatile.Read(ref cell.FreedBytes);
            }

            foreach (var cell in _cells)
            {
                allocations += Volatile.Read(ref cell.Allocations);
                allocatedBytes += Volatile.Read(ref cell.AllocatedBytes);
            }
        }

        return new TrackerTotals(allocations, frees, allocatedBytes, freedBytes);
    }

    // ---- Record handles and request numbers ----

    /// <summary>A free record handle, or 0 when the tracker could get no memory for one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint TakeHandle(TrackerThreadCell cell) => cell.Count != 0 ? cell.Pop() : Refill(cell);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint Refill(TrackerThreadCell cell)
    {
        Span<uint> batch = stackalloc uint[RecordStore.Batch];
        var count = _store.TakePooled(batch);
        if (count == 0)
        {
            HarvestEndedThreads();
            count = _store.TakePooled(batch);
        }

        if (count == 0)
        {
            count = _store.TakeFresh(batch);
        }

        if (count == 0)
        {
            return 0;
        }

        for (var i = 1; i < count; i++)
        {
            cell.Push(batch[i]);
        }

        return batch[0];
    }

    /// <summary>
    /// Puts back a handle taken for a request that failed, to be reused first. The failure callback ran
    /// in between and may have freed blocks on this thread, filling the ring: spill first then.
    /// </summary>
    private void ReturnUnused(TrackerThreadCell cell, uint handle)
    {
        if (cell.Count == TrackerThreadCell.RingSize)
        {
            Spill(cell);
        }

        cell.PushFront(handle);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void GiveHandle(TrackerThreadCell cell, uint handle)
    {
        if (cell.Count == TrackerThreadCell.RingSize)
        {
            Spill(cell);
        }

        cell.Push(handle);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Spill(TrackerThreadCell cell)
    {
        Span<uint> batch = stackalloc uint[RecordStore.Batch];
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i] = cell.Pop();
        }

        _store.Give(batch);
    }

    /// <summary>Moves the free handles of cells whose threads have ended to the shared pool.</summary>
    private void HarvestEndedThreads()
    {
        Span<uint> batch = stackalloc uint[TrackerThreadCell.RingSize];
        lock (_cellsLock)
        {
            foreach (var cell in _cells)
            {
                if (cell.Count != 0 && !cell.Thread.IsAlive)
                {
                    GiveBackHandles(cell, batch);
                    cell.Account?.ThreadEnded();
                }
            }
        }
    }

    /// <summary>Moves the free handles of <paramref name="cell"/>, whose thread has ended, to the shared pool (under <see cref="_cellsLock"/>).</summary>
    private void GiveBackHandles(TrackerThreadCell cell, Span<uint> batch)
    {
        var count = cell.Count;
        for (var i = 0; i < count; i++)
        {
            batch[i] = cell.Pop();
        }

        _store.Give(batch[..count]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long NextRequestNumber(TrackerThreadCell cell) =>
        cell.NextRequest != cell.RequestEnd ? cell.NextRequest++ : NewRequestBlock(cell);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private long NewRequestBlock(TrackerThreadCell cell)
    {
        var end = Interlocked.Add(ref _requestCounter, TrackerThreadCell.RequestBlock) + 1;
        cell.RequestEnd = end;
        cell.NextRequest = end - TrackerThreadCell.RequestBlock + 1;
        return end - TrackerThreadCell.RequestBlock;
    }

    // ---- Records ----

    /// <summary>Writes the record of a new live block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Commit(TrackerThreadCell cell, uint handle, void* block, nuint size, MallocCaps caps, uint site, long request)
    {
        if (_recordAids)
        {
            CommitWithAids(cell, handle, block, size, caps, site, request);
            return;
        }

        if (!EnterRecords(cell))
        {
            Abandon(block);
            return;
        }

        ref var record = ref _store[handle];
        TrackedRecord.BeginWrite(ref record);
        WriteLive(ref record, cell, block, size, caps, site, request);
        TrackedRecord.EndWrite(ref record, RecordState.Live);
        ExitRecords(cell);
        Count(cell, block, size, caps, site, request);
    }

    /// <summary>The fields of a new live record; the caller holds the record's write window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteLive(ref TrackedRecord record, TrackerThreadCell cell, void* block, nuint size, MallocCaps caps, uint site, long request)
    {
        record.Caps = (uint)caps;
        record.Address = (nuint)block;
        record.Size = size;
        record.RequestNumber = request;
        record.Timestamp = CoarseClock.Now;
        record.AllocSite = site;
        record.ReallocSite = 0;
        record.ThreadId = cell.ThreadId;
        record.FreeSite = 0;
        record.Epoch = Volatile.Read(ref _checkpointEpoch);
    }

    /// <summary>The counters and event of a new live block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Count(TrackerThreadCell cell, void* block, nuint size, MallocCaps caps, uint site, long request)
    {
        cell.AllocatedBytes += (long)size;
        cell.Allocations++;
        if (EmitsEvent(Diagnostics.HeapEventKind.Allocation) && !TryDropAllocationEvent(cell))
        {
            EmitAllocation(block, size, caps, site, request, cell);
        }
    }

    /// <summary>Marks the record of a freed block and gives its handle back (nothing once the tracker is closing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Release(TrackerThreadCell cell, uint handle, uint freeSite, long sequence = 0)
    {
        if (!EnterRecords(cell))
        {
            return;
        }

        ref var record = ref _store[handle];
        TrackedRecord.BeginWrite(ref record);
        record.FreeSite = freeSite;
        record.FreeThreadId = cell.ThreadId;
        TrackedRecord.EndWrite(ref record, RecordState.Freed);
        var size = record.Size;
        if (_recordAids)
        {
            ReleaseAids(cell, handle, size);
        }

        // A free event found before the free to be dropped by this thread's full ring (FreeEventSequence) is counted
        // here, with no record copy and no call: the event most frees have in drop mode. Any other goes the full way.
        var emits = EmitsEvent(Diagnostics.HeapEventKind.Free);
        var droppedBy = emits && sequence == DroppedFreeSequence ? cell.TraceRing : null;
        if (emits && droppedBy is null)
        {
            ReleaseWithEvent(cell, handle, record, freeSite, sequence);
            return;
        }

        ExitRecords(cell);
        cell.FreedBytes += (long)size;
        cell.Frees++;
        GiveHandle(cell, handle);
        if (droppedBy is not null)
        {
            droppedBy.CountDrop();
            var tick = CoarseClock.Now;
            if (tick >= _nextSnapshot)
            {
                SnapshotIfDue(tick); // As EmitFree does after a numbered free.
            }
        }
    }

    /// <summary>The end of <see cref="Release"/> when a sink listens: the event is built from a copy, after the section.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReleaseWithEvent(TrackerThreadCell cell, uint handle, TrackedRecord copy, uint freeSite, long sequence)
    {
        ExitRecords(cell);
        cell.FreedBytes += (long)copy.Size;
        cell.Frees++;
        EmitFree(cell, copy, freeSite, sequence);
        GiveHandle(cell, handle);
    }

    /// <summary>Updates the record of a block that a realloc resized or moved (once the tracker is closing, clears the block's tag instead).</summary>
    private void Reallocated(TrackerThreadCell cell, uint handle, void* block, nuint size, MallocCaps caps, uint site)
    {
        if (!EnterRecords(cell))
        {
            Abandon(block);
            return;
        }

        ref var record = ref _store[handle];
        var oldSize = record.Size;
        var oldAddress = record.Address;
        TrackedRecord.BeginWrite(ref record);
        record.Address = (nuint)block;
        record.Size = size;
        record.Caps = (uint)caps;
        record.ReallocSite = site;
        if (_recordAids)
        {
            ReallocAids(cell, handle, block, oldSize, size);
        }

        TrackedRecord.EndWrite(ref record, RecordState.Live);
        var emits = EmitsEvent(Diagnostics.HeapEventKind.Reallocation);
        var copy = emits ? record : default;
        ExitRecords(cell);
        if (size >= oldSize)
        {
            cell.AllocatedBytes += (long)(size - oldSize);
        }
        else
        {
            cell.FreedBytes += (long)(oldSize - size);
        }

        if (emits)
        {
            EmitReallocation(copy, oldAddress, oldSize, site, cell.ThreadId);
        }
    }

    /// <summary>A record for users; <paramref name="stack"/> is the allocation's kept frames, if any.</summary>
    private AllocationRecord ToAllocationRecord(in TrackedRecord record, StackFrame[]? stack = null) => new()
    {
        AllocatedAt = CallSiteRegistry.Get(record.AllocSite),
        ReallocatedAt = record.ReallocSite != 0 ? CallSiteRegistry.Get(record.ReallocSite) : null,
        Size = record.Size,
        Caps = (MallocCaps)record.Caps,
        Address = record.Address,
        RequestNumber = record.RequestNumber,
        ThreadId = record.ThreadId,
        Timestamp = ToTime(record.Timestamp),
        StackTrace = StackCapture.ToStackTrace(stack),
    };

    private DateTimeOffset ToTime(long tick) => _startTime.AddMilliseconds(tick - _startTick);

    /// <summary>Consistent copies of every record in <paramref name="state"/>, with their handles and kept stacks (a reader's section: from any thread).</summary>
    /// <exception cref="ObjectDisposedException">The tracker is being disposed.</exception>
    private List<RecordCopy> ReadRecords(RecordState state)
    {
        if (!EnterReader())
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }

        try
        {
            return ReadRecordsCore(state);
        }
        finally
        {
            ExitReader();
        }
    }

    /// <summary><see cref="ReadRecords"/> for a caller already inside a section, or Dispose once no thread is.</summary>
    private List<RecordCopy> ReadRecordsCore(RecordState state)
    {
        var list = new List<RecordCopy>();
        var limit = _store.HandleLimit;
        for (uint handle = 1; handle < limit; handle++)
        {
            var record = ReadWithStack(handle, out var stack);
            if (record.State == state)
            {
                list.Add(new RecordCopy(handle, record, stack));
            }
        }

        return list;
    }

    /// <summary>A consistent copy of a record and of the stack kept beside it (null when stacks are not kept).</summary>
    private TrackedRecord ReadWithStack(uint handle, out StackFrame[]? stack)
    {
        if (_stacks is null)
        {
            stack = null;
            return TrackedRecord.ReadConsistent(ref _store[handle]);
        }

        return TrackedRecord.ReadConsistent<StackFrame[]?>(ref _store[handle], _stacks, handle, out stack);
    }

    /// <summary>A user record of a copied record, with its stack when stacks are kept.</summary>
    private AllocationRecord ToAllocationRecord(in RecordCopy copy) => ToAllocationRecord(copy.Record, copy.Stack);

    /// <summary>
    /// Clears the tags of the blocks still live, so that a tracker attached later does not take them for
    /// its own. Other threads may be freeing or reallocating these blocks meanwhile: the heap clears a tag
    /// only while the block is live and still has that tag. Nothing to do when the heap went first.
    /// </summary>
    private void ClearTagsOfLiveBlocks()
    {
        if (_store.HandleLimit <= 1 || Heap.IsDisposed)
        {
            return;
        }

        foreach (var copy in ReadRecordsCore(RecordState.Live))
        {
            Heap.ClearTag((void*)copy.Record.Address, copy.Handle);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }
    }

    // ---- IAllocationObserver: allocations made on the heap directly ----

    bool IAllocationObserver.BeginAllocation(AllocationMethod method, nuint n, nuint size, MallocCaps caps, out uint tag, out long request)
    {
        tag = 0;
        request = 0;
        if (!_enabled)
        {
            return true;
        }

        var cell = ObserverCell();
        if (cell is null)
        {
            return true;
        }

        request = NextRequestNumber(cell);
        if (_admission != 0 && !AdmitDirect(request, method, n, size, caps, 0))
        {
            return false;
        }

        tag = TakeHandle(cell);
        return true;
    }

    void IAllocationObserver.EndAllocation(uint tag, long request, void* block, AllocationMethod method, nuint n, nuint size, MallocCaps caps, nuint alignment)
    {
        if (tag == 0)
        {
            return;
        }

        var cell = ObserverCell();
        if (cell is null)
        {
            if (block is not null)
            {
                Abandon(block);
            }

            return;
        }

        if (block is null)
        {
            ReturnUnused(cell, tag);
            if (n != 0 && size != 0)
            {
                LogFailure(method, size, caps, CallSiteRegistry.Unlocated(method), request, elements: n, alignment: alignment);
            }

            return;
        }

        Commit(cell, tag, block, n * size, caps, CallSiteRegistry.Unlocated(method), request);
    }

    void IAllocationObserver.ReleaseUnusedTag(uint tag)
    {
        if (ObserverCell() is { } cell)
        {
            ReturnUnused(cell, tag);
        }
    }

    bool IAllocationObserver.AdmitReallocation(void* ptr, nuint size, MallocCaps caps, AllocationMethod method) =>
        !_enabled || _admission == 0 || AdmitDirect(0, method, 1, size, caps, (nuint)ptr);

    void IAllocationObserver.OnReallocationFailed(nuint size, MallocCaps caps, AllocationMethod method)
    {
        // As a failed tracked realloc: no request number of its own, so the failure is logged with a fresh one.
        if (_enabled && ObserverCell() is { } cell)
        {
            LogFailure(method, size, caps, CallSiteRegistry.Unlocated(method), NextRequestNumber(cell));
        }
    }

    void IAllocationObserver.OnReallocated(uint tag, void* block, nuint size, MallocCaps caps, AllocationMethod method)
    {
        var cell = ObserverCell();
        if (tag != 0)
        {
            if (cell is null)
            {
                Abandon(block);
                return;
            }

            Reallocated(cell, tag, block, size, caps, CallSiteRegistry.Unlocated(method));
        }
        else if (_enabled && cell is not null)
        {
            // A block made while the tracker was not recording: record it from now on.
            TrackFromNow(cell, block, size, caps, CallSiteRegistry.Unlocated(method));
        }
    }

    long IAllocationObserver.BeginFree() => FreeEventSequence(cell: null);

    void IAllocationObserver.OnFreed(uint tag, void* block, AllocationMethod method, long sequence)
    {
        if (ObserverCell() is { } cell)
        {
            Release(cell, tag, CallSiteRegistry.Unlocated(method), sequence);
        }
    }

    MemoryError IAllocationObserver.Describe(MemoryError error, uint blockTag, in BlockWitness? witness)
    {
        if (!EnterReader())
        {
            return error; // The tracker is being disposed: the error goes out as the heap built it.
        }

        try
        {
            return DescribeInSection(error, blockTag, witness);
        }
        finally
        {
            ExitReader();
        }
    }

    private MemoryError DescribeInSection(MemoryError error, uint blockTag, in BlockWitness? witness)
    {
        AllocationRecord? block = null;
        CallSite? freedAt = null;
        int? freedBy = null;
        string? note = error.Note;
        var aboutAFree = error.Kind is MemoryErrorKind.WriteAfterFree or MemoryErrorKind.DoubleFree or MemoryErrorKind.ReallocOfFreedBlock;
        if (witness is { } kept)
        {
            // The copy made when the block was freed: its record may describe another block by now.
            block = ToAllocationRecord(kept.Record, kept.Stack);
            if (aboutAFree && kept.Record.FreeSite != 0)
            {
                freedAt = CallSiteRegistry.Get(kept.Record.FreeSite);
                freedBy = kept.Record.FreeThreadId;
            }
        }
        else if (blockTag != 0 && blockTag < _store.HandleLimit)
        {
            // A handle is reused once its block is freed: the record counts only if it is still this block's.
            var record = ReadWithStack(blockTag, out var stack);
            if (record.Address == (error.BlockAddress ?? error.Address))
            {
                if (record.State == RecordState.Live && error.Kind != MemoryErrorKind.WriteAfterFree)
                {
                    block = ToAllocationRecord(record, stack);
                }
                else if (record.State == RecordState.Freed)
                {
                    block = ToAllocationRecord(record, stack);
                    if (aboutAFree)
                    {
                        freedAt = CallSiteRegistry.Get(record.FreeSite);
                        freedBy = record.FreeThreadId;
                    }
                }
            }
        }

        if (error.Kind is MemoryErrorKind.DoubleFree or MemoryErrorKind.ReallocOfFreedBlock)
        {
            RecordCopy? latest = null;
            foreach (var copy in ReadRecordsCore(RecordState.Freed))
            {
                if (copy.Record.Address == error.Address && (latest is null || copy.Record.RequestNumber > latest.Value.Record.RequestNumber))
                {
                    latest = copy;
                }
            }

            if (latest is { } freed)
            {
                block = ToAllocationRecord(freed);
                freedAt = CallSiteRegistry.Get(freed.Record.FreeSite);
                freedBy = freed.Record.FreeThreadId;
            }
            else
            {
                note = "The tracker no longer holds this block's record (it was not tracked, or its record has been reused).";
            }
        }

        return error with
        {
            Block = block ?? error.Block,
            BlockSize = block?.Size ?? error.BlockSize,
            BlockAddress = block?.Address ?? error.BlockAddress,
            FreedAt = freedAt ?? error.FreedAt,
            FreedByThreadId = freedBy ?? error.FreedByThreadId,
            AllocationStackTrace = block?.StackTrace ?? error.AllocationStackTrace,
            Note = note,
        };
    }

    bool IAllocationObserver.TryWitness(uint tag, nuint address, out BlockWitness witness)
    {
        witness = default;
        if (tag == 0 || tag >= _store.HandleLimit || !EnterReader())
        {
            return false; // No record, or the tracker is being disposed: its store may be going.
        }

        try
        {
            var record = ReadWithStack(tag, out var stack);
            if (record.Address != address)
            {
                return false;
            }

            if (record.State == RecordState.Live)
            {
                // Being freed by the call in progress on this thread (the tracker releases the record just after).
                var site = CallSiteContext.Current;
                record.FreeSite = site != 0 ? site : CallSiteRegistry.Unlocated(AllocationMethod.Free);
                record.FreeThreadId = Environment.CurrentManagedThreadId;
            }
            else if (record.State != RecordState.Freed)
            {
                return false;
            }

            witness = new BlockWitness(record, stack);
            return true;
        }
        finally
        {
            ExitReader();
        }
    }
}

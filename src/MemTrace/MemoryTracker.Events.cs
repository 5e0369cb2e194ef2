// Events: what the tracker tells its sink.
//
// The hot path tests one field, _eventGate, a mask of event kinds (HeapEventKindMask): an emit
// method is called only for a kind that some sink takes (the pipeline's mask: its sinks' levels
// and kind filters), that triggers the periodic snapshot check, or that feeds HeapMetrics' size
// histogram. So with no sink, with an empty pipeline, or with sinks that take only warnings and
// errors, an allocation or free builds no event and costs one test of a field.
//
// The emit methods are off the hot path (NoInlining) and build the compact HeapEvent in place:
// call sites and the region are ids, the time is the coarse clock's tick (one load, converted to
// UTC ticks with one multiply-add), the thread id comes from the caller's cell. The event goes
// straight to the one sink of a simple pipeline (into the emitting thread's ring of a
// TraceFileWriter). A sink that throws is reported to the self-log and never breaks the operation.
//
// Sequence numbers come from one interlocked increment per event: a total order that respects
// what happened before what across threads, which the trace and the report rely on (a free on
// one thread comes after the allocation on another; a free is numbered before the heap releases its
// block, so it comes before that block's next allocation on another thread). The exception is a
// realloc that moves its block: numbered after the move, as the host heap's realloc moves inside
// the C library with no moment between taking the new block and releasing the old one; an
// allocation of the old address on another thread may carry a smaller number (the report sets the
// older block aside and matches its late realloc by request number). The periodic snapshot check compares the
// tick already loaded with the time the next snapshot is due; the snapshot takes its number
// before the event that triggered it.
using System.Runtime.CompilerServices;
using MemTrace.Diagnostics;
using MemTrace.Diagnostics.Sinks;
using MemTrace.Internals;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    private readonly Lock _eventGateLock = new();
    private IHeapEventSink? _events;
    private HeapEventPipeline? _pipeline;
    private HeapMetrics[] _metrics = [];
    private int _eventKinds;
    private int _eventGate;
    private long _snapshotIntervalMilliseconds;
    private long _nextSnapshot = long.MaxValue;

    /// <summary>The clock tick of the last snapshot a failed allocation took (a failure takes one unless another failure took one at its tick).</summary>
    private long _lastFailureSnapshotTick = -1;

    private long _eventTimeBase;
    private long _eventSequence;

    /// <summary>The "number" of a free whose event is known, before the free, to be dropped (see <see cref="FreeEventSequence"/>).</summary>
    private const long DroppedFreeSequence = -1;

    /// <summary>The sink this tracker emits to, if any.</summary>
    public IHeapEventSink? Events => _events;

    /// <summary>The sequence number of the last event built (0 when none was): a test hook that shows which events were built at all.</summary>
    internal long LastEventSequence => Volatile.Read(ref _eventSequence);

    /// <summary>The kinds the tracker calls an emit method for, as bits (<see cref="HeapEventKindMask"/>).</summary>
    internal int EventGate => Volatile.Read(ref _eventGate);

    /// <summary>Whether the emit method of <paramref name="kind"/> must be called: one test of a field.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool EmitsEvent(HeapEventKind kind) => (_eventGate & (1 << (int)kind)) != 0;

    /// <summary>
    /// The number a free's event will carry, drawn before the heap releases the block (0 when no free event is built):
    /// once released, the block can be handed out to another thread at once, and that allocation's event must come
    /// after this free in sequence order. A free that turns out to be bad leaves its number unused (a gap).
    /// <see cref="DroppedFreeSequence"/> when the event will be dropped: a lone trace writer in drop mode whose ring
    /// for this thread is already full takes no number (an interlocked operation) for an event it will not write.
    /// </summary>
    /// <param name="cell">The calling thread's cell, whose trace ring is asked; null (a free the heap reports) to ask the writer.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long FreeEventSequence(TrackerThreadCell? cell)
    {
        if (!EmitsEvent(HeapEventKind.Free) || !HeapEventKindMask.Has(_eventKinds, HeapEventKind.Free))
        {
            return 0;
        }

        return _pipeline?.DirectWriter is { } writer && (cell is null ? writer.WouldDrop() : writer.WouldDrop(cell.TraceRing))
            ? DroppedFreeSequence
            : Interlocked.Increment(ref _eventSequence);
    }

    /// <summary>The tracker whose (non-pipeline) sink runs on this thread, if any: see <see cref="Send"/>.</summary>
    [ThreadStatic]
    private static MemoryTracker? t_sending;

    /// <summary>1 once a sink's use of the traced heap has been reported to the SelfLog.</summary>
    private int _reportedReentry;

    /// <summary>Takes the sink and the snapshot interval; called by the constructor once the start time is set.</summary>
    private void InitializeEvents(MemoryTrackerOptions options)
    {
        _events = options.Events;
        _pipeline = _events as HeapEventPipeline;
        _eventKinds = _pipeline?.EnabledKinds ?? (_events is null ? 0 : HeapEventKindMask.All);
        _snapshotIntervalMilliseconds = (long)options.SnapshotInterval.TotalMilliseconds;
        _eventTimeBase = _startTime.UtcTicks - (_startTick * TimeSpan.TicksPerMillisecond);
        if (_snapshotIntervalMilliseconds > 0 && HeapEventKindMask.Has(_eventKinds, HeapEventKind.Snapshot))
        {
            _nextSnapshot = CoarseClock.Now + _snapshotIntervalMilliseconds;
        }

        UpdateEventGate();
    }

    /// <summary>Subscribes to the heap's errors and emits the first snapshot; called by the constructor once the tracker is attached.</summary>
    private void StartEvents()
    {
        if (HeapEventKindMask.Has(_eventKinds, HeapEventKind.MemoryError) || _nextSnapshot != long.MaxValue)
        {
            Heap.MemoryErrorDetected += OnHeapError;
        }

        EmitSnapshot();
    }

    /// <summary>Emits the last snapshot and unsubscribes; called by Dispose.</summary>
    private void StopEvents()
    {
        EmitSnapshot();
        _nextSnapshot = long.MaxValue;
        Heap.MemoryErrorDetected -= OnHeapError; // Nothing when it never subscribed.
    }

    /// <summary>Makes <paramref name="metrics"/> record the size of every allocation from now on, beside any other attached before.</summary>
    internal void AttachMetrics(HeapMetrics metrics)
    {
        lock (_eventGateLock)
        {
            if (Array.IndexOf(_metrics, metrics) < 0)
            {
                Volatile.Write(ref _metrics, [.. _metrics, metrics]);
            }

            UpdateEventGateLocked();
        }
    }

    /// <summary>Stops handing allocations to <paramref name="metrics"/>, if it is attached.</summary>
    internal void DetachMetrics(HeapMetrics metrics)
    {
        lock (_eventGateLock)
        {
            if (Array.IndexOf(_metrics, metrics) >= 0)
            {
                Volatile.Write(ref _metrics, [.. _metrics.Where(m => m != metrics)]);
                UpdateEventGateLocked();
            }
        }
    }

    private void UpdateEventGate()
    {
        lock (_eventGateLock)
        {
            UpdateEventGateLocked();
        }
    }

    private void UpdateEventGateLocked()
    {
        var gate = _eventKinds;
        if (_nextSnapshot != long.MaxValue)
        {
            gate |= HeapEventKindMask.Operations;
        }

        if (_metrics.Length != 0)
        {
            gate |= HeapEventKindMask.Of(HeapEventKind.Allocation);
        }

        Volatile.Write(ref _eventGate, gate);
    }

    /// <summary>
    /// Counts the allocation event of the calling thread as dropped when <see cref="EmitAllocation"/> would do nothing
    /// else: a lone trace writer in drop mode whose ring for this thread is full, no metrics to record the size, and no
    /// snapshot due. True when it did; false sends the event to <see cref="EmitAllocation"/>. Inlined into the
    /// allocation, so that the event most allocations have in drop mode costs no call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryDropAllocationEvent(TrackerThreadCell cell)
    {
        var ring = cell.TraceRing;
        if (ring is null
            || _metrics.Length != 0
            || !HeapEventKindMask.Has(_eventKinds, HeapEventKind.Allocation)
            || _pipeline?.DirectWriter is not { } writer
            || !writer.WouldDrop(ring)
            || CoarseClock.Now >= _nextSnapshot)
        {
            return false;
        }

        ring.CountDrop();
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitAllocation(void* block, nuint size, MallocCaps caps, uint site, long request, TrackerThreadCell cell)
    {
        var threadId = cell.ThreadId;
        var tick = EventTick();

        var region = -1;
        foreach (var metrics in _metrics)
        {
            if (metrics.RecordsSizes)
            {
                if (region < 0)
                {
                    region = Heap.RegionNameIdOf(block);
                }

                metrics.RecordAllocation(size, region);
            }
        }

        if (!HeapEventKindMask.Has(_eventKinds, HeapEventKind.Allocation))
        {
            return;
        }

        if (TryWriteDirect(ref cell.TraceRing, HeapEventKind.Allocation, sequence: 0, tick, threadId, (nuint)block, size, (uint)caps, request, site, allocSite: 0, region))
        {
            return;
        }

        if (region < 0)
        {
            region = Heap.RegionNameIdOf(block);
        }

        var heapEvent = new HeapEvent(
            HeapEventKind.Allocation,
            Interlocked.Increment(ref _eventSequence),
            UtcTicksAt(tick),
            threadId,
            (nuint)block,
            size,
            (uint)caps,
            request,
            site,
            allocSite: 0,
            region);
        Dispatch(in heapEvent);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitFree(TrackerThreadCell cell, in TrackedRecord record, uint freeSite, long sequence)
    {
        // With a number drawn before the heap released the block, a periodic snapshot due now follows the free:
        // a thread's events stay in the order of their numbers.
        var tick = sequence != 0 ? CoarseClock.Now : EventTick();

        if (!HeapEventKindMask.Has(_eventKinds, HeapEventKind.Free))
        {
            return;
        }

        if (sequence == DroppedFreeSequence)
        {
            // Decided before the free by the writer's own look-up (a free the heap reported, from a thread whose cell has no
            // ring yet); Release counts the others.
            _pipeline?.CountDroppedByWriter();
        }
        else if (!TryWriteDirect(ref cell.TraceRing, HeapEventKind.Free, sequence, tick, record.FreeThreadId, record.Address, record.Size, record.Caps, record.RequestNumber, freeSite, record.AllocSite, region: -1))
        {
            var heapEvent = new HeapEvent(
                HeapEventKind.Free,
                sequence != 0 ? sequence : Interlocked.Increment(ref _eventSequence),
                UtcTicksAt(tick),
                record.FreeThreadId,
                record.Address,
                record.Size,
                record.Caps,
                record.RequestNumber,
                freeSite,
                record.AllocSite,
                Heap.RegionNameIdOf((void*)record.Address));
            Dispatch(in heapEvent);
        }

        if (sequence != 0 && tick >= _nextSnapshot)
        {
            SnapshotIfDue(tick);
        }
    }

    /// <summary>
    /// Writes an allocation or free straight into the calling thread's ring of the pipeline's lone trace writer (no
    /// event built and copied). True when the event is dealt with so: written, or counted as dropped by a full ring in
    /// drop mode (then not even numbered); false when it must be built and dispatched. <paramref name="sequence"/> 0:
    /// a number is drawn for a written event; <paramref name="region"/> -1: looked up for a written event.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryWriteDirect(ref EventRing? ring, HeapEventKind kind, long sequence, long tick, int threadId, nuint address, nuint size, uint caps, long request, uint site, uint allocSite, int region)
    {
        var writer = _pipeline?.DirectWriter;
        if (writer is null)
        {
            return false;
        }

        ref var slot = ref writer.TryClaim(ref ring, out var tail, out var dropped);
        if (Unsafe.IsNullRef(ref slot))
        {
            return dropped;
        }

        slot.Set(
            kind,
            sequence != 0 ? sequence : Interlocked.Increment(ref _eventSequence),
            UtcTicksAt(tick),
            threadId,
            address,
            size,
            caps,
            request,
            site,
            allocSite,
            region >= 0 ? region : Heap.RegionNameIdOf((void*)address),
            previousAddress: 0,
            previousSize: 0);
        writer.Publish(ring!, tail);
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitReallocation(in TrackedRecord record, nuint previousAddress, nuint previousSize, uint site, int threadId)
    {
        var tick = EventTick();

        if (!HeapEventKindMask.Has(_eventKinds, HeapEventKind.Reallocation))
        {
            return;
        }

        var heapEvent = new HeapEvent(
            HeapEventKind.Reallocation,
            Interlocked.Increment(ref _eventSequence),
            UtcTicksAt(tick),
            threadId,
            record.Address,
            record.Size,
            record.Caps,
            record.RequestNumber,
            site,
            record.AllocSite,
            Heap.RegionNameIdOf((void*)record.Address),
            previousAddress,
            previousSize);
        Dispatch(in heapEvent);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitFailure(AllocationRecord failure, uint site)
    {
        var tick = EventTick();

        if (!HeapEventKindMask.Has(_eventKinds, HeapEventKind.FailedAllocation))
        {
            return;
        }

        var heapEvent = new HeapEvent(
            HeapEventKind.FailedAllocation,
            Interlocked.Increment(ref _eventSequence),
            UtcTicksAt(tick),
            failure.ThreadId,
            address: 0,
            failure.Size,
            (uint)failure.Caps,
            failure.RequestNumber,
            site,
            allocSite: 0,
            region: 0);
        Dispatch(in heapEvent);

        // A failure is when the regions are at their lowest, and it may pass between two periodic snapshots: one is taken
        // with it (at most one per clock tick, so a loop of failures does not flood the sinks). Only a failure's own
        // snapshot counts: a periodic snapshot or a checkpoint taken earlier in the same tick came before the requests
        // that brought the regions down to the failure, so it does not show the low.
        if (_nextSnapshot != long.MaxValue && Volatile.Read(ref _lastFailureSnapshotTick) != tick)
        {
            Volatile.Write(ref _lastFailureSnapshotTick, tick);
            EmitSnapshot();
        }
    }

    private void OnHeapError(object? sender, MemoryErrorEventArgs e)
    {
        var tick = EventTick();

        if (!HeapEventKindMask.Has(_eventKinds, HeapEventKind.MemoryError))
        {
            return;
        }

        var heapEvent = new HeapEvent
        {
            Kind = HeapEventKind.MemoryError,
            Sequence = Interlocked.Increment(ref _eventSequence),
            UtcTicks = UtcTicksAt(tick),
            ThreadId = Environment.CurrentManagedThreadId,
            Address = e.Error.Address,
            Size = e.Error.BlockSize ?? 0,
            RequestNumber = e.Error.Block?.RequestNumber ?? 0,
            Details = new HeapEventDetails
            {
                Error = e.Error,
                Site = e.Error.DetectedAt ?? CallSiteRegistry.Get(CallSiteRegistry.Unlocated(e.Error.Operation)),
                AllocatedAt = e.Error.Block?.AllocatedAt,
                RegionName = e.Error.RegionName,
            },
        };
        Dispatch(in heapEvent);
    }

    /// <summary>Emits a snapshot of every region's statistics now (or a checkpoint), when a sink takes that kind.</summary>
    internal void EmitSnapshot(string? label = null, HeapEventKind kind = HeapEventKind.Snapshot)
    {
        if (!HeapEventKindMask.Has(_eventKinds, kind))
        {
            return;
        }

        var tick = CoarseClock.Now;
        if (_nextSnapshot != long.MaxValue)
        {
            Volatile.Write(ref _nextSnapshot, tick + _snapshotIntervalMilliseconds);
        }

        var totals = ReadTotals();
        var heapEvent = new HeapEvent
        {
            Kind = kind,
            Details = new HeapEventDetails
            {
                Label = label,
                Regions = Heap.SnapshotRegions(),
                LiveBlocks = totals.LiveBlocks,
                LiveBytes = totals.LiveBytes,
            },
            Sequence = Interlocked.Increment(ref _eventSequence),
            UtcTicks = UtcTicksAt(tick),
            ThreadId = Environment.CurrentManagedThreadId,
        };
        Dispatch(in heapEvent);
    }

    /// <summary>The coarse clock's tick for an event; emits the periodic snapshot first when it is due.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long EventTick()
    {
        var tick = CoarseClock.Now;
        if (tick >= _nextSnapshot)
        {
            SnapshotIfDue(tick);
        }

        return tick;
    }

    /// <summary>UTC ticks of a coarse-clock tick: what <see cref="HeapEvent"/> carries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long UtcTicksAt(long tick) => _eventTimeBase + (tick * TimeSpan.TicksPerMillisecond);

    /// <summary>Emits the periodic snapshot when it is due and no other thread took it first.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SnapshotIfDue(long tick)
    {
        var due = Volatile.Read(ref _nextSnapshot);
        if (tick >= due && Interlocked.CompareExchange(ref _nextSnapshot, tick + _snapshotIntervalMilliseconds, due) == due)
        {
            EmitSnapshot();
        }
    }

    /// <summary>Hands a built event to the pipeline (directly to a simple pipeline's one sink) or to the plain sink.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Dispatch(in HeapEvent heapEvent)
    {
        var pipeline = _pipeline;
        if (pipeline is not null)
        {
            pipeline.Dispatch(in heapEvent);
            return;
        }

        Send(in heapEvent);
    }

    private void Send(in HeapEvent heapEvent)
    {
        var sink = _events;
        if (sink is null)
        {
            return;
        }

        var outer = t_sending;
        if (outer == this)
        {
            // The sink allocated or freed through this tracker: delivered, its event would call it again, without end.
            if (Interlocked.Exchange(ref _reportedReentry, 1) == 0)
            {
                SelfLog.WriteLine($"MemTrace: sink {sink.GetType().Name} allocated or freed on the heap it listens to (event kind {heapEvent.Kind} raised inside it); such events do not reach it. IHeapEventSink.Emit must not use the traced heap.");
            }

            return;
        }

        t_sending = this;
        try
        {
            sink.Emit(in heapEvent);
        }
        catch (Exception e)
        {
            SelfLog.WriteLine($"MemTrace: sink {sink.GetType().Name} threw while receiving an event of kind {heapEvent.Kind}: {SelfLog.Describe(e)}");
        }
        finally
        {
            t_sending = outer;
        }
    }
}

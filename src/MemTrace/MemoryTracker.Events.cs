// Events: what the tracker tells its sink. Every emit method is off the hot path (NoInlining)
// and is called only when a sink is attached, so without one a tracked pair pays one null test
// per operation. A sink that throws is reported to the self-log and never breaks the operation.
// Event times come from the shared coarse clock (a few milliseconds of resolution, one load);
// the sequence number gives the exact order.
using System.Runtime.CompilerServices;
using MemTrace.Diagnostics;
using MemTrace.Internals;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    private readonly IHeapEventSink? _events;
    private readonly long _snapshotIntervalMilliseconds;
    private long _eventSequence;
    private long _lastSnapshot;

    /// <summary>The sink this tracker emits to, if any.</summary>
    public IHeapEventSink? Events => _events;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitAllocation(void* block, nuint size, MallocCaps caps, uint site, long request) =>
        Emit(new HeapEvent
        {
            Kind = HeapEventKind.Allocation,
            Sequence = Interlocked.Increment(ref _eventSequence),
            Time = ToTime(CoarseClock.Now),
            ThreadId = Environment.CurrentManagedThreadId,
            Address = (nuint)block,
            Size = size,
            Caps = caps,
            RequestNumber = request,
            Site = CallSiteRegistry.Get(site),
            RegionName = Heap.RegionNameOf(block),
        });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitFree(in TrackedRecord record, uint freeSite) =>
        Emit(new HeapEvent
        {
            Kind = HeapEventKind.Free,
            Sequence = Interlocked.Increment(ref _eventSequence),
            Time = ToTime(CoarseClock.Now),
            ThreadId = Environment.CurrentManagedThreadId,
            Address = record.Address,
            Size = record.Size,
            Caps = (MallocCaps)record.Caps,
            RequestNumber = record.RequestNumber,
            Site = CallSiteRegistry.Get(freeSite),
            AllocatedAt = CallSiteRegistry.Get(record.AllocSite),
            RegionName = Heap.RegionNameOf((void*)record.Address),
        });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitReallocation(in TrackedRecord record, nuint previousAddress, nuint previousSize, uint site) =>
        Emit(new HeapEvent
        {
            Kind = HeapEventKind.Reallocation,
            Sequence = Interlocked.Increment(ref _eventSequence),
            Time = ToTime(CoarseClock.Now),
            ThreadId = Environment.CurrentManagedThreadId,
            Address = record.Address,
            Size = record.Size,
            PreviousAddress = previousAddress,
            PreviousSize = previousSize,
            Caps = (MallocCaps)record.Caps,
            RequestNumber = record.RequestNumber,
            Site = CallSiteRegistry.Get(site),
            AllocatedAt = CallSiteRegistry.Get(record.AllocSite),
            RegionName = Heap.RegionNameOf((void*)record.Address),
        });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitFailure(AllocationRecord failure) =>
        Emit(new HeapEvent
        {
            Kind = HeapEventKind.FailedAllocation,
            Sequence = Interlocked.Increment(ref _eventSequence),
            Time = ToTime(CoarseClock.Now),
            ThreadId = Environment.CurrentManagedThreadId,
            Size = failure.Size,
            Caps = failure.Caps,
            RequestNumber = failure.RequestNumber,
            Site = failure.AllocatedAt,
        });

    private void OnHeapError(object? sender, MemoryErrorEventArgs e) =>
        Emit(new HeapEvent
        {
            Kind = HeapEventKind.MemoryError,
            Sequence = Interlocked.Increment(ref _eventSequence),
            Time = ToTime(CoarseClock.Now),
            ThreadId = Environment.CurrentManagedThreadId,
            Address = e.Error.Address,
            Size = e.Error.BlockSize ?? 0,
            Error = e.Error,
            Site = e.Error.DetectedAt ?? CallSiteRegistry.Get(CallSiteRegistry.Unlocated(e.Error.Operation)),
            AllocatedAt = e.Error.Block?.AllocatedAt,
            RequestNumber = e.Error.Block?.RequestNumber ?? 0,
            RegionName = e.Error.RegionName,
        });

    /// <summary>Emits a snapshot of every region's statistics now (when a sink is attached).</summary>
    internal void EmitSnapshot(string? label = null, HeapEventKind kind = HeapEventKind.Snapshot)
    {
        if (_events is null)
        {
            return;
        }

        Volatile.Write(ref _lastSnapshot, CoarseClock.Now);
        Send(new HeapEvent
        {
            Kind = kind,
            Label = label,
            Regions = Heap.SnapshotRegions(),
            LiveBlocks = LiveBlocks,
            LiveBytes = LiveBytes,
            Sequence = Interlocked.Increment(ref _eventSequence),
            Time = ToTime(CoarseClock.Now),
            ThreadId = Environment.CurrentManagedThreadId,
        });
    }

    /// <summary>Sends a stamped event; emits a periodic snapshot first when one is due.</summary>
    private void Emit(in HeapEvent heapEvent)
    {
        if (_snapshotIntervalMilliseconds > 0)
        {
            var last = Volatile.Read(ref _lastSnapshot);
            if (CoarseClock.Now - last >= _snapshotIntervalMilliseconds && Interlocked.CompareExchange(ref _lastSnapshot, CoarseClock.Now, last) == last)
            {
                EmitSnapshot();
            }
        }

        Send(heapEvent);
    }

    private void Send(in HeapEvent heapEvent)
    {
        var sink = _events;
        if (sink is null)
        {
            return;
        }

        try
        {
            sink.Emit(in heapEvent);
        }
        catch (Exception e)
        {
            SelfLog.WriteLine($"MemTrace: sink {sink.GetType().Name} threw while receiving a {heapEvent.Kind} event: {e}");
        }
    }
}

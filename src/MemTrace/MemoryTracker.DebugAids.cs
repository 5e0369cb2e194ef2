// Debugging aids of the CRT debug heap for tracked allocations: a break when request number N is
// allocated (_CrtSetBreakAlloc), an allocation hook that can refuse requests to inject failures
// (_CrtSetAllocHook), and the capture of each allocation's stack (the slow path of commits when
// MemoryTrackerOptions.StackTraceDepth or ThreadStatistics is on).
//
// Cost when off: the break and the hook together are one test of _admission per allocation (the
// break compare itself runs only when a break is set); stacks and per-thread statistics are one
// test of the readonly _recordAids per commit and free. Everything behind those tests is NoInlining.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using MemTrace.Internals;
using MemTrace.Regions;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    private readonly Lock _aidsLock = new();
    private readonly int _stackDepth;
    private readonly HandleSideTable<StackFrame[]?>? _stacks;
    private readonly bool _recordAids;
    private int _admission;
    private long _breakAlloc;
    private AllocationHook? _allocationHook;
    private Action<AllocationRequest>? _breakAllocCallback;
    private long _refusedCount;

    /// <summary>
    /// The request number to break at (the CRT's <c>_CrtSetBreakAlloc</c>); 0, the default, for none. When
    /// that request is allocated, <see cref="BreakAllocCallback"/> is called if set; otherwise, with a debugger
    /// attached, <see cref="Debugger.Break"/> stops in the allocating call; otherwise a line is written to
    /// <see cref="Output"/>. Request numbers are those of <see cref="AllocationRecord.RequestNumber"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long BreakAlloc
    {
        get => Volatile.Read(ref _breakAlloc);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            lock (_aidsLock)
            {
                Volatile.Write(ref _breakAlloc, value);
                UpdateAdmission();
            }
        }
    }

    /// <summary>Called, instead of breaking into the debugger, when request <see cref="BreakAlloc"/> is allocated; null for the default.</summary>
    public Action<AllocationRequest>? BreakAllocCallback
    {
        get => Volatile.Read(ref _breakAllocCallback);
        set => Volatile.Write(ref _breakAllocCallback, value);
    }

    /// <summary>
    /// Called before every allocation and realloc on the tracked heap is served (the CRT's <c>_CrtSetAllocHook</c>),
    /// those made through this tracker's methods and those made on the <see cref="HeapCaps"/> directly alike;
    /// when it returns false the request is refused. Null, the default, for none. See <see cref="FailureInjection"/>.
    /// </summary>
    /// <remarks>
    /// <para>A refused request fails as a request that no region can serve, so that the code under test cannot tell
    /// an injected failure from a real one: it returns null (a realloc leaves its block intact), the heap's
    /// failed-allocation callback runs where that request would call it (and, with
    /// <see cref="HeapCapsOptions.AbortOnAllocationFailure"/>, the process ends), and it is logged as a refused
    /// failure (<see cref="AllocationRecord.Refused"/>) and counted in <see cref="RefusedAllocationCount"/>. The
    /// regions are not asked.</para>
    /// <para>Requests made on the heap directly have no source location (<see cref="CallSite.IsKnown"/> is false), so
    /// <see cref="FailureInjection.FailAtSite(string, int)"/> never refuses them. While <see cref="Enabled"/> is false, no
    /// request is shown to the hook; requests the hook itself makes are not shown to it again; a realloc of a pointer
    /// that is not a live block is not shown (the heap reports it). With no hook set, this costs a request one test of
    /// a field. An exception thrown by the hook propagates to the allocating call, which then allocates nothing.</para>
    /// </remarks>
    public AllocationHook? AllocationHook
    {
        get => Volatile.Read(ref _allocationHook);
        set
        {
            lock (_aidsLock)
            {
                Volatile.Write(ref _allocationHook, value);
                UpdateAdmission();
            }
        }
    }

    /// <summary>Requests refused by <see cref="AllocationHook"/> since the tracker was created (also counted in <see cref="FailedAllocationCount"/>).</summary>
    public long RefusedAllocationCount => Interlocked.Read(ref _refusedCount);

    /// <summary>Frames of stack kept per allocation (<see cref="MemoryTrackerOptions.StackTraceDepth"/>); 0 when none.</summary>
    public int StackTraceDepth => _stackDepth;

    private void UpdateAdmission() =>
        Volatile.Write(ref _admission, (Volatile.Read(ref _breakAlloc) != 0 ? 1 : 0) | (Volatile.Read(ref _allocationHook) is not null ? 2 : 0));

    /// <summary>
    /// The slow path of a tracked request when a break or a hook is set: breaks at the chosen request,
    /// then asks the hook. Returns false when the hook refused the request: the refusal is logged and
    /// counted, and the heap's failure callback runs as for a real failure; the caller then gives its
    /// handle back and returns null.
    /// </summary>
    /// <param name="request">The request's number (0 for a realloc of a live block).</param>
    /// <param name="method">What was asked.</param>
    /// <param name="n">Elements (a calloc's first factor; 1 otherwise).</param>
    /// <param name="size">Bytes of each element.</param>
    /// <param name="caps">The capabilities asked for.</param>
    /// <param name="site">The call site.</param>
    /// <param name="address">A realloc's block; 0 otherwise.</param>
    /// <param name="alignment">An aligned request's alignment; 0 otherwise.</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool Admit(long request, AllocationMethod method, nuint n, nuint size, MallocCaps caps, uint site, nuint address, nuint alignment = 0)
    {
        if (AskHook(request, method, n, size, caps, site, address))
        {
            return true;
        }

        Heap.OnTrackedRequestRefused(method, alignment, n, size, caps);
        return false;
    }

    /// <summary>
    /// <see cref="Admit"/> for a request made on the heap directly (no call site): the heap itself fails a refused
    /// request, calling its failure callback as that request would.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool AdmitDirect(long request, AllocationMethod method, nuint n, nuint size, MallocCaps caps, nuint address) =>
        AskHook(request, method, n, size, caps, CallSiteRegistry.Unlocated(method), address);

    /// <summary>Breaks at the chosen request, then asks the hook; logs and counts a refusal. A realloc of a pointer that is not a live block is never refused, so that the heap reports it.</summary>
    private bool AskHook(long request, AllocationMethod method, nuint n, nuint elementSize, MallocCaps caps, uint site, nuint address)
    {
        var size = Heap.BytesOf(n, elementSize); // The request's bytes; nuint.MaxValue when n * elementSize overflows.
        CheckBreak(request, method, size, caps, site, address);
        var hook = Volatile.Read(ref _allocationHook);

        // Whether this thread is inside this tracker's hook is kept in the thread's cell of this tracker: a request
        // that the hook of another tracker makes here is shown to this one's. No cell: the tracker is closing.
        if (hook is null || ObserverCell() is not { InHook: false } cell || (address != 0 && Heap.QueryBlock((void*)address, out _) != BlockState.Live))
        {
            return true;
        }

        var admitted = true;
        cell.InHook = true;
        var outer = CallSiteContext.Suspend(); // A heap call the hook makes is its own, not the request's (a tracked realloc's site is set).
        try
        {
            admitted = hook(new AllocationRequest(request, method, size, caps, CallSiteRegistry.Get(site), address, Environment.CurrentManagedThreadId));
        }
        finally
        {
            CallSiteContext.Current = outer;
            cell.InHook = false;
        }

        // A request for 0 bytes returns null served or refused, and a served one is no failure: neither is a refused one.
        if (!admitted && size != 0)
        {
            // A realloc of a live block has no request number of its own; its failure is logged with a
            // fresh one, as a failed realloc is.
            Interlocked.Increment(ref _refusedCount);
            LogFailure(method, elementSize, caps, site, request != 0 ? request : NextRequestNumber(cell), refused: true, elements: n); // Both factors, as a real failure's.
        }

        return admitted;
    }

    /// <summary>Breaks (or calls the callback) when <paramref name="request"/> is the one asked for.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CheckBreak(long request, AllocationMethod method, nuint size, MallocCaps caps, uint site, nuint address)
    {
        if (request == 0 || request != Volatile.Read(ref _breakAlloc))
        {
            return;
        }

        var details = new AllocationRequest(request, method, size, caps, CallSiteRegistry.Get(site), address, Environment.CurrentManagedThreadId);
        var callback = Volatile.Read(ref _breakAllocCallback);
        if (callback is not null)
        {
            var outer = CallSiteContext.Suspend(); // A heap call the callback makes is its own, not the request's.
            try
            {
                callback(details);
            }
            finally
            {
                CallSiteContext.Current = outer;
            }
        }
        else if (Debugger.IsAttached)
        {
            Debugger.Break();
        }
        else
        {
            Write(Output, $"MemTrace: break at request #{request} ({method.ToCName()} of {size} bytes at {details.Site}); no debugger attached.{Environment.NewLine}");
        }
    }

    /// <summary>The commit of a new live block when stacks or per-thread statistics are kept.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CommitWithAids(TrackerThreadCell cell, uint handle, void* block, nuint size, MallocCaps caps, uint site, long request)
    {
        var stack = _stacks is not null ? StackCapture.Capture(_stackDepth) : null;
        var region = _owners is not null ? RegionSlotOf(block) : 0;
        if (!EnterRecords(cell))
        {
            Abandon(block);
            return;
        }

        try
        {
            ref var record = ref _store[handle];
            TrackedRecord.BeginWrite(ref record);
            WriteLive(ref record, cell, block, size, caps, site, request);

            // Side entries inside the write window, so that readers see them with the record they belong to.
            if (_stacks is not null)
            {
                _stacks.At(handle) = stack;
            }

            if (_owners is not null)
            {
                _owners.At(handle) = PackOwner(cell.Account!, region);
            }

            TrackedRecord.EndWrite(ref record, RecordState.Live);
        }
        finally
        {
            ExitRecords(cell);
        }

        cell.Account?.Allocated(region, (long)size);
        Count(cell, block, size, caps, site, request);
    }

    /// <summary>Per-thread statistics of a freed block. Its stack stays beside its record, for double-free reports, until the handle is reused.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReleaseAids(TrackerThreadCell cell, uint handle, nuint size)
    {
        if (_owners is not null)
        {
            ChargeFree(cell, handle, size);
        }
    }

    /// <summary>Per-thread statistics of a block resized or moved by a realloc; runs inside the record's write window.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReallocAids(TrackerThreadCell cell, uint handle, void* block, nuint oldSize, nuint newSize)
    {
        if (_owners is not null)
        {
            ChargeRealloc(cell, handle, block, oldSize, newSize);
        }
    }

    /// <summary>The stack of a failed request, when stacks are kept.</summary>
    private System.Diagnostics.StackTrace? CaptureFailureStack() => _stacks is not null ? StackCapture.ToStackTrace(StackCapture.Capture(_stackDepth)) : null;
}

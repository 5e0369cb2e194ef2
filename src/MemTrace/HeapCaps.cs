// HeapCaps: a memory map built from a HeapLayout, ESP-IDF's heap_caps_* API over regions.
//
// This file holds construction and the allocation paths; HeapCaps.Queries.cs the statistics,
// HeapCaps.Errors.cs the error reporting. Allocation follows heap_caps.c: the public method
// calls a *Base path that "does not check for failure", and a failure goes to one NoInlining
// method that calls the registered callback. A tracker attaches as an IAllocationObserver;
// with none attached, the observer check is one null test.
using System.Runtime.CompilerServices;
using MemTrace.Internals;
using MemTrace.Regions;

namespace MemTrace;

/// <summary>
/// A memory map of capability heaps, ESP-IDF's <c>heap_caps_*</c> API: regions with
/// capabilities and priorities, region choice exactly as ESP-IDF makes it, ESP-IDF's results for
/// edge cases, statistics per capability, and a failed-allocation callback.
/// </summary>
/// <remarks>
/// <para>Pointers are <c>void*</c> and sizes <see cref="nuint"/>, as in C. Every method is thread-safe.</para>
/// <para>Edge cases as ESP-IDF: size 0 gives null and no failure callback; a calloc whose
/// <c>n * size</c> overflows <c>size_t</c> gives null (32 bits on a layout of chip regions only, as on the chip; a size
/// of 2^32 or more, which no chip caller can pass, fails there as a size above HEAP_SIZE_MAX does); <c>Realloc(null, …)</c> is malloc; <c>Realloc(p, 0)</c>
/// frees p and gives null; a failed realloc leaves the block intact; an alignment of 0 or not a
/// power of two gives null with no callback; capabilities that no region offers give null and call
/// the callback.</para>
/// <para>Where ESP-IDF would assert (freeing a pointer it never handed out, a double free), MemTrace
/// reports a <see cref="MemoryError"/> under <see cref="ErrorPolicy"/> and leaves the heap unchanged.</para>
/// </remarks>
public sealed unsafe partial class HeapCaps : IDisposable
{
    private const MallocCaps CapsNeedingAlignment = MallocCaps.Dma | MallocCaps.DmaDescAhb | MallocCaps.DmaDescAxi | MallocCaps.CacheAligned | MallocCaps.Simd;

    private readonly Lock _regionLock = new();
    private readonly nuint _alignment;
    private readonly nuint _maxAllocationSize;
    private readonly nuint _sizeMax;
    private readonly bool _abortOnFailure;
    private readonly QuarantineOptions? _quarantine;
    private readonly int _checkEvery;
    private volatile RegionSet _set;

    /// <summary>Raised by the checking regions when they queue a corruption; drained after the operation.</summary>
    private readonly CorruptionSignal _corruptions = new();
    private volatile bool _debugRegions;
    private long _operations;
    private AllocationFailedCallback? _failedAllocCallback;
    private IAllocationObserver? _observer;
    private volatile bool _disposed;

    /// <summary>Builds the memory map of <paramref name="layout"/>.</summary>
    /// <param name="layout">The regions and settings.</param>
    /// <param name="options">Error handling settings; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="layout"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range (a negative <see cref="HeapCapsOptions.IntegrityCheckInterval"/>, quarantine bounds of 0, an <see cref="HeapCapsOptions.ErrorPolicy"/> or <see cref="HeapCapsOptions.Poisoning"/> that is not one of its enum's values); the message names it.</exception>
    public HeapCaps(HeapLayout layout, HeapCapsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        options ??= new HeapCapsOptions();
        if (!Enum.IsDefined(options.ErrorPolicy))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ErrorPolicy, $"HeapCapsOptions.ErrorPolicy must be a MemoryErrorPolicy value, not {options.ErrorPolicy}.");
        }

        if (!Enum.IsDefined(options.Poisoning))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Poisoning, $"HeapCapsOptions.Poisoning must be a PoisoningLevel value, not {options.Poisoning}.");
        }

        Layout = layout;
        _alignment = layout.Alignment;
        _maxAllocationSize = layout.MaxAllocationSize;
        _sizeMax = layout.SizeMax;
        _errorPolicy = options.ErrorPolicy; // Checked above, with the option's name.
        ErrorOutput = options.ErrorOutput;
        _recentErrors = new MemoryError[Math.Max(1, options.RecentErrorCapacity)];

        _abortOnFailure = options.AbortOnAllocationFailure;
        _externalMemoryLimit = layout.ExternalMemoryAlwaysInternalLimit;
        ArgumentOutOfRangeException.ThrowIfNegative(options.IntegrityCheckInterval, nameof(options));
        if (options.Quarantine is { } quarantine && (quarantine.MaxBytes == 0 || quarantine.MaxBlocks <= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "A quarantine needs a positive byte and block bound.");
        }

        Poisoning = options.Poisoning;
        _quarantine = options.Quarantine;
        _checkEvery = options.IntegrityCheckInterval;

        // ESP-IDF's order: heaps sorted by ascending size (small heaps used first), then each
        // heap added with heap_caps_add_region_with_caps during startup (PSRAM) pushed at the head.
        var startup = new List<Region>();
        var addedAtStartup = new List<Region>();
        var numbered = new List<Region>();
        try
        {
            foreach (var region in layout.Regions)
            {
                var created = Decorate(CreateRegion(region, layout.Alignment));
                numbered.Add(created);
                (region.AddedAtRuntime ? addedAtStartup : startup).Add(created);
            }
        }
        catch
        {
            startup.ForEach(static r => r.Dispose());
            addedAtStartup.ForEach(static r => r.Dispose());
            throw;
        }

        var ordered = startup.OrderBy(static r => r.TotalSize).ToList();
        foreach (var region in addedAtStartup)
        {
            ordered.Insert(0, region);
        }

        _set = new RegionSet([.. ordered], [.. numbered]);
        _debugRegions = _set.Ordered.Any(static r => r.ChecksBlocks);
    }

    /// <summary>The layout this heap was built from.</summary>
    public HeapLayout Layout { get; }

    /// <summary>The poisoning level every region of this heap has.</summary>
    public PoisoningLevel Poisoning { get; }

    /// <summary>
    /// Registers the function called when an allocation fails (ESP-IDF's
    /// <c>heap_caps_register_failed_alloc_callback</c>). It replaces any earlier one.
    /// </summary>
    /// <remarks>
    /// An exception the callback throws propagates out of the allocating call, which then holds nothing for the request
    /// (a failed realloc leaves its block intact): the request is not logged as a failed allocation by a tracker, and
    /// <see cref="HeapCapsOptions.AbortOnAllocationFailure"/> does not end the process.
    /// </remarks>
    /// <param name="callback">The callback.</param>
    /// <exception cref="ArgumentNullException"><paramref name="callback"/> is null (ESP-IDF returns <c>ESP_ERR_INVALID_ARG</c>).</exception>
    public void RegisterFailedAllocCallback(AllocationFailedCallback callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        _failedAllocCallback = callback;
    }

    /// <summary>Allocates <paramref name="size"/> bytes with <paramref name="caps"/> (<c>heap_caps_malloc</c>).</summary>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <returns>The block, or null: for size 0 (no callback), or when no region can serve it (callback).</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* Malloc(nuint size, MallocCaps caps)
    {
        ThrowIfDisposed();
        var observer = _observer;
        void* block;
        if (observer is null)
        {
            block = MallocTagged(AllocationMethod.Malloc, size, caps, 0);
        }
        else
        {
            block = observer.BeginAllocation(AllocationMethod.Malloc, 1, size, caps, out var tag, out var request)
                ? MallocTagged(AllocationMethod.Malloc, size, caps, tag)
                : Refused(size != 0, size, caps, AllocationMethod.Malloc);
            if (tag != 0)
            {
                observer.EndAllocation(tag, request, block, AllocationMethod.Malloc, 1, size, caps);
            }
        }

        AfterAllocation(AllocationMethod.Malloc, block);
        return block;
    }

    /// <summary>Allocates <paramref name="n"/> × <paramref name="size"/> zeroed bytes (<c>heap_caps_calloc</c>).</summary>
    /// <param name="n">Number of elements.</param>
    /// <param name="size">Bytes per element.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <returns>The zeroed block, or null: when the product overflows or is 0, or no region can serve it.</returns>
    /// <remarks>As ESP-IDF, the failure callback gets n × size and runs only when <paramref name="size"/> is not 0.</remarks>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* Calloc(nuint n, nuint size, MallocCaps caps)
    {
        ThrowIfDisposed();
        var observer = _observer;
        void* block;
        if (observer is null)
        {
            block = CallocTagged(AllocationMethod.Calloc, n, size, caps, 0);
        }
        else
        {
            block = observer.BeginAllocation(AllocationMethod.Calloc, n, size, caps, out var tag, out var request)
                ? CallocTagged(AllocationMethod.Calloc, n, size, caps, tag)
                : Refused(size != 0, WrappedProduct(n, size), caps, AllocationMethod.Calloc);
            if (tag != 0)
            {
                observer.EndAllocation(tag, request, block, AllocationMethod.Calloc, n, size, caps);
            }
        }

        AfterAllocation(AllocationMethod.Calloc, block);
        return block;
    }

    /// <summary>Allocates <paramref name="size"/> bytes aligned to <paramref name="alignment"/> (<c>heap_caps_aligned_alloc</c>).</summary>
    /// <param name="alignment">A power of two.</param>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <returns>The block, or null: for an alignment of 0 or not a power of two, or size 0 (no callback), or when no region can serve it (callback).</returns>
    /// <remarks>Free the block with <see cref="Free(void*)"/>. The host heap (<see cref="HeapLayout.Host"/>) serves alignments up to 1 GiB; a larger one fails as out of memory (callback).</remarks>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* AlignedAlloc(nuint alignment, nuint size, MallocCaps caps)
    {
        ThrowIfDisposed();
        var observer = _observer;
        void* block;
        if (observer is null)
        {
            block = AlignedAllocTagged(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, 0);
        }
        else
        {
            block = observer.BeginAllocation(AllocationMethod.AlignedAlloc, 1, size, caps, out var tag, out var request)
                ? AlignedAllocTagged(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, tag)
                : Refused(AlignedFailureCallsBack(alignment, 1, size), size, caps, AllocationMethod.AlignedAlloc);
            if (tag != 0)
            {
                observer.EndAllocation(tag, request, block, AllocationMethod.AlignedAlloc, 1, size, caps, alignment);
            }
        }

        AfterAllocation(AllocationMethod.AlignedAlloc, block);
        return block;
    }

    /// <summary>Allocates <paramref name="n"/> × <paramref name="size"/> zeroed bytes aligned to <paramref name="alignment"/> (<c>heap_caps_aligned_calloc</c>).</summary>
    /// <param name="alignment">A power of two.</param>
    /// <param name="n">Number of elements.</param>
    /// <param name="size">Bytes per element.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <returns>The zeroed block, or null (see <see cref="AlignedAlloc(nuint, nuint, MallocCaps)"/>; an overflowing product also gives null, with no callback).</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* AlignedCalloc(nuint alignment, nuint n, nuint size, MallocCaps caps)
    {
        ThrowIfDisposed();
        var observer = _observer;
        void* block;
        if (observer is null)
        {
            block = AlignedAllocTagged(AllocationMethod.AlignedCalloc, alignment, n, size, caps, 0);
        }
        else
        {
            block = observer.BeginAllocation(AllocationMethod.AlignedCalloc, n, size, caps, out var tag, out var request)
                ? AlignedAllocTagged(AllocationMethod.AlignedCalloc, alignment, n, size, caps, tag)
                : Refused(AlignedFailureCallsBack(alignment, n, size), unchecked(n * size), caps, AllocationMethod.AlignedCalloc);
            if (tag != 0)
            {
                observer.EndAllocation(tag, request, block, AllocationMethod.AlignedCalloc, n, size, caps, alignment);
            }
        }

        AfterAllocation(AllocationMethod.AlignedCalloc, block);
        return block;
    }

    /// <summary>Resizes a block (<c>heap_caps_realloc</c>), within its region when that region has all of <paramref name="caps"/>, otherwise by moving it to memory that has them.</summary>
    /// <param name="ptr">The block, or null to allocate.</param>
    /// <param name="size">The new size; 0 frees the block.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <returns>The resized block; null when <paramref name="size"/> is 0 (the block is freed), or when it failed (the block is intact and the failure callback runs), or when <paramref name="ptr"/> is not a live block (an error is reported).</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="ptr"/> is not a live block and <see cref="ErrorPolicy"/> is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void* Realloc(void* ptr, nuint size, MallocCaps caps)
    {
        ThrowIfDisposed();
        var result = ReallocUnchecked(ptr, size, caps);
        AfterAllocation(AllocationMethod.Realloc, result);
        return result;
    }

    private void* ReallocUnchecked(void* ptr, nuint size, MallocCaps caps)
    {
        var observer = _observer;
        if (ptr is null)
        {
            if (observer is null)
            {
                return MallocTagged(AllocationMethod.Realloc, size, caps, 0);
            }

            if (!observer.BeginAllocation(AllocationMethod.Realloc, 1, size, caps, out var tag, out var request))
            {
                return Refused(size != 0, size, caps, AllocationMethod.Realloc);
            }

            var fresh = MallocTagged(AllocationMethod.Realloc, size, caps, tag);
            if (tag != 0)
            {
                observer.EndAllocation(tag, request, fresh, AllocationMethod.Realloc, 1, size, caps);
            }

            return fresh;
        }

        if (size == 0)
        {
            FreeReporting(ptr, AllocationMethod.Realloc);
            return null;
        }

        if (observer is not null && !observer.AdmitReallocation(ptr, size, caps, AllocationMethod.Realloc))
        {
            return Refused(true, size, caps, AllocationMethod.Realloc);
        }

        var block = ReallocTagged(AllocationMethod.Realloc, ptr, size, caps, out var oldState, out var oldTag);
        if (oldTag != 0)
        {
            DropStaleTag(observer, block is not null ? block : ptr);
        }

        if (block is not null)
        {
            observer?.OnReallocated(oldTag, block, size, caps, AllocationMethod.Realloc);

            return block;
        }

        if (oldState != BlockState.Live)
        {
            ReportLostBlock(oldState, oldTag, ptr, AllocationMethod.Realloc);
        }
        else
        {
            observer?.OnReallocationFailed(size, caps, AllocationMethod.Realloc);
        }

        return null;
    }

    /// <summary>Frees a block (<c>heap_caps_free</c>). Null is a no-op.</summary>
    /// <param name="ptr">The block.</param>
    /// <remarks>
    /// A pointer that is not a live block of this heap (a double free, a pointer never handed out, an interior pointer) is
    /// reported as a <see cref="MemoryError"/> and never freed. With poisoning, a block found damaged is reported and set
    /// aside (never reused); a block that a realloc found damaged (and set aside) may be freed once more without error.
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="ptr"/> is not a live block and <see cref="ErrorPolicy"/> is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void Free(void* ptr)
    {
        if (ptr is null)
        {
            return;
        }

        ThrowIfDisposed();
        FreeReporting(ptr, AllocationMethod.Free);
        AfterOperation(AllocationMethod.Free);
    }

    /// <summary>The usable size of a live block (<c>heap_caps_get_allocated_size</c>): at least the requested size.</summary>
    /// <param name="ptr">The block.</param>
    /// <returns>
    /// The usable size, at least the request rounded up to 4 (TLSF's class rounding included); 0 when
    /// <paramref name="ptr"/> is not a live block of this heap (ESP-IDF asserts instead). With poisoning, as ESP-IDF:
    /// the block less its poisoning overhead (12 bytes for a plain allocation), which can exceed the request, though
    /// writing past the request breaks the tail canary.
    /// </returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public nuint GetAllocatedSize(void* ptr)
    {
        ThrowIfDisposed();
        return FindRegion(ptr) is { } region ? region.AllocatedSize(ptr) : 0;
    }

    /// <summary>Releases every region's memory. Blocks still allocated become invalid.</summary>
    /// <remarks>
    /// An attached <see cref="MemoryTracker"/> is detached first; it can still be disposed afterwards (its blocks
    /// are gone with the heap). The heap must not be in use on other threads while it is disposed. There is no
    /// finalizer: the blocks handed out are raw pointers that do not keep the heap alive, so a heap never disposed
    /// keeps its regions' native memory until the process ends.
    /// </remarks>
    /// <exception cref="InvalidOperationException">Called from inside a walker of this heap (<see cref="Walk"/>); nothing is disposed.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        ThrowIfWalkingOnThisThread("The heap cannot be disposed from inside one of its walkers");
        _disposed = true;
        Volatile.Write(ref _observer, null);
        foreach (var region in _set.Ordered)
        {
            region.Dispose();
        }
    }

    // ---- Core paths shared with MemoryTracker. "Tagged" paths store `tag` in the new block. ----

    internal IAllocationObserver? Observer => _observer;

    /// <summary>Attaches the one observer a heap can have.</summary>
    internal void Attach(IAllocationObserver observer)
    {
        if (Interlocked.CompareExchange(ref _observer, observer, null) is not null)
        {
            ThrowHelper.ThrowInvalidOperation("A MemoryTracker is already attached to this heap; dispose it first.");
        }
    }

    internal void Detach(IAllocationObserver observer) => Interlocked.CompareExchange(ref _observer, null, observer);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void* MallocTagged(AllocationMethod method, nuint size, MallocCaps caps, uint tag)
    {
        var block = MallocBase(size, caps, _alignment, zero: false, tag);

        if (block is null && size != 0)
        {
            OnAllocationFailed(size, caps, method, tag);
        }

        return block;
    }

    internal void* CallocTagged(AllocationMethod method, nuint n, nuint size, MallocCaps caps, uint tag)
    {
        void* block = null;
        if (!MulOverflows(n, size))
        {
            block = MallocBase(n * size, caps, _alignment, zero: true, tag);
        }

        if (block is null && size != 0)
        {
            OnAllocationFailed(WrappedProduct(n, size), caps, method, tag);
        }

        return block;
    }

    internal void* AlignedAllocTagged(AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps, uint tag)
    {
        if (!IsValidAlignment(alignment) || MulOverflows(n, size))
        {
            return null;
        }

        var bytes = n * size;
        var block = MallocBase(bytes, caps, Math.Max(alignment, _alignment), zero: method == AllocationMethod.AlignedCalloc, tag);

        if (block is null && bytes != 0)
        {
            OnAllocationFailed(bytes, caps, method, tag);
        }

        return block;
    }

    /// <summary>
    /// Realloc of a non-null pointer to a non-zero size. Null means failure: the block is intact
    /// when <paramref name="oldState"/> is Live (the failure callback ran), otherwise the pointer
    /// was not a live block (the caller reports it). The block keeps its tag.
    /// </summary>
    internal void* ReallocTagged(AllocationMethod method, void* ptr, nuint size, MallocCaps caps, out BlockState oldState, out uint oldTag)
    {
        oldTag = 0;
        var block = ReallocBase(ptr, size, caps, out oldState, ref oldTag);

        if (block is null && oldState == BlockState.Live)
        {
            OnAllocationFailed(size, caps, method);
        }

        return block;
    }

    /// <summary>Frees a block if it is live; returns what it was.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal BlockState FreeTagged(void* ptr, bool clearIfTagged, out BlockInfo block)
    {
        var region = FindRegion(ptr);
        if (region is null)
        {
            block = default;
            return BlockState.Outside;
        }

        return region.Free(ptr, clearIfTagged, out block);
    }

    /// <summary>
    /// Ends a heap operation, after all its bookkeeping: reports what the debug regions found during it
    /// and counts it for the periodic integrity check. Reporting may throw (the Throw policy), which
    /// is why it comes last.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void AfterOperation(AllocationMethod method)
    {
        if (_debugRegions && _corruptions.IsRaised)
        {
            DrainCorruptions(method);
        }

        if (_checkEvery != 0)
        {
            CountOperation();
        }
    }

    /// <summary>
    /// <see cref="AfterOperation"/> for an operation that hands out <paramref name="block"/> (an allocation, a realloc).
    /// When reporting what the operation found throws (the Throw policy), the block is given back first (freed, its
    /// record released), so that nothing the caller never received stays allocated: a realloc that throws has freed its
    /// block. Costs what AfterOperation costs when nothing was found.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void AfterAllocation(AllocationMethod method, void* block)
    {
        if ((_debugRegions && _corruptions.IsRaised) || _checkEvery != 0)
        {
            AfterAllocationSlow(method, block);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void AfterAllocationSlow(AllocationMethod method, void* block)
    {
        try
        {
            AfterOperation(method);
        }
        catch (MemoryErrorException) when (block is not null)
        {
            Retract(block, method);
            throw;
        }
    }

    /// <summary>Gives back a block the caller will never receive: frees it and tells the observer.</summary>
    private void Retract(void* block, AllocationMethod method)
    {
        if (FreeTagged(block, clearIfTagged: false, out var info) == BlockState.Live && info.Tag != 0)
        {
            _observer?.OnFreed(info.Tag, block, method);
        }
    }

    /// <summary>Whether some region checks blocks (poisoning): the tracker then tells the heap each operation's call site.</summary>
    internal bool HasDebugRegions => _debugRegions;

    internal BlockState QueryBlock(void* ptr, out BlockInfo block)
    {
        var region = FindRegion(ptr);
        if (region is null)
        {
            block = default;
            return BlockState.Outside;
        }

        return region.Query(ptr, out block);
    }

    /// <summary>Sets the tag of a live block the caller owns; nothing once the heap is disposed (its blocks are gone).</summary>
    internal void SetTag(void* ptr, uint tag)
    {
        if (!_disposed)
        {
            FindRegion(ptr)?.SetTag(ptr, tag);
        }
    }

    /// <summary>
    /// Clears the tag of a block the caller does not own, if it is still a live block with tag
    /// <paramref name="tag"/>; safe while other threads free or reallocate it. Nothing once the heap is disposed.
    /// </summary>
    internal void ClearTag(void* ptr, uint tag)
    {
        if (!_disposed)
        {
            FindRegion(ptr)?.ClearTag(ptr, tag);
        }
    }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    internal bool IsDisposed => _disposed;

    /// <summary>The lock of the region list (region addition, monitor windows): tests hold it to force an interleaving.</summary>
    internal Lock RegionListLock => _regionLock;

    /// <summary>Every live block of every region: address, usable size, tag.</summary>
    internal void ForEachLiveBlock(Action<nuint, nuint, uint> visitor)
    {
        foreach (var region in _set.Ordered)
        {
            region.ForEachLiveBlock(visitor);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ThrowIfDisposed()
    {
        if (_disposed)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }
    }

    private void FreeReporting(void* ptr, AllocationMethod method)
    {
        // The observer is read before the free: a tag belongs to the tracker that was attached when the
        // block was tagged, never to one attached while this free was in progress.
        var observer = _observer;
        var sequence = observer?.BeginFree() ?? 0;
        var state = FreeTagged(ptr, clearIfTagged: false, out var block);
        if (state == BlockState.Live)
        {
            if (block.Tag != 0)
            {
                observer?.OnFreed(block.Tag, ptr, method, sequence);
            }

            return;
        }

        if (state != BlockState.Corrupt)
        {
            ReportBadPointer(state, method, ptr, detectedAt: null);
        }
    }

    /// <summary>
    /// The end of a realloc whose block was not resized because it is no longer the caller's (<paramref name="state"/>
    /// not Live): a block the region found damaged was reported and set aside for good, so the observer releases its
    /// record (no phantom leak; a later free of the pointer is accepted once); anything else is a bad pointer, reported.
    /// </summary>
    private void ReportLostBlock(BlockState state, uint tag, void* ptr, AllocationMethod method)
    {
        if (state == BlockState.Corrupt)
        {
            if (tag != 0)
            {
                _observer?.OnFreed(tag, ptr, method);
            }
        }
        else
        {
            ReportBadPointer(state, method, ptr, detectedAt: null);
        }
    }

    /// <summary>
    /// After a realloc of a tagged block (<paramref name="block"/>: the result, or the intact block when it failed;
    /// the caller owns it): a tag belongs to the tracker that was attached when the block was tagged. When no
    /// tracker was attached as the realloc began (<paramref name="observer"/> null), or that tracker has been
    /// detached since, the tag is stale: its tracker may have missed the block while the realloc held it, so the
    /// tag is cleared here, before a tracker attached later could take it for one of its own.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DropStaleTag(IAllocationObserver? observer, void* block)
    {
        if (observer is null || !ReferenceEquals(Volatile.Read(ref _observer), observer))
        {
            SetTag(block, 0);
        }
    }

    /// <summary>heap_caps_malloc_base: no failure handling.</summary>
    private void* MallocBase(nuint size, MallocCaps caps, nuint alignment, bool zero, uint tag)
    {
        if (size == 0 || size > _maxAllocationSize)
        {
            return null;
        }

        if ((caps & CapsNeedingAlignment) != 0)
        {
            AdjustAlignmentToHardware(ref alignment, ref size, ref caps);
        }

        if ((caps & MallocCaps.Exec) != 0)
        {
            // EXEC memory (IRAM) allows neither byte access nor DMA; it is 32-bit memory.
            if ((caps & (MallocCaps.Bit8 | MallocCaps.Dma)) != 0)
            {
                return null;
            }

            caps |= MallocCaps.Bit32;
        }

        if ((caps & MallocCaps.Bit32) != 0)
        {
            size = (size + 3) & ~(nuint)3; // Cannot overflow: size <= _maxAllocationSize.
        }

        return AllocateFromRegions(size, caps, alignment, zero, tag);
    }

    /// <summary>
    /// esp_heap_adjust_alignment_to_hw: DMA-capable and cache-aligned buffers are aligned to the
    /// data cache line of the memory they will be in, and their size rounded up to it; descriptor
    /// caps become plain DMA; SPIRAM drops DMA (no region has both); CACHE_ALIGNED is stripped.
    /// </summary>
    private void AdjustAlignmentToHardware(ref nuint alignment, ref nuint size, ref MallocCaps caps)
    {
        // No 8-byte minimum for AXI DMA descriptors: heap_align_hw.c applies it only under SOC_HAS(AXI_GDMA), which the
        // ESP32 and ESP32-S3 lack (and the ESP32-P4, which has it, caches all its memory in lines of 64 bytes).
        var cacheLine = (caps & MallocCaps.Spiram) != 0 ? Layout.ExternalCacheLineSize : Layout.InternalCacheLineSize;
        alignment = Math.Max(alignment, cacheLine);
        if ((caps & MallocCaps.Simd) != 0)
        {
            alignment = Math.Max(alignment, Layout.SimdAlignment);
        }

        size = (size + alignment - 1) & ~(alignment - 1); // Cannot overflow: size <= _maxAllocationSize.
        if ((caps & (MallocCaps.DmaDescAhb | MallocCaps.DmaDescAxi)) != 0)
        {
            caps = (caps & ~(MallocCaps.DmaDescAhb | MallocCaps.DmaDescAxi)) | MallocCaps.Dma;
        }

        if ((caps & MallocCaps.Spiram) != 0)
        {
            caps &= ~MallocCaps.Dma;
        }

        caps &= ~MallocCaps.CacheAligned;
    }

    /// <summary>heap_caps_malloc_base's loop: by priority, then in list order, the first region that succeeds.</summary>
    private void* AllocateFromRegions(nuint size, MallocCaps caps, nuint alignment, bool zero, uint tag)
    {
        var set = _set;
        var regions = set.Ordered;
        var allCaps = set.AllCaps;
        var capsAt = set.CapsByPriority;
        var i = 0;
        for (var priority = 0; priority < HeapRegionLayout.PriorityCount; priority++)
        {
            for (var r = 0; r < regions.Length; r++, i++)
            {
                if ((capsAt[i] & caps) != 0 && (allCaps[r] & caps) == caps)
                {
                    var block = regions[r].Allocate(size, alignment, zero, tag);
                    if (block is not null)
                    {
                        return block;
                    }
                }
            }
        }

        return null;
    }

    /// <summary>heap_caps_realloc_base for a non-null pointer and a non-zero size.</summary>
    private void* ReallocBase(void* ptr, nuint size, MallocCaps caps, out BlockState oldState, ref uint oldTag)
    {
        var region = FindRegion(ptr);
        if (region is null)
        {
            oldState = BlockState.Outside;
            return null;
        }

        if (size > _maxAllocationSize)
        {
            oldState = region.Query(ptr, out var info);
            oldTag = info.Tag;
            return null;
        }

        BlockInfo old;
        if (FitsInPlace(region, size, caps))
        {
            var resized = region.Reallocate(ptr, size, out oldState, out old);
            oldTag = old.Tag;
            if (oldState != BlockState.Live || resized is not null)
            {
                return resized;
            }
        }
        else
        {
            // The block is checked before anything is allocated for it: a damaged one is set aside (Corrupt), not moved.
            oldState = region.QueryChecked(ptr, out old);
            oldTag = old.Tag;
            if (oldState != BlockState.Live)
            {
                return null;
            }
        }

        // Move to memory that has the requested capabilities: allocate, copy, free.
        var moved = MallocBase(size, caps, _alignment, zero: false, old.Tag);
        if (moved is null)
        {
            return null;
        }

        Buffer.MemoryCopy(ptr, moved, size, Math.Min(size, old.UsableSize));
        var freed = region.Free(ptr, clearIfTagged: false, out _);
        if (freed != BlockState.Live)
        {
            // Another thread freed the block (or damaged it) while it was copied: the copy is of memory that was no longer
            // the caller's. The realloc fails as a realloc of a freed block does, and the new block goes back unseen.
            FindRegion(moved)!.Free(moved, clearIfTagged: false, out _);
            oldState = freed;
            return null;
        }

        return moved;
    }

    /// <summary>
    /// Whether heap_caps_realloc_base tries to resize the block in its own <paramref name="region"/>: the region has every
    /// capability asked for once esp_heap_adjust_alignment_to_hw has rewritten them (CACHE_ALIGNED stripped, DMA descriptor
    /// caps made DMA, SPIRAM without DMA), and the hardware asks for no more than the default alignment.
    /// </summary>
    private bool FitsInPlace(Region region, nuint size, MallocCaps caps)
    {
        var alignment = _alignment;
        if ((caps & CapsNeedingAlignment) != 0)
        {
            AdjustAlignmentToHardware(ref alignment, ref size, ref caps);
        }

        return (caps & region.AllCaps) == caps && alignment <= _alignment;
    }

    /// <summary>heap_caps_alloc_failed: the registered callback, then the optional abort.</summary>
    /// <param name="size">The requested size.</param>
    /// <param name="caps">The requested capabilities.</param>
    /// <param name="method">The request's method.</param>
    /// <param name="tag">The owner word reserved for the block the request would have made (0: none). When this throws, the
    /// request ends before its observer completes it, so the tag is given back to the observer first.</param>
    /// <exception cref="ObjectDisposedException">The heap was disposed during the call: its regions refused because they are gone, which is no failure to report.</exception>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void OnAllocationFailed(nuint size, MallocCaps caps, AllocationMethod method, uint tag = 0)
    {
        var site = CallSiteContext.Suspend(); // A heap call the callback makes is its own, not the tracked request's.
        try
        {
            ThrowIfDisposed();
            _failedAllocCallback?.Invoke(size, caps, FailureFunctionName(method));
        }
        catch when (tag != 0)
        {
            _observer?.ReleaseUnusedTag(tag);
            throw;
        }
        finally
        {
            CallSiteContext.Current = site;
        }

        if (_abortOnFailure)
        {
            Environment.FailFast(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Mem alloc fail. size 0x{(ulong)size:x8} caps 0x{(uint)caps:x8}"));
        }
    }

    /// <summary>
    /// The function name ESP-IDF passes to heap_caps_alloc_failed for a failure of <paramref name="method"/>: its own
    /// <c>__func__</c>, except heap_caps_aligned_calloc, which leaves the failure to the heap_caps_aligned_alloc it calls
    /// (heap_caps.c), so the callback says <c>heap_caps_aligned_alloc</c>.
    /// </summary>
    private static string FailureFunctionName(AllocationMethod method) =>
        method == AllocationMethod.AlignedCalloc ? AllocationMethod.AlignedAlloc.ToCName() : method.ToCName();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Region? FindRegion(void* ptr)
    {
        var set = _set;
        var address = (nuint)ptr;
        if (set.HasNested)
        {
            return FindInListOrder(set.Ordered, address) ?? set.Unbounded;
        }

        // Bounded regions by address: one comparison pair per level, on arrays (no virtual calls).
        var starts = set.Starts;
        var ends = set.Ends;
        int low = 0, high = starts.Length - 1;
        while (low <= high)
        {
            var mid = (low + high) >>> 1;
            if (address < starts[mid])
            {
                high = mid - 1;
            }
            else if (address >= ends[mid])
            {
                low = mid + 1;
            }
            else
            {
                return set.ByAddress[mid];
            }
        }

        return set.Unbounded;
    }

    /// <summary>find_containing_heap: the first region in list order that holds the address (regions added later, possibly nested inside others, come first).</summary>
    private static Region? FindInListOrder(Region[] ordered, nuint address)
    {
        foreach (var region in ordered)
        {
            if (!region.IsUnbounded && address >= region.Start && address < region.End)
            {
                return region;
            }
        }

        return null;
    }

    /// <summary>Wraps a region in the poisoning decorator when the heap's options ask for checks.</summary>
    internal Region Decorate(Region region) =>
        Poisoning != PoisoningLevel.None || _quarantine is not null
            ? new PoisoningRegion(region, Poisoning, _quarantine, _alignment, _corruptions, Witness)
            : region;

    /// <summary>What the observer knows of a block being freed into a region's care (see <see cref="IAllocationObserver.TryWitness"/>).</summary>
    private BlockWitness? Witness(uint tag, nuint address) =>
        _observer is { } observer && observer.TryWitness(tag, address, out var witness) ? witness : null;

    /// <summary>Counts one heap operation; every N-th runs the periodic integrity check.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CountOperation()
    {
        if (Interlocked.Increment(ref _operations) % _checkEvery == 0)
        {
            CheckIntegrityReporting("at the periodic check (IntegrityCheckInterval)");
        }
    }

    private static Region CreateRegion(HeapRegionLayout layout, nuint alignment) => layout.Kind switch
    {
        HeapRegionKind.Host => new HostRegion(layout.Name, layout.Caps[0], layout.Caps[1], layout.Caps[2]),
        HeapRegionKind.Tlsf => new TlsfRegion(layout.Name, layout.Caps[0], layout.Caps[1], layout.Caps[2], layout.Size, alignment, minimumStartsAtZero: false),
        _ => throw new NotSupportedException($"Region kind {layout.Kind} is not supported."),
    };

    /// <summary>An immutable snapshot of the regions: replaced as a whole when a region is added.</summary>
    private sealed class RegionSet
    {
        public RegionSet(Region[] ordered, Region[] numbered)
        {
            Ordered = ordered;
            Numbered = numbered;
            ByAddress = [.. ordered.Where(static r => !r.IsUnbounded).OrderBy(static r => r.Start)];
            AllCaps = [.. ordered.Select(static r => r.AllCaps)];
            CapsByPriority = [.. Enumerable.Range(0, HeapRegionLayout.PriorityCount).SelectMany(p => ordered.Select(r => r.CapsAt(p)))];
            Starts = [.. ByAddress.Select(static r => r.Start)];
            Ends = [.. ByAddress.Select(static r => r.End)];
            Unbounded = ordered.FirstOrDefault(static r => r.IsUnbounded);
            for (var i = 1; i < ByAddress.Length; i++)
            {
                HasNested |= ByAddress[i].Start < ByAddress[i - 1].End;
            }
        }

        /// <summary>True when a region lies inside another (allowed for regions added at run time): lookups then go in list order, as ESP-IDF's do.</summary>
        public bool HasNested { get; }

        /// <summary>In ESP-IDF's list order: the order requests try them.</summary>
        public Region[] Ordered { get; }

        /// <summary>By region number: the layout's order, then regions added at run time in the order they were added. A region keeps its number.</summary>
        public Region[] Numbered { get; }

        /// <summary>Bounded regions by start address, for finding a pointer's region in O(log n).</summary>
        public Region[] ByAddress { get; }

        /// <summary>Every capability of each region of <see cref="Ordered"/>.</summary>
        public MallocCaps[] AllCaps { get; }

        /// <summary>The capabilities of each region of <see cref="Ordered"/> at each priority: priority × region count + region.</summary>
        public MallocCaps[] CapsByPriority { get; }

        /// <summary>Start address of each region of <see cref="ByAddress"/>.</summary>
        public nuint[] Starts { get; }

        /// <summary>End address (exclusive) of each region of <see cref="ByAddress"/>.</summary>
        public nuint[] Ends { get; }

        /// <summary>The process-heap region, if any: it owns every address no bounded region has.</summary>
        public Region? Unbounded { get; }
    }

    /// <summary>
    /// Whether <paramref name="a"/> × <paramref name="b"/> overflows <c>size_t</c> (ESP-IDF's <c>__builtin_mul_overflow</c>):
    /// on a chip layout, 32 bits, so 65536 × 65537 overflows there as on the chip. A factor of 2^32 or more, which no
    /// caller on the chip can pass, is a size above HEAP_SIZE_MAX, not an overflow: the product is then taken in 64 bits
    /// (see <see cref="SizeMaxOf"/>).
    /// </summary>
    internal bool MulOverflows(nuint a, nuint b) => b != 0 && a > SizeMaxOf(a, b) / b;

    /// <summary>
    /// <paramref name="n"/> × <paramref name="size"/> as <c>size_t</c> holds it, wrapped when it overflows: what
    /// heap_caps_calloc passes its failure callback (<c>n * size</c>), modulo 2^32 on a chip layout.
    /// </summary>
    private nuint WrappedProduct(nuint n, nuint size) => unchecked(n * size) & SizeMaxOf(n, size);

    /// <summary>
    /// The SIZE_MAX a calloc of <paramref name="n"/> × <paramref name="size"/> is computed to: the layout's (32 bits on a chip
    /// layout), or 64 bits when a factor does not fit the layout's <c>size_t</c>. Such a factor reaches a chip from no
    /// caller; taking it as a size above HEAP_SIZE_MAX (and not wrapping it) fails the request as <see cref="Malloc(nuint, MallocCaps)"/> fails
    /// such a size, with the callback given the whole product.
    /// </summary>
    private nuint SizeMaxOf(nuint n, nuint size) => (n | size) <= _sizeMax ? _sizeMax : nuint.MaxValue;

    /// <summary>
    /// The bytes a calloc of <paramref name="n"/> elements of <paramref name="size"/> bytes asks for, as the tracker and its
    /// hooks see it: <see cref="nuint.MaxValue"/> when the product overflows the layout's <c>size_t</c> (the failure
    /// callback, as ESP-IDF's, gets the wrapped product instead).
    /// </summary>
    internal nuint BytesOf(nuint n, nuint size) => MulOverflows(n, size) ? nuint.MaxValue : n * size;
}

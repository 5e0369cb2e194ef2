// The libc allocation functions of ESP-IDF (components/esp_libc/src/heap.c): malloc, calloc,
// realloc, memalign, aligned_alloc and posix_memalign go to heap_caps_*_default (heap_caps.c),
// which keep small requests in internal memory and send larger ones to PSRAM first once
// heap_caps_malloc_extmem_enable has been called.
namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    private const MallocCaps DefaultInternal = MallocCaps.Default | MallocCaps.Internal;
    private const MallocCaps DefaultSpiram = MallocCaps.Default | MallocCaps.Spiram;

    private nuint? _externalMemoryLimit;

    /// <summary>
    /// The chip's <c>malloc()</c> (<c>heap_caps_malloc_default</c>). Until external memory is enabled
    /// (<see cref="MallocExtmemEnable(nuint)"/>, or a layout with PSRAM), this is
    /// <c>heap_caps_malloc(size, DEFAULT|INTERNAL)</c>. After: requests up to the limit try
    /// DEFAULT|INTERNAL, larger ones DEFAULT|SPIRAM, then either falls back to plain DEFAULT; the
    /// failure callback gets DEFAULT.
    /// </summary>
    /// <param name="size">Bytes to allocate.</param>
    /// <returns>The block, or null.</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* MallocDefault(nuint size)
    {
        ThrowIfDisposed();
        var block = MallocDefaultObserved(1, size, zero: false);
        AfterAllocation(AllocationMethod.MallocDefault, block);
        return block;
    }

    /// <summary>The chip's <c>calloc()</c>: an overflow check, <see cref="MallocDefault(nuint)"/>, and zeroing.</summary>
    /// <param name="n">Number of elements.</param>
    /// <param name="size">Bytes per element.</param>
    /// <returns>The zeroed block, or null (also when n × size overflows).</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* CallocDefault(nuint n, nuint size)
    {
        ThrowIfDisposed();
        var block = MallocDefaultObserved(n, size, zero: true);
        AfterAllocation(AllocationMethod.MallocDefault, block);
        return block;
    }

    /// <summary>The chip's <c>realloc()</c> (<c>heap_caps_realloc_default</c>), with the same choice of memory as <see cref="MallocDefault(nuint)"/>.</summary>
    /// <param name="ptr">The block, or null to allocate.</param>
    /// <param name="size">The new size; 0 frees.</param>
    /// <returns>The block, or null.</returns>
    /// <remarks>
    /// As ESP-IDF: until external memory is enabled this is <c>heap_caps_realloc(ptr, size, DEFAULT|INTERNAL)</c>, and a
    /// failure is reported to the callback as <c>heap_caps_realloc</c>'s; after, a failure (a null <paramref name="ptr"/>
    /// included) is reported as <c>heap_caps_realloc_default</c>'s, with DEFAULT.
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="ptr"/> is not a live block and <see cref="ErrorPolicy"/> is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void* ReallocDefault(void* ptr, nuint size)
    {
        ThrowIfDisposed();
        if (_externalMemoryLimit is not { } limit)
        {
            return Realloc(ptr, size, DefaultInternal);
        }

        if (ptr is null)
        {
            // realloc_base(NULL, …) is malloc_base: MallocDefault's choice of memory, reported as realloc_default's.
            var fresh = MallocDefaultObserved(1, size, zero: false, AllocationMethod.ReallocDefault);
            AfterAllocation(AllocationMethod.ReallocDefault, fresh);
            return fresh;
        }

        var result = ReallocDefaultUnchecked(ptr, size, limit);
        AfterAllocation(AllocationMethod.ReallocDefault, result);
        return result;
    }

    /// <summary>heap_caps_realloc_default once external memory is enabled (up to <paramref name="limit"/> bytes stay internal), for a non-null block.</summary>
    private void* ReallocDefaultUnchecked(void* ptr, nuint size, nuint limit)
    {
        if (size == 0)
        {
            FreeReporting(ptr, AllocationMethod.ReallocDefault);
            return null;
        }

        var observer = _observer;
        var first = size <= limit ? DefaultInternal : DefaultSpiram;
        if (observer is not null && !observer.AdmitReallocation(ptr, size, first, AllocationMethod.ReallocDefault))
        {
            return Refused(true, size, MallocCaps.Default, AllocationMethod.ReallocDefault);
        }

        uint tag = 0;
        var served = first;
        var block = ReallocBase(ptr, size, first, out var oldState, ref tag);
        if (block is null && oldState == Regions.BlockState.Live)
        {
            served = MallocCaps.Default;
            block = ReallocBase(ptr, size, served, out oldState, ref tag);
        }

        if (tag != 0)
        {
            DropStaleTag(observer, block is not null ? block : ptr);
        }

        if (block is not null)
        {
            observer?.OnReallocated(tag, block, size, served, AllocationMethod.ReallocDefault);
            return block;
        }

        if (oldState != Regions.BlockState.Live)
        {
            ReportLostBlock(oldState, tag, ptr, AllocationMethod.ReallocDefault);
            return null;
        }

        OnAllocationFailed(size, MallocCaps.Default, AllocationMethod.ReallocDefault);
        observer?.OnReallocationFailed(size, MallocCaps.Default, AllocationMethod.ReallocDefault);
        return null;
    }

    /// <summary>
    /// The chip's <c>memalign()</c>, <c>aligned_alloc()</c> and <c>posix_memalign()</c> (<c>heap_caps_aligned_alloc_default</c>):
    /// <see cref="MallocDefault(nuint)"/>'s choice of memory for an aligned block. Until external memory is enabled this is
    /// <c>heap_caps_aligned_alloc(alignment, size, DEFAULT|INTERNAL)</c>. After: requests up to the limit try
    /// DEFAULT|INTERNAL, larger ones DEFAULT|SPIRAM, then either falls back to plain DEFAULT; the failure callback gets
    /// DEFAULT and <c>heap_caps_aligned_alloc_default</c>.
    /// </summary>
    /// <param name="alignment">A power of two.</param>
    /// <param name="size">Bytes to allocate.</param>
    /// <returns>The block, or null: for an alignment of 0 or not a power of two, or size 0 (no callback), or when no memory can serve it (callback).</returns>
    /// <remarks>Free the block with <see cref="Free(void*)"/>. (<c>posix_memalign</c>'s own case, size 0 giving NULL and 0, is the caller's.)</remarks>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* AlignedAllocDefault(nuint alignment, nuint size)
    {
        ThrowIfDisposed();
        if (_externalMemoryLimit is not { } limit)
        {
            return AlignedAlloc(alignment, size, DefaultInternal);
        }

        var first = size <= limit ? DefaultInternal : DefaultSpiram;
        var observer = _observer;
        uint tag = 0;
        long request = 0;
        void* block;
        if (observer is not null && !observer.BeginAllocation(AllocationMethod.AlignedAllocDefault, 1, size, first, out tag, out request))
        {
            block = Refused(AlignedFailureCallsBack(alignment, 1, size), size, MallocCaps.Default, AllocationMethod.AlignedAllocDefault);
        }
        else
        {
            block = AlignedAllocDefaultTagged(alignment, size, first, tag, out var caps);
            if (tag != 0)
            {
                observer!.EndAllocation(tag, request, block, AllocationMethod.AlignedAllocDefault, 1, size, caps, alignment);
            }
        }

        AfterAllocation(AllocationMethod.AlignedAllocDefault, block);
        return block;
    }

    /// <summary>heap_caps_aligned_alloc_default once external memory is enabled: the argument checks, the preferred caps, then DEFAULT.</summary>
    private void* AlignedAllocDefaultTagged(nuint alignment, nuint size, MallocCaps first, uint tag, out MallocCaps caps)
    {
        caps = MallocCaps.Default;
        if (!AlignedFailureCallsBack(alignment, 1, size))
        {
            return null; // heap_caps_aligned_check_args: alignment 0 or not a power of two, or size 0: no callback.
        }

        return MallocFirstThenDefault(size, first, Math.Max(alignment, _alignment), zero: false, tag, AllocationMethod.AlignedAllocDefault, out caps);
    }

    /// <summary>
    /// Lets <see cref="MallocDefault(nuint)"/> use external memory (<c>heap_caps_malloc_extmem_enable</c>):
    /// requests up to <paramref name="limit"/> bytes stay internal, larger ones prefer PSRAM.
    /// <see cref="nuint.MaxValue"/> is ESP-IDF's <c>MALLOC_DISABLE_EXTERNAL_ALLOCS</c> (-1): <c>malloc()</c> is
    /// <c>heap_caps_malloc(size, DEFAULT|INTERNAL)</c> again, as before external memory was enabled. So is
    /// <see cref="uint.MaxValue"/>, the chip's 32-bit <c>SIZE_MAX</c>, which ESP-IDF stores in an <c>int</c> as -1
    /// (code ported from the chip passes it); no chip limit lies beyond it.
    /// </summary>
    /// <param name="limit">The threshold in bytes, or <see cref="nuint.MaxValue"/> (or <see cref="uint.MaxValue"/>) to keep <c>malloc()</c> internal.</param>
    public void MallocExtmemEnable(nuint limit) => _externalMemoryLimit = limit >= uint.MaxValue ? null : limit;

    /// <summary>
    /// <see cref="MallocDefaultTagged"/> of <paramref name="n"/> × <paramref name="size"/> bytes (n is 1 but for
    /// <c>calloc()</c>) with the observer told: the hook is shown the caps tried first, and a refused request calls the
    /// failure callback with what a real failure of <c>malloc()</c> gives. A product that overflows fails, as
    /// <c>calloc()</c>'s overflow check, before any memory is asked for and with no failure callback; the observer still
    /// sees the request, so a tracker logs it with both factors as it does any calloc's.
    /// <paramref name="method"/> is <see cref="AllocationMethod.MallocDefault"/>, or <see cref="AllocationMethod.ReallocDefault"/>
    /// for <c>realloc(NULL, size)</c> once external memory is enabled.
    /// </summary>
    private void* MallocDefaultObserved(nuint n, nuint size, bool zero, AllocationMethod method = AllocationMethod.MallocDefault)
    {
        var overflows = n != 1 && MulOverflows(n, size); // No division on malloc()'s path.
        var bytes = overflows ? nuint.MaxValue : n * size;
        if (_observer is not { } observer)
        {
            return overflows ? null : MallocDefaultTagged(bytes, zero, 0, out _, method);
        }

        var limit = _externalMemoryLimit;
        var first = limit is { } l && bytes > l ? DefaultSpiram : DefaultInternal;
        if (!observer.BeginAllocation(method, n, size, first, out var tag, out var request))
        {
            var callsBack = bytes != 0 && !overflows;
            return limit is null
                ? Refused(callsBack, bytes, DefaultInternal, AllocationMethod.Malloc)
                : Refused(callsBack, bytes, MallocCaps.Default, method);
        }

        var caps = first;
        var block = overflows ? null : MallocDefaultTagged(bytes, zero, tag, out caps, method);
        if (tag != 0)
        {
            observer.EndAllocation(tag, request, block, method, n, size, caps);
        }

        return block;
    }

    private void* MallocDefaultTagged(nuint size, bool zero, uint tag, out MallocCaps caps, AllocationMethod method)
    {
        if (_externalMemoryLimit is not { } limit)
        {
            caps = DefaultInternal;
            var internalOnly = MallocBase(size, DefaultInternal, _alignment, zero, tag);
            if (internalOnly is null && size != 0)
            {
                OnAllocationFailed(size, DefaultInternal, AllocationMethod.Malloc, tag);
            }

            return internalOnly;
        }

        return MallocFirstThenDefault(size, size <= limit ? DefaultInternal : DefaultSpiram, _alignment, zero, tag, method, out caps);
    }

    /// <summary>
    /// The choice of memory of the chip's default allocations once external memory is enabled: <paramref name="first"/>
    /// (internal or PSRAM by size), then any DEFAULT memory, then the failure callback with DEFAULT as <paramref name="method"/>'s.
    /// </summary>
    private void* MallocFirstThenDefault(nuint size, MallocCaps first, nuint alignment, bool zero, uint tag, AllocationMethod method, out MallocCaps caps)
    {
        caps = first;
        var block = MallocBase(size, first, alignment, zero, tag);
        if (block is null && size != 0)
        {
            caps = MallocCaps.Default;
            block = MallocBase(size, MallocCaps.Default, alignment, zero, tag);
            if (block is null)
            {
                OnAllocationFailed(size, MallocCaps.Default, method, tag);
            }
        }

        return block;
    }
}

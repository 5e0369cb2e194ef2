// The libc allocation functions of ESP-IDF (components/esp_libc/src/heap.c): malloc, calloc and
// realloc go to heap_caps_*_default, which keeps small requests in internal memory and sends
// larger ones to PSRAM first once heap_caps_malloc_extmem_enable has been called.
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
        var block = MallocDefaultObserved(size, zero: false);
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
        if (MulOverflows(n, size))
        {
            return null;
        }

        var block = MallocDefaultObserved(n * size, zero: true);
        AfterAllocation(AllocationMethod.MallocDefault, block);
        return block;
    }

    /// <summary>The chip's <c>realloc()</c> (<c>heap_caps_realloc_default</c>), with the same choice of memory as <see cref="MallocDefault(nuint)"/>.</summary>
    /// <param name="ptr">The block, or null to allocate.</param>
    /// <param name="size">The new size; 0 frees.</param>
    /// <returns>The block, or null.</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="ptr"/> is not a live block and <see cref="ErrorPolicy"/> is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void* ReallocDefault(void* ptr, nuint size)
    {
        ThrowIfDisposed();
        if (_externalMemoryLimit is null || ptr is null)
        {
            return _externalMemoryLimit is null ? Realloc(ptr, size, DefaultInternal) : MallocDefault(size);
        }

        var result = ReallocDefaultUnchecked(ptr, size);
        AfterAllocation(AllocationMethod.ReallocDefault, result);
        return result;
    }

    private void* ReallocDefaultUnchecked(void* ptr, nuint size)
    {
        if (_externalMemoryLimit is not { } limit)
        {
            return Realloc(ptr, size, DefaultInternal);
        }

        if (ptr is null)
        {
            return MallocDefault(size);
        }

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
        var block = ReallocBase(ptr, size, first, out var oldState, ref tag);
        if (block is null && oldState == Regions.BlockState.Live)
        {
            block = ReallocBase(ptr, size, MallocCaps.Default, out oldState, ref tag);
        }

        if (block is not null)
        {
            observer?.OnReallocated(tag, block, size, MallocCaps.Default, AllocationMethod.Realloc);
            return block;
        }

        if (oldState != Regions.BlockState.Live)
        {
            if (oldState == Regions.BlockState.Corrupt)
            {
                ReleaseSetAside(tag, ptr, AllocationMethod.ReallocDefault);
            }
            else
            {
                ReportBadPointer(oldState, AllocationMethod.ReallocDefault, ptr, detectedAt: null);
            }

            return null;
        }

        OnAllocationFailed(size, MallocCaps.Default, AllocationMethod.ReallocDefault);
        return null;
    }

    /// <summary>
    /// Lets <see cref="MallocDefault(nuint)"/> use external memory (<c>heap_caps_malloc_extmem_enable</c>):
    /// requests up to <paramref name="limit"/> bytes stay internal, larger ones prefer PSRAM.
    /// </summary>
    /// <param name="limit">The threshold in bytes.</param>
    public void MallocExtmemEnable(nuint limit) => _externalMemoryLimit = limit;

    /// <summary>
    /// <see cref="MallocDefaultTagged"/> with the observer told: the hook is shown the caps tried first, and a
    /// refused request calls the failure callback with what a real failure of <c>malloc()</c> gives.
    /// </summary>
    private void* MallocDefaultObserved(nuint size, bool zero)
    {
        if (_observer is not { } observer)
        {
            return MallocDefaultTagged(size, zero, 0, out _);
        }

        var limit = _externalMemoryLimit;
        var first = limit is { } l && size > l ? DefaultSpiram : DefaultInternal;
        if (!observer.BeginAllocation(AllocationMethod.MallocDefault, size, first, out var tag, out var request))
        {
            return limit is null
                ? Refused(size != 0, size, DefaultInternal, AllocationMethod.Malloc)
                : Refused(size != 0, size, MallocCaps.Default, AllocationMethod.MallocDefault);
        }

        var block = MallocDefaultTagged(size, zero, tag, out var caps);
        if (tag != 0)
        {
            observer.EndAllocation(tag, request, block, AllocationMethod.MallocDefault, size, caps);
        }

        return block;
    }

    private void* MallocDefaultTagged(nuint size, bool zero, uint tag, out MallocCaps caps)
    {
        if (_externalMemoryLimit is not { } limit)
        {
            caps = DefaultInternal;
            var internalOnly = MallocBase(size, DefaultInternal, _alignment, zero, tag);
            if (internalOnly is null && size != 0)
            {
                OnAllocationFailed(size, DefaultInternal, AllocationMethod.Malloc);
            }

            return internalOnly;
        }

        caps = size <= limit ? DefaultInternal : DefaultSpiram;
        var block = MallocBase(size, caps, _alignment, zero, tag);
        if (block is null && size != 0)
        {
            caps = MallocCaps.Default;
            block = MallocBase(size, MallocCaps.Default, _alignment, zero, tag);
            if (block is null)
            {
                OnAllocationFailed(size, MallocCaps.Default, AllocationMethod.MallocDefault);
            }
        }

        return block;
    }
}

// heap_caps_*_prefer: try capability sets in order, the first success wins; one failure
// callback, with the last set tried, when all fail.
namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    /// <summary>Allocates with the first of <paramref name="caps"/> that succeeds (<c>heap_caps_malloc_prefer</c>).</summary>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capability sets, most preferred first.</param>
    /// <returns>The block; null for size 0 (no callback) or when every set fails (one callback, with the last set tried, or DEFAULT when none was given).</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* MallocPrefer(nuint size, params ReadOnlySpan<MallocCaps> caps)
    {
        ThrowIfDisposed();
        return MallocPreferAs(AllocationMethod.MallocPrefer, size, caps);
    }

    /// <summary>
    /// heap_caps_malloc_prefer's loop, also heap_caps_realloc_prefer's for a null pointer (its realloc_base of NULL is
    /// malloc_base): <paramref name="method"/> names the request to the observer and to the failure callback.
    /// </summary>
    private void* MallocPreferAs(AllocationMethod method, nuint size, ReadOnlySpan<MallocCaps> caps)
    {
        var observer = _observer;
        uint tag = 0;
        long request = 0;
        if (observer is not null && !observer.BeginAllocation(method, 1, size, FirstOf(caps), out tag, out request))
        {
            Refused(size != 0, size, LastOf(caps), method);
            AfterOperation(method);
            return null;
        }

        void* block = null;
        var last = MallocCaps.Default;
        foreach (var option in caps)
        {
            last = option;
            block = MallocBase(size, option, _alignment, zero: false, tag);
            if (block is not null || size == 0)
            {
                break;
            }
        }

        if (block is null && size != 0)
        {
            OnAllocationFailed(size, last, method, tag);
        }

        if (tag != 0)
        {
            observer!.EndAllocation(tag, request, block, method, 1, size, block is null ? last : CapsOf(caps, block));
        }

        AfterAllocation(method, block);
        return block;
    }

    /// <summary>Allocates <paramref name="n"/> × <paramref name="size"/> zeroed bytes with the first of <paramref name="caps"/> that succeeds (<c>heap_caps_calloc_prefer</c>).</summary>
    /// <param name="n">Number of elements.</param>
    /// <param name="size">Bytes per element.</param>
    /// <param name="caps">Capability sets, most preferred first.</param>
    /// <returns>The zeroed block, or null. As ESP-IDF, the failure callback gets <paramref name="size"/>, not n × size.</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void* CallocPrefer(nuint n, nuint size, params ReadOnlySpan<MallocCaps> caps)
    {
        ThrowIfDisposed();
        var observer = _observer;
        uint tag = 0;
        long request = 0;
        if (observer is not null && !observer.BeginAllocation(AllocationMethod.CallocPrefer, n, size, FirstOf(caps), out tag, out request))
        {
            Refused(size != 0, size, LastOf(caps), AllocationMethod.CallocPrefer);
            AfterOperation(AllocationMethod.CallocPrefer);
            return null;
        }

        void* block = null;
        var last = MallocCaps.Default;
        foreach (var option in caps)
        {
            last = option;
            block = MulOverflows(n, size) ? null : MallocBase(n * size, option, _alignment, zero: true, tag);
            if (block is not null || size == 0)
            {
                break;
            }
        }

        if (block is null && size != 0)
        {
            OnAllocationFailed(size, last, AllocationMethod.CallocPrefer, tag);
        }

        if (tag != 0)
        {
            observer!.EndAllocation(tag, request, block, AllocationMethod.CallocPrefer, n, size, block is null ? last : CapsOf(caps, block));
        }

        AfterAllocation(AllocationMethod.CallocPrefer, block);
        return block;
    }

    /// <summary>Resizes a block with the first of <paramref name="caps"/> that succeeds (<c>heap_caps_realloc_prefer</c>).</summary>
    /// <param name="ptr">The block, or null to allocate.</param>
    /// <param name="size">The new size; 0 frees the block and stops.</param>
    /// <param name="caps">Capability sets, most preferred first.</param>
    /// <returns>The block, or null (freed by size 0, every set failed with the block intact, or <paramref name="ptr"/> was not a live block: reported).</returns>
    /// <remarks>With a null <paramref name="ptr"/> this allocates as <see cref="MallocPrefer"/> does, and a failure is
    /// reported to the callback as <c>heap_caps_realloc_prefer</c>'s, as ESP-IDF reports it.</remarks>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="ptr"/> is not a live block and <see cref="ErrorPolicy"/> is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void* ReallocPrefer(void* ptr, nuint size, params ReadOnlySpan<MallocCaps> caps)
    {
        ThrowIfDisposed();
        if (ptr is null)
        {
            return MallocPreferAs(AllocationMethod.ReallocPrefer, size, caps);
        }

        var result = ReallocPreferUnchecked(ptr, size, caps);
        AfterAllocation(AllocationMethod.ReallocPrefer, result);
        return result;
    }

    private void* ReallocPreferUnchecked(void* ptr, nuint size, ReadOnlySpan<MallocCaps> caps)
    {
        var last = MallocCaps.Default;
        if (size == 0)
        {
            if (!caps.IsEmpty)
            {
                FreeReporting(ptr, AllocationMethod.ReallocPrefer);
            }

            return null;
        }

        var observer = _observer;
        if (observer is not null && !observer.AdmitReallocation(ptr, size, FirstOf(caps), AllocationMethod.ReallocPrefer))
        {
            return Refused(true, size, LastOf(caps), AllocationMethod.ReallocPrefer);
        }

        uint tag = 0;
        foreach (var option in caps)
        {
            last = option;
            tag = 0;
            var block = ReallocBase(ptr, size, option, out var oldState, ref tag);
            if (block is not null)
            {
                if (tag != 0)
                {
                    DropStaleTag(observer, block);
                }

                observer?.OnReallocated(tag, block, size, option, AllocationMethod.ReallocPrefer);
                return block;
            }

            if (oldState != Regions.BlockState.Live)
            {
                ReportLostBlock(oldState, tag, ptr, AllocationMethod.ReallocPrefer);
                return null;
            }
        }

        if (tag != 0)
        {
            DropStaleTag(observer, ptr);
        }

        OnAllocationFailed(size, last, AllocationMethod.ReallocPrefer);
        observer?.OnReallocationFailed(size, last, AllocationMethod.ReallocPrefer);
        return null;
    }

    /// <summary>The most preferred set, what an allocation hook is shown: the first, or DEFAULT when none was given.</summary>
    private static MallocCaps FirstOf(ReadOnlySpan<MallocCaps> caps) => caps.IsEmpty ? MallocCaps.Default : caps[0];

    /// <summary>The last set tried when all fail, what the failure callback gets: the last, or DEFAULT when none was given.</summary>
    private static MallocCaps LastOf(ReadOnlySpan<MallocCaps> caps) => caps.IsEmpty ? MallocCaps.Default : caps[^1];

    /// <summary>The first of <paramref name="caps"/> whose region holds <paramref name="block"/>, for the record.</summary>
    private MallocCaps CapsOf(ReadOnlySpan<MallocCaps> caps, void* block)
    {
        var region = FindRegion(block);
        foreach (var option in caps)
        {
            if (region is not null && (region.AllCaps & option) == option)
            {
                return option;
            }
        }

        return caps.IsEmpty ? MallocCaps.Default : caps[^1];
    }
}

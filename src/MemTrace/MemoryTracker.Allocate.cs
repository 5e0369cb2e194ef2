// Tracked allocation: the seed's TRACE_MALLOC / TRACE_CALLOC / TRACE_REALLOC macros as methods
// that capture the call site through the compiler's caller-info attributes. Overloads that take
// the destination pointer as an `out` (or, for realloc, `ref`) argument also record its name.
using System.Runtime.CompilerServices;
using MemTrace.Internals;
using MemTrace.Regions;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    /// <summary>Allocates and records <paramref name="size"/> bytes with <paramref name="caps"/> (the seed's <c>TRACE_MALLOC</c>).</summary>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>The block, or null (size 0, or the heap could not serve it: the failure is logged).</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public void* Malloc(nuint size, MallocCaps caps, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "") =>
        _enabled
            ? TrackedAllocate(AllocationMethod.Malloc, 0, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.Malloc, file, line, function, null))
            : Untracked(AllocationMethod.Malloc, 0, 1, size, caps, null, file, line, function);

    /// <summary>Allocates and records <paramref name="size"/> bytes into <paramref name="destination"/>, recording the variable's name.</summary>
    /// <typeparam name="T">The pointer's element type.</typeparam>
    /// <param name="destination">Receives the block, or null.</param>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the destination's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>True when a block was allocated.</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public bool Malloc<T>(out T* destination, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(destination))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
        where T : unmanaged
    {
        destination = (T*)(_enabled
            ? TrackedAllocate(AllocationMethod.Malloc, 0, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.Malloc, file, line, function, variable))
            : Untracked(AllocationMethod.Malloc, 0, 1, size, caps, variable, file, line, function));
        return destination is not null;
    }

    /// <summary>Allocates and records <paramref name="size"/> bytes into an untyped <paramref name="destination"/>, recording the variable's name.</summary>
    /// <param name="destination">Receives the block, or null.</param>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the destination's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>True when a block was allocated.</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public bool Malloc(out void* destination, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(destination))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
    {
        destination = _enabled
            ? TrackedAllocate(AllocationMethod.Malloc, 0, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.Malloc, file, line, function, variable))
            : Untracked(AllocationMethod.Malloc, 0, 1, size, caps, variable, file, line, function);
        return destination is not null;
    }

    /// <summary>Allocates and records <paramref name="n"/> × <paramref name="size"/> zeroed bytes (the seed's <c>TRACE_CALLOC</c>).</summary>
    /// <param name="n">Number of elements.</param>
    /// <param name="size">Bytes per element.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>The zeroed block, or null (overflow, zero size, or the heap could not serve it).</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public void* Calloc(nuint n, nuint size, MallocCaps caps, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "") =>
        _enabled
            ? TrackedAllocate(AllocationMethod.Calloc, 0, n, size, caps, CallSiteRegistry.GetId(AllocationMethod.Calloc, file, line, function, null))
            : Untracked(AllocationMethod.Calloc, 0, n, size, caps, null, file, line, function);

    /// <summary>Allocates and records <paramref name="n"/> × <paramref name="size"/> zeroed bytes into <paramref name="destination"/>, recording the variable's name.</summary>
    /// <typeparam name="T">The pointer's element type.</typeparam>
    /// <param name="destination">Receives the block, or null.</param>
    /// <param name="n">Number of elements.</param>
    /// <param name="size">Bytes per element.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the destination's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>True when a block was allocated.</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public bool Calloc<T>(out T* destination, nuint n, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(destination))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
        where T : unmanaged
    {
        destination = (T*)(_enabled
            ? TrackedAllocate(AllocationMethod.Calloc, 0, n, size, caps, CallSiteRegistry.GetId(AllocationMethod.Calloc, file, line, function, variable))
            : Untracked(AllocationMethod.Calloc, 0, n, size, caps, variable, file, line, function));
        return destination is not null;
    }

    /// <summary>Allocates and records <paramref name="n"/> × <paramref name="size"/> zeroed bytes into an untyped <paramref name="destination"/>, recording the variable's name.</summary>
    /// <param name="destination">Receives the block, or null.</param>
    /// <param name="n">Number of elements.</param>
    /// <param name="size">Bytes per element.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the destination's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>True when a block was allocated.</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public bool Calloc(out void* destination, nuint n, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(destination))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
    {
        destination = _enabled
            ? TrackedAllocate(AllocationMethod.Calloc, 0, n, size, caps, CallSiteRegistry.GetId(AllocationMethod.Calloc, file, line, function, variable))
            : Untracked(AllocationMethod.Calloc, 0, n, size, caps, variable, file, line, function);
        return destination is not null;
    }

    /// <summary>Allocates and records <paramref name="size"/> bytes aligned to <paramref name="alignment"/>.</summary>
    /// <param name="alignment">A power of two.</param>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>The block, or null (bad alignment, size 0, or the heap could not serve it).</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public void* AlignedAlloc(nuint alignment, nuint size, MallocCaps caps, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "") =>
        _enabled
            ? TrackedAllocate(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.AlignedAlloc, file, line, function, null))
            : Untracked(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, null, file, line, function);

    /// <summary>Allocates and records <paramref name="size"/> bytes aligned to <paramref name="alignment"/> into <paramref name="destination"/>, recording the variable's name.</summary>
    /// <typeparam name="T">The pointer's element type.</typeparam>
    /// <param name="destination">Receives the block, or null.</param>
    /// <param name="alignment">A power of two.</param>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the destination's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>True when a block was allocated.</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public bool AlignedAlloc<T>(out T* destination, nuint alignment, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(destination))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
        where T : unmanaged
    {
        destination = (T*)(_enabled
            ? TrackedAllocate(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.AlignedAlloc, file, line, function, variable))
            : Untracked(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, variable, file, line, function));
        return destination is not null;
    }

    /// <summary>Allocates and records <paramref name="size"/> bytes aligned to <paramref name="alignment"/> into an untyped <paramref name="destination"/>, recording the variable's name.</summary>
    /// <param name="destination">Receives the block, or null.</param>
    /// <param name="alignment">A power of two.</param>
    /// <param name="size">Bytes to allocate.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the destination's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>True when a block was allocated.</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public bool AlignedAlloc(out void* destination, nuint alignment, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(destination))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
    {
        destination = _enabled
            ? TrackedAllocate(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.AlignedAlloc, file, line, function, variable))
            : Untracked(AllocationMethod.AlignedAlloc, alignment, 1, size, caps, variable, file, line, function);
        return destination is not null;
    }

    /// <summary>
    /// Resizes a block and updates its record (the seed's <c>TRACE_REALLOC</c>): the record keeps
    /// where the block was first allocated and adds this realloc's site. A null pointer allocates;
    /// size 0 frees and returns null. A failed realloc leaves the block and its record intact.
    /// </summary>
    /// <param name="ptr">The block, or null.</param>
    /// <param name="size">The new size; 0 frees.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>The resized block, or null (freed, failed, or <paramref name="ptr"/> was not a live block: reported).</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="ptr"/> is not a live block and the heap's policy is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void* Realloc(void* ptr, nuint size, MallocCaps caps, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "") =>
        TrackedRealloc(ptr, size, caps, null, file, line, function, out _);

    /// <summary>
    /// Resizes the block in <paramref name="pointer"/> and updates its record, recording the
    /// variable's name. On success <paramref name="pointer"/> receives the resized block (null after
    /// size 0); on failure it keeps the intact block.
    /// </summary>
    /// <typeparam name="T">The pointer's element type.</typeparam>
    /// <param name="pointer">The block (null to allocate); receives the result on success.</param>
    /// <param name="size">The new size; 0 frees.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the pointer's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>
    /// True on success (including a free by size 0); false when the block could not be resized, or when
    /// <paramref name="pointer"/> was not a live block (reported; with size 0 too): <paramref name="pointer"/> is then unchanged.
    /// </returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="pointer"/> is not a live block and the heap's policy is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public bool Realloc<T>(ref T* pointer, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(pointer))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
        where T : unmanaged
    {
        var result = TrackedRealloc(pointer, size, caps, variable, file, line, function, out var succeeded);
        if (!succeeded)
        {
            return false;
        }

        pointer = (T*)result;
        return true;
    }

    /// <summary>
    /// Resizes the block in an untyped <paramref name="pointer"/> and updates its record, recording the
    /// variable's name; see <see cref="Realloc{T}(ref T*, nuint, MallocCaps, string, string, int, string)"/>.
    /// </summary>
    /// <param name="pointer">The block (null to allocate); receives the result on success.</param>
    /// <param name="size">The new size; 0 frees.</param>
    /// <param name="caps">Capabilities the memory must have.</param>
    /// <param name="variable">Filled in by the compiler: the pointer's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <returns>
    /// True on success (including a free by size 0); false when the block could not be resized, or when
    /// <paramref name="pointer"/> was not a live block (reported; with size 0 too): <paramref name="pointer"/> is then unchanged.
    /// </returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    /// <exception cref="MemoryErrorException"><paramref name="pointer"/> is not a live block and the heap's policy is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public bool Realloc(ref void* pointer, nuint size, MallocCaps caps, [CallerArgumentExpression(nameof(pointer))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
    {
        var result = TrackedRealloc(pointer, size, caps, variable, file, line, function, out var succeeded);
        if (!succeeded)
        {
            return false;
        }

        pointer = result;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void* TrackedAllocate(AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps, uint site)
    {
        Heap.ThrowIfDisposed();
        var cell = Cell();
        var request = NextRequestNumber(cell);
        if (_admission != 0 && !Admit(request, method, n, size, caps, site, 0, alignment))
        {
            return null;
        }

        var handle = TakeHandle(cell);
        return Heap.HasDebugRegions
            ? TrackedAllocateChecked(cell, handle, request, method, alignment, n, size, caps, site)
            : AllocateAndRecord(cell, handle, request, method, alignment, n, size, caps, site);
    }

    /// <summary>An allocation on a heap whose regions check blocks: the call site goes with it, so a corruption found is reported as detected here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void* TrackedAllocateChecked(TrackerThreadCell cell, uint handle, long request, AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps, uint site)
    {
        var outer = CallSiteContext.Current; // A tracked operation whose allocation hook or break callback allocates here.
        CallSiteContext.Current = site;
        try
        {
            return AllocateAndRecord(cell, handle, request, method, alignment, n, size, caps, site);
        }
        finally
        {
            CallSiteContext.Current = outer;
        }
    }

    /// <summary>The heap's allocation for a tracked request that was admitted: records the block under <paramref name="handle"/>, or logs the failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void* AllocateAndRecord(TrackerThreadCell cell, uint handle, long request, AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps, uint site)
    {
        var block = method switch
        {
            AllocationMethod.Malloc or AllocationMethod.Realloc => Heap.MallocTagged(method, size, caps, handle),
            AllocationMethod.Calloc => Heap.CallocTagged(method, n, size, caps, handle),
            _ => Heap.AlignedAllocTagged(method, alignment, n, size, caps, handle),
        };

        if (block is null)
        {
            block = Failed(cell, handle, method, alignment, n, size, caps, site, request);
        }
        else if (handle != 0)
        {
            Commit(cell, handle, block, n * size, caps, site, request); // Served, so n * size did not overflow.
        }

        Heap.AfterAllocation(method, block);
        return block;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void* Failed(TrackerThreadCell cell, uint handle, AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps, uint site, long request)
    {
        if (handle != 0)
        {
            ReturnUnused(cell, handle);
        }

        if (n != 0 && size != 0)
        {
            LogFailure(method, size, caps, site, request, elements: n, alignment: alignment);
        }

        return null;
    }

    /// <summary>An allocation through the tracker while it does not record: the heap alone, and the failure logged as the seed logs it.</summary>
    private void* Untracked(AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps, string? variable, string file, int line, string function)
    {
        ThrowIfDisposed();
        Heap.ThrowIfDisposed();
        var block = method switch
        {
            AllocationMethod.Malloc => Heap.MallocTagged(method, size, caps, 0),
            AllocationMethod.Calloc => Heap.CallocTagged(method, n, size, caps, 0),
            _ => Heap.AlignedAllocTagged(method, alignment, n, size, caps, 0),
        };

        if (block is null && n != 0 && size != 0)
        {
            UntrackedFailed(method, alignment, n, size, caps, variable, file, line, function);
        }

        Heap.AfterAllocation(method, block);
        return block;
    }

    /// <summary>Logs a failed request made through the tracker while it does not record (the seed's wrappers log every failure).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void UntrackedFailed(AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps, string? variable, string file, int line, string function) =>
        LogFailure(method, size, caps, CallSiteRegistry.GetId(method, file, line, function, variable), NextRequestNumber(Cell()), elements: n, alignment: alignment);

    /// <summary>
    /// The tracked realloc. <paramref name="succeeded"/> tells whether the call did what was asked: a block
    /// came back, or size 0 freed a live block (or there was nothing to free); it is false for a failure
    /// (the block is intact) and for a pointer that was not a live block (reported).
    /// </summary>
    private void* TrackedRealloc(void* ptr, nuint size, MallocCaps caps, string? variable, string file, int line, string function, out bool succeeded)
    {
        ThrowIfDisposed();
        Heap.ThrowIfDisposed();
        if (!Heap.HasDebugRegions)
        {
            var result = TrackedReallocCore(ptr, size, caps, variable, file, line, function, out succeeded);
            Heap.AfterAllocation(AllocationMethod.Realloc, result);
            return result;
        }

        var outer = CallSiteContext.Current; // A tracked operation whose allocation hook or break callback reallocates here.
        CallSiteContext.Current = CallSiteRegistry.GetId(AllocationMethod.Realloc, file, line, function, variable);
        try
        {
            var result = TrackedReallocCore(ptr, size, caps, variable, file, line, function, out succeeded);
            Heap.AfterAllocation(AllocationMethod.Realloc, result);
            return result;
        }
        finally
        {
            CallSiteContext.Current = outer;
        }
    }

    private void* TrackedReallocCore(void* ptr, nuint size, MallocCaps caps, string? variable, string file, int line, string function, out bool succeeded)
    {
        var enabled = _enabled;
        if (ptr is null)
        {
            void* fresh;
            if (enabled)
            {
                fresh = TrackedAllocate(AllocationMethod.Realloc, 0, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.Realloc, file, line, function, variable));
            }
            else
            {
                fresh = Heap.MallocTagged(AllocationMethod.Realloc, size, caps, 0);
                if (fresh is null && size != 0)
                {
                    UntrackedFailed(AllocationMethod.Realloc, 0, 1, size, caps, variable, file, line, function);
                }
            }

            succeeded = fresh is not null || size == 0;
            return fresh;
        }

        if (size == 0)
        {
            succeeded = FreeBlock(ptr, AllocationMethod.Realloc, clear: false, variable, file, line, function);
            return null;
        }

        succeeded = false;

        if (enabled && _admission != 0 && !Admit(0, AllocationMethod.Realloc, 1, size, caps, CallSiteRegistry.GetId(AllocationMethod.Realloc, file, line, function, variable), (nuint)ptr))
        {
            return null;
        }

        var block = Heap.ReallocTagged(AllocationMethod.Realloc, ptr, size, caps, out var oldState, out var oldTag);
        if (block is not null)
        {
            if (oldTag != 0)
            {
                Reallocated(Cell(), oldTag, block, size, caps, CallSiteRegistry.GetId(AllocationMethod.Realloc, file, line, function, variable));
            }
            else if (enabled)
            {
                TrackFromNow(Cell(), block, size, caps, CallSiteRegistry.GetId(AllocationMethod.Realloc, file, line, function, variable));
            }

            succeeded = true;
            return block;
        }

        if (oldTag != 0 && _closing)
        {
            Abandon(ptr); // The intact block keeps no tag of a store that Dispose is freeing.
        }

        var site = CallSiteRegistry.GetId(AllocationMethod.Realloc, file, line, function, variable);
        if (oldState == BlockState.Corrupt)
        {
            // The region found the block damaged, queued the report (made, with this call as the detecting site, when
            // the operation ends) and set the block aside for good: it is no longer the caller's, so its record goes.
            if (oldTag != 0)
            {
                Release(Cell(), oldTag, site);
            }
        }
        else if (oldState != BlockState.Live)
        {
            Heap.ReportBadPointer(oldState, AllocationMethod.Realloc, ptr, CallSiteRegistry.Get(site));
        }
        else
        {
            LogFailure(AllocationMethod.Realloc, size, caps, site, NextRequestNumber(Cell()));
        }

        return null;
    }

    /// <summary>Starts recording a block that was made while tracking was off, at its first tracked realloc.</summary>
    private void TrackFromNow(TrackerThreadCell cell, void* block, nuint size, MallocCaps caps, uint site)
    {
        // The break first, as on every other path: a callback that throws leaves the block as it was, not recorded,
        // instead of tagged with a handle whose record was never committed (a later free then made the live count -1).
        var request = NextRequestNumber(cell);
        if (_admission != 0)
        {
            CheckBreak(request, AllocationMethod.Realloc, size, caps, site, 0);
        }

        var handle = TakeHandle(cell);
        if (handle == 0)
        {
            return;
        }

        Heap.SetTag(block, handle);
        Commit(cell, handle, block, size, caps, site, request);
    }
}

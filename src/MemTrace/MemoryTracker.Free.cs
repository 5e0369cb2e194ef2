// Tracked free: the seed's free_unregister_allocation. Clear the block, unregister it, free it,
// and null the caller's pointer. A pointer that is not a live block is reported with the
// free's call site and, where known, where the block was allocated and first freed.
using System.Runtime.CompilerServices;
using MemTrace.Internals;
using MemTrace.Regions;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    /// <summary>
    /// Frees the block in <paramref name="pointer"/> and sets <paramref name="pointer"/> to null (the
    /// seed's <c>free_unregister_allocation</c>): a tracked block is zeroed first (see
    /// <see cref="MemoryTrackerOptions.ClearOnFree"/>) and its record released. Null is a no-op.
    /// </summary>
    /// <typeparam name="T">The pointer's element type.</typeparam>
    /// <param name="pointer">The block; set to null.</param>
    /// <param name="variable">Filled in by the compiler: the pointer's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <remarks>
    /// <para>A double free, a pointer the heap never handed out and an interior pointer are reported as a
    /// <see cref="MemoryError"/> naming this call, the block's allocation site and, for a double free,
    /// the first free's site; they are never passed to the native free. A block allocated while
    /// tracking was disabled is freed silently.</para>
    /// <para>The sites of a double free come from the freed block's record, which is kept only until its
    /// handle is reused: the handle joins the back of the freeing thread's queue of free handles and is
    /// taken again after the allocations on that thread have used those ahead of it (from one to a few
    /// hundred). A later double free is still reported as one, with a note that the tracker no longer
    /// holds the record and without the allocation and first-free sites.</para>
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed (and <paramref name="pointer"/> is not null; after the tracker's disposal it is left as it was).</exception>
    /// <exception cref="MemoryErrorException">The pointer is not a live block and the heap's policy is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void Free<T>(ref T* pointer, [CallerArgumentExpression(nameof(pointer))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
        where T : unmanaged
    {
        void* block = pointer;
        if (block is not null)
        {
            ThrowIfDisposed();
            pointer = null;
            FreeBlock(block, AllocationMethod.Free, _clearOnFree, variable, file, line, function);
        }
    }

    /// <summary>Frees the block in an untyped <paramref name="pointer"/> and sets it to null; see <see cref="Free{T}(ref T*, string, string, int, string)"/>.</summary>
    /// <param name="pointer">The block; set to null.</param>
    /// <param name="variable">Filled in by the compiler: the pointer's name.</param>
    /// <param name="file">Filled in by the compiler.</param>
    /// <param name="line">Filled in by the compiler.</param>
    /// <param name="function">Filled in by the compiler.</param>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed (and <paramref name="pointer"/> is not null; after the tracker's disposal it is left as it was).</exception>
    /// <exception cref="MemoryErrorException">The pointer is not a live block and the heap's policy is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    public void Free(ref void* pointer, [CallerArgumentExpression(nameof(pointer))] string variable = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "")
    {
        var block = pointer;
        if (block is not null)
        {
            ThrowIfDisposed();
            pointer = null;
            FreeBlock(block, AllocationMethod.Free, _clearOnFree, variable, file, line, function);
        }
    }

    /// <summary>Frees a block through the heap and releases its record; true when it was a live block, false when it was reported.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FreeBlock(void* block, AllocationMethod method, bool clear, string? variable, string file, int line, string function)
    {
        Heap.ThrowIfDisposed();
        if (Heap.HasDebugRegions)
        {
            return FreeChecked(block, method, clear, variable, file, line, function);
        }

        // The cell is looked up first when a free event is built: its trace ring answers FreeEventSequence.
        var cell = EmitsEvent(Diagnostics.HeapEventKind.Free) ? Cell() : null;
        var sequence = FreeEventSequence(cell);
        var state = Heap.FreeTagged(block, clear, out var info);
        if (state == BlockState.Live)
        {
            if (info.Tag != 0)
            {
                Release(cell ?? Cell(), info.Tag, CallSiteRegistry.GetId(method, file, line, function, variable), sequence);
            }

            Heap.AfterOperation(method);
            return true;
        }

        ReportBadFree(state, block, method, variable, file, line, function);
        return false;
    }

    /// <summary>The free of a heap whose regions check blocks: the call site goes with the free, so a corruption found is reported as detected here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FreeChecked(void* block, AllocationMethod method, bool clear, string? variable, string file, int line, string function)
    {
        var site = CallSiteRegistry.GetId(method, file, line, function, variable);
        var outer = CallSiteContext.Current; // A tracked realloc whose allocation hook or break callback frees here.
        CallSiteContext.Current = site;
        try
        {
            var cell = EmitsEvent(Diagnostics.HeapEventKind.Free) ? Cell() : null;
            var sequence = FreeEventSequence(cell);
            var state = Heap.FreeTagged(block, clear, out var info);
            if (state == BlockState.Live)
            {
                if (info.Tag != 0)
                {
                    Release(cell ?? Cell(), info.Tag, site, sequence);
                }

                Heap.AfterOperation(method);
                return true;
            }

            if (state == BlockState.Corrupt)
            {
                // A block a realloc found damaged and set aside (its record went then): nothing to free, nothing new to report.
                Heap.AfterOperation(method);
                return true;
            }

            ReportBadFree(state, block, method, variable, file, line, function);
            return false;
        }
        finally
        {
            CallSiteContext.Current = outer;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReportBadFree(BlockState state, void* block, AllocationMethod method, string? variable, string file, int line, string function)
    {
        var site = CallSiteRegistry.Get(CallSiteRegistry.GetId(method, file, line, function, variable));
        Heap.ReportBadPointer(state, method, block, site);
    }
}

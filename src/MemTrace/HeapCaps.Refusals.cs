// Requests that an attached tracker refuses (its allocation hook: injected failures, the CRT's
// _CrtSetAllocHook). A refused request fails as a request that no region can serve: null, a
// realloc's block left intact, and the failed-allocation callback (then the abort, when
// AbortOnAllocationFailure is set) called exactly where that request would call it had the regions
// run out of memory, with the same size, caps and function name; so the code under test cannot
// tell an injected failure from a real one. The regions themselves are not asked.
using System.Numerics;
using System.Runtime.CompilerServices;

namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    /// <summary>Fails a refused request: the failure callback when <paramref name="callsBack"/> (a real failure of the same request would call it), then null.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void* Refused(bool callsBack, nuint size, MallocCaps caps, AllocationMethod method)
    {
        if (callsBack)
        {
            OnAllocationFailed(size, caps, method);
        }

        return null;
    }

    /// <summary>
    /// The failure of a request made through a tracker that the tracker's hook refused (tracked malloc, calloc,
    /// aligned alloc, realloc): the failure callback exactly where and as the same request made on the heap directly
    /// would call it, refused or failed for real: not for 0 bytes of a malloc or realloc, nor for a bad alignment;
    /// a calloc's with the product as ESP-IDF computes it (wrapped when it overflows).
    /// </summary>
    /// <param name="method">The tracked request's method.</param>
    /// <param name="alignment">An aligned request's alignment; 0 otherwise.</param>
    /// <param name="n">Elements (1 but for the callocs).</param>
    /// <param name="size">Bytes of each element.</param>
    /// <param name="caps">The capabilities asked for.</param>
    internal void OnTrackedRequestRefused(AllocationMethod method, nuint alignment, nuint n, nuint size, MallocCaps caps)
    {
        var callsBack = method switch
        {
            AllocationMethod.AlignedAlloc or AllocationMethod.AlignedCalloc => AlignedFailureCallsBack(alignment, n, size),
            _ => size != 0,
        };
        if (callsBack)
        {
            OnAllocationFailed(WrappedProduct(n, size), caps, method);
        }
    }

    /// <summary>Whether a failed aligned request calls the failure callback: a valid alignment, no overflow, and a non-zero size.</summary>
    private bool AlignedFailureCallsBack(nuint alignment, nuint n, nuint size) =>
        IsValidAlignment(alignment) && !MulOverflows(n, size) && n * size != 0;

    /// <summary>heap_caps_aligned_check_args' rule: an alignment is a power of two (0 is not).</summary>
    internal static bool IsValidAlignment(nuint alignment) => BitOperations.IsPow2((ulong)alignment);
}

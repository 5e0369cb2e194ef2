// AllocationRequest: a tracked request about to be served, as an allocation hook or a
// break-on-request callback sees it (the arguments of the CRT's _CRT_ALLOC_HOOK).
namespace MemTrace;

/// <summary>
/// A request a <see cref="MemoryTracker"/> is about to serve, passed to its
/// <see cref="MemoryTracker.AllocationHook"/> and <see cref="MemoryTracker.BreakAllocCallback"/>.
/// </summary>
/// <param name="RequestNumber">The request number the block will have; 0 for a realloc of a live block (it keeps its own).</param>
/// <param name="Method">The method called (malloc, calloc, aligned alloc, realloc; on the heap directly also the prefer and default variants).</param>
/// <param name="Size">The requested size in bytes (for calloc, n × size; <see cref="nuint.MaxValue"/> when that product overflows).</param>
/// <param name="Caps">The requested capabilities (for a <c>_prefer</c> call, the most preferred set; for the chip's <c>malloc()</c>, the set it tries first).</param>
/// <param name="Site">Where the call was made (no source location for allocations made on the <see cref="HeapCaps"/> directly).</param>
/// <param name="Address">For a realloc, the block being resized; otherwise 0.</param>
/// <param name="ThreadId">Managed id of the requesting thread.</param>
public readonly record struct AllocationRequest(long RequestNumber, AllocationMethod Method, nuint Size, MallocCaps Caps, CallSite Site, nuint Address, int ThreadId);

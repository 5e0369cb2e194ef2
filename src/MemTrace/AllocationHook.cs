// AllocationHook: the CRT's _CrtSetAllocHook for MemoryTracker: see every request on the tracked
// heap before it is served, and refuse it to inject a failure.
namespace MemTrace;

/// <summary>
/// Called for every allocation or realloc on a tracked heap before it is served (the CRT's <c>_CRT_ALLOC_HOOK</c>),
/// whether made through the <see cref="MemoryTracker"/> or on its <see cref="HeapCaps"/> directly.
/// Return false to refuse the request: it then fails as if the heap had no memory (null, a failed
/// realloc leaves the block intact, the heap's failed-allocation callback runs), and is logged and
/// counted as a refused failure.
/// </summary>
/// <param name="request">The request.</param>
/// <returns>True to serve the request, false to refuse it.</returns>
/// <remarks>
/// The hook runs on the allocating thread, on every request, so it should be quick. Requests
/// that the hook itself makes are not passed to it again. <see cref="FailureInjection"/>
/// builds hooks that fail the Nth request, the requests of a call site, or requests at random with a seed.
/// </remarks>
public delegate bool AllocationHook(in AllocationRequest request);

// AllocationHook: the CRT's _CrtSetAllocHook for MemoryTracker: see every tracked request before
// it is served, and refuse it to inject a failure.
namespace MemTrace;

/// <summary>
/// Called for every tracked allocation or realloc before it is served (the CRT's <c>_CRT_ALLOC_HOOK</c>).
/// Return false to refuse the request: it then fails as if the heap had no memory (null, a failed
/// realloc leaves the block intact), and is logged and counted as a refused failure.
/// </summary>
/// <param name="request">The request.</param>
/// <returns>True to serve the request, false to refuse it.</returns>
/// <remarks>
/// The hook runs on the allocating thread, on every tracked request, so it should be quick. Requests
/// that the hook itself makes through the tracker are not passed to it again. <see cref="FailureInjection"/>
/// builds hooks that fail the Nth request, the requests of a call site, or requests at random with a seed.
/// </remarks>
public delegate bool AllocationHook(in AllocationRequest request);

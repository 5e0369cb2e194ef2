// IAllocationObserver: the hook a MemoryTracker attaches to a HeapCaps (ESP-IDF's
// esp_heap_trace_alloc_hook / free_hook), so that it sees every allocation made on the heap,
// also those made through HeapCaps directly, which it records with no call site, and can refuse
// them (the tracker's allocation hook: injected failures).
//
// Cost: the heap makes one interface call before and one after each allocation while an observer
// is attached, and tests the answer of the first (one predictable branch); an observer with no
// allocation hook answers yes after one test of a field.
namespace MemTrace;

internal unsafe interface IAllocationObserver
{
    /// <summary>
    /// Starts an allocation made directly on the heap: draws its request number, asks the allocation hook, if
    /// any, and reserves the block's owner word (<paramref name="tag"/>, 0 when not recording).
    /// </summary>
    /// <returns>
    /// False when the request is refused. The observer has then logged and counted the refusal and holds nothing
    /// for it; the heap fails the request as it fails one that no region can serve (null, and the failure
    /// callback where that request would call it) and does not call <see cref="EndAllocation"/>.
    /// </returns>
    bool BeginAllocation(AllocationMethod method, nuint n, nuint size, MallocCaps caps, out uint tag, out long request);

    /// <summary>
    /// Completes what <see cref="BeginAllocation"/> started: records the block, or on failure (null) gives the tag back and logs the
    /// failure. The request was <paramref name="n"/> elements of <paramref name="size"/> bytes (1 for all but the callocs), so that
    /// a calloc whose product overflows is logged with both factors. <paramref name="alignment"/> is an aligned request's
    /// alignment (0 for the others), so that a bad one is logged as such.
    /// </summary>
    void EndAllocation(uint tag, long request, void* block, AllocationMethod method, nuint n, nuint size, MallocCaps caps, nuint alignment = 0);

    /// <summary>
    /// The failure callback of a failed request threw: the request ends with that exception before its observer completes
    /// it (<see cref="EndAllocation"/>, or the observer's own failure path for a request made through it), so the heap gives
    /// back <paramref name="tag"/>, the owner word reserved for the block the request would have made, on the requesting thread.
    /// </summary>
    void ReleaseUnusedTag(uint tag);

    /// <summary>
    /// Asks whether a realloc of <paramref name="ptr"/> to a non-zero <paramref name="size"/>, made directly on the heap,
    /// may be served. False when the allocation hook refused it (logged and counted): the heap leaves the block intact
    /// and fails the request as one no region can serve. A pointer that is not a live block is never refused, so that
    /// the heap reports it.
    /// </summary>
    bool AdmitReallocation(void* ptr, nuint size, MallocCaps caps, AllocationMethod method);

    /// <summary>
    /// A realloc of a block to a non-zero size, made directly on the heap, failed and left the block intact (after the
    /// failure callback): the observer logs the failure, as it logs a failed allocation made on the heap directly and as
    /// it logs such a realloc when its allocation hook refuses it.
    /// </summary>
    void OnReallocationFailed(nuint size, MallocCaps caps, AllocationMethod method);

    /// <summary>A block was reallocated directly on the heap; <paramref name="tag"/> is 0 for a block the observer did not record (it may record it from now on, setting its tag).</summary>
    void OnReallocated(uint tag, void* block, nuint size, MallocCaps caps, AllocationMethod method);

    /// <summary>A tagged block was freed directly on the heap; <paramref name="sequence"/> is what <see cref="BeginFree"/> drew (0: none).</summary>
    void OnFreed(uint tag, void* block, AllocationMethod method, long sequence = 0);

    /// <summary>
    /// Called before a free made on the heap directly releases its block: the number the free's event will carry (0
    /// when none is built), drawn while the block cannot yet be handed out again. Passed back to <see cref="OnFreed"/>.
    /// </summary>
    long BeginFree();

    /// <summary>
    /// Adds what the observer knows to an error: the allocation record of the block concerned
    /// (<paramref name="blockTag"/> is its tag when the heap found one, e.g. the block containing
    /// an interior pointer) and, for a freed block, where it was freed. The record is used only when it
    /// still describes that block (its address is the error's block address): a handle is reused once its
    /// block is freed. <paramref name="witness"/>, when given, is the copy the observer made when the block
    /// was freed (<see cref="TryWitness"/>) and is used instead of the record.
    /// </summary>
    MemoryError Describe(MemoryError error, uint blockTag, in Regions.BlockWitness? witness);

    /// <summary>
    /// A copy of what the observer knows of the block tagged <paramref name="tag"/> at <paramref name="address"/>,
    /// for a report that may come after the record is reused: a live record is copied as freed now, by the call in
    /// progress on this thread (a quarantine keeps the block); a freed record as it is. False when the observer has no
    /// record of that block. Called under a region's lock: it must not call back into the heap.
    /// </summary>
    bool TryWitness(uint tag, nuint address, out Regions.BlockWitness witness);
}

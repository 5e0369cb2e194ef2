// IAllocationObserver: the hook a MemoryTracker attaches to a HeapCaps (ESP-IDF's
// esp_heap_trace_alloc_hook / free_hook), so that it sees every allocation made on the heap,
// also those made through HeapCaps directly, which it records with no call site.
namespace MemTrace;

internal unsafe interface IAllocationObserver
{
    /// <summary>Reserves an owner word (tag) for an allocation about to be made directly on the heap; 0 when not recording.</summary>
    uint BeginAllocation();

    /// <summary>Completes what <see cref="BeginAllocation"/> started: records the block, or on failure (null) gives the tag back and logs the failure.</summary>
    void EndAllocation(uint tag, void* block, AllocationMethod method, nuint size, MallocCaps caps);

    /// <summary>A tagged block was reallocated directly on the heap.</summary>
    void OnReallocated(uint tag, void* block, nuint size, MallocCaps caps, AllocationMethod method);

    /// <summary>A tagged block was freed directly on the heap.</summary>
    void OnFreed(uint tag, void* block, AllocationMethod method);

    /// <summary>
    /// Adds what the observer knows to an error: the allocation record of the block concerned
    /// (<paramref name="blockTag"/> is its tag when the heap found one, e.g. the block containing
    /// an interior pointer) and, for a freed block, where it was freed.
    /// </summary>
    MemoryError Describe(MemoryError error, uint blockTag);
}

// AllocationFailedCallback: ESP-IDF's esp_alloc_failed_hook_t.
namespace MemTrace;

/// <summary>
/// Called when an allocation fails, as ESP-IDF's <c>esp_alloc_failed_hook_t</c>: with the
/// requested size, the requested capabilities and the C name of the function that failed
/// (e.g. <c>heap_caps_malloc</c>). Register it with <see cref="HeapCaps.RegisterFailedAllocCallback(AllocationFailedCallback)"/>.
/// </summary>
/// <param name="size">The requested size (for calloc, n × size).</param>
/// <param name="caps">The requested capabilities.</param>
/// <param name="functionName">The C name of the function that failed.</param>
public delegate void AllocationFailedCallback(nuint size, MallocCaps caps, string functionName);

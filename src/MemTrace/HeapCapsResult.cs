// HeapCapsResult: ESP-IDF's esp_err_t values for the heap_caps functions that return one.
namespace MemTrace;

/// <summary>The result of a <see cref="HeapCaps"/> operation that ESP-IDF reports with an <c>esp_err_t</c>.</summary>
public enum HeapCapsResult
{
    /// <summary><c>ESP_OK</c>.</summary>
    Ok,

    /// <summary><c>ESP_FAIL</c>: e.g. a region that overlaps an existing heap, or stopping a monitor that is not running.</summary>
    Fail,

    /// <summary><c>ESP_ERR_INVALID_ARG</c>: e.g. a null start address or an end not above the start.</summary>
    InvalidArgument,

    /// <summary><c>ESP_ERR_NO_MEM</c>: the heap descriptor could not be allocated.</summary>
    NoMemory,

    /// <summary><c>ESP_ERR_INVALID_SIZE</c>: the region is too small to hold a heap.</summary>
    InvalidSize,
}

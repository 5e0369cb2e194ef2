/*
 * memmap.h for MemTrace's native library (libmemtrace): the API of the ESP-IDF memory tracking
 * utilities ("the seed"), over MemTrace's tracker. TRACE_MALLOC/TRACE_CALLOC/TRACE_REALLOC record
 * the file, line and function of every block; list_allocations() lists the live ones;
 * free_unregister_allocation() zeroes, frees and nulls the caller's pointer; a failed allocation is
 * logged with the heap's state. MemTrace adds the variable's name (TRACE_MALLOC_TO and the other
 * _TO macros), a free that names its call site (TRACE_FREE), and reports double and invalid frees.
 *
 * No semaphore is needed: the tracker is thread-safe. debug_track_allocation starts true.
 */
#pragma once

#include "esp_heap_caps.h"
#include "memtrace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The seed's global switch: false stops recording (blocks recorded before it are still freed right). */
MEMTRACE_API bool *memtrace_debug_track_allocation(void);
#define debug_track_allocation (*memtrace_debug_track_allocation())

/* The seed's wrappers: file and function must be string literals, as __FILE__ and __func__ are. */
MEMTRACE_API void *traceable_heap_caps_malloc(size_t size, uint32_t caps, const char *file, int line, const char *function);
MEMTRACE_API void *traceable_heap_caps_calloc(size_t n, size_t size, uint32_t caps, const char *file, int line, const char *function);
MEMTRACE_API void *traceable_heap_caps_realloc(void *ptr, size_t size, uint32_t caps, const char *file, int line, const char *function);
MEMTRACE_API void *traceable_heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t caps, const char *file, int line, const char *function);

/*
 * Zeroes the block, unregisters it, frees it and sets *ptr to NULL. The macro passes the call site,
 * so that a double or invalid free is reported where it happened; (free_unregister_allocation)(ptr)
 * calls the function itself, which reports "?:0".
 */
MEMTRACE_API void free_unregister_allocation(void **ptr);
#define free_unregister_allocation(ptr) memtrace_free_at((ptr), __FILE__, __LINE__, __func__, NULL)

/* Prints every live tracked block: address, size, caps, method, file:line (function), variable. */
MEMTRACE_API void list_allocations(void);

/* Prints free, minimum free and largest free block for each kind of memory, under tag. */
MEMTRACE_API void print_memory_info(const char *tag);

/* The same with the variable's name; variable may be NULL. */
MEMTRACE_API void *memtrace_malloc_at(size_t size, uint32_t caps, const char *file, int line, const char *function, const char *variable);
MEMTRACE_API void *memtrace_calloc_at(size_t n, size_t size, uint32_t caps, const char *file, int line, const char *function, const char *variable);
MEMTRACE_API void *memtrace_aligned_alloc_at(size_t alignment, size_t size, uint32_t caps, const char *file, int line, const char *function, const char *variable);
/* Reallocates *ptr; on success stores the new block in *ptr and returns true, on failure leaves *ptr (still valid) and returns false. */
MEMTRACE_API bool memtrace_realloc_at(void **ptr, size_t size, uint32_t caps, const char *file, int line, const char *function, const char *variable);
/* free_unregister_allocation() that names its call site in a double or invalid free's report. */
MEMTRACE_API void memtrace_free_at(void **ptr, const char *file, int line, const char *function, const char *variable);

#define TRACE_MALLOC(size, caps) \
    traceable_heap_caps_malloc((size), (caps), __FILE__, __LINE__, __func__)
#define TRACE_CALLOC(n, size, caps) \
    traceable_heap_caps_calloc((n), (size), (caps), __FILE__, __LINE__, __func__)
#define TRACE_REALLOC(ptr, size, caps) \
    traceable_heap_caps_realloc((ptr), (size), (caps), __FILE__, __LINE__, __func__)
#define TRACE_ALIGNED_ALLOC(alignment, size, caps) \
    traceable_heap_caps_aligned_alloc((alignment), (size), (caps), __FILE__, __LINE__, __func__)

/* var = a new block, recorded under var's name. */
#define TRACE_MALLOC_TO(var, size, caps) \
    ((var) = memtrace_malloc_at((size), (caps), __FILE__, __LINE__, __func__, #var))
#define TRACE_CALLOC_TO(var, n, size, caps) \
    ((var) = memtrace_calloc_at((n), (size), (caps), __FILE__, __LINE__, __func__, #var))
#define TRACE_ALIGNED_ALLOC_TO(var, alignment, size, caps) \
    ((var) = memtrace_aligned_alloc_at((alignment), (size), (caps), __FILE__, __LINE__, __func__, #var))
/* Grows or shrinks var in place of it; false (var unchanged and still valid) when it fails. */
#define TRACE_REALLOC_TO(var, size, caps) \
    memtrace_realloc_at((void **)&(var), (size), (caps), __FILE__, __LINE__, __func__, #var)
/* free_unregister_allocation(&ptr) with this call site. */
#define TRACE_FREE(ptr) \
    memtrace_free_at((void **)&(ptr), __FILE__, __LINE__, __func__, #ptr)

#ifdef __cplusplus
}
#endif

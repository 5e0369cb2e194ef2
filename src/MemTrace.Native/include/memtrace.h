/*
 * memtrace.h: MemTrace's own functions in its native library (libmemtrace): choosing the memory
 * map, leak checks around a piece of code, memory-error counts, and a fresh start between tests.
 * esp_heap_caps.h and memmap.h include it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MEMTRACE_API
#  ifdef _WIN32
#    define MEMTRACE_API __declspec(dllimport)
#  else
#    define MEMTRACE_API
#  endif
#endif

/* How much poisoning the heap does (ESP-IDF's CONFIG_HEAP_POISONING_*). */
typedef enum {
    MEMTRACE_POISONING_NONE = 0,
    MEMTRACE_POISONING_LIGHT = 1,
    MEMTRACE_POISONING_COMPREHENSIVE = 2,
} memtrace_poisoning_t;

/*
 * Chooses the memory map and the poisoning before the first allocation. layout: a built-in name
 * ("host", "esp32", "esp32-psram2m", "esp32-psram4m", "esp32-psram8m", "esp32s3", "esp32s3-psram2m",
 * "esp32s3-psram4m", "esp32s3-psram8m") or the path of a layout JSON file; NULL for the default.
 * Without this call the first heap call uses MEMTRACE_LAYOUT and MEMTRACE_POISONING (none, light,
 * comprehensive) from the environment, or esp32-psram4m without poisoning.
 * Returns 0 (ESP_OK); 0x102 (ESP_ERR_INVALID_ARG) for an unknown layout, a bad layout file or an
 * unknown poisoning level, with the reason on stderr; 0x103 (ESP_ERR_INVALID_STATE) once the heap is
 * in use (call memtrace_shutdown() first).
 */
MEMTRACE_API int memtrace_configure(const char *layout, memtrace_poisoning_t poisoning);

/*
 * Marks a point in time: allocations made after it and still live are what
 * memtrace_leaks_since() reports. Returns the checkpoint's number (from 1).
 */
MEMTRACE_API size_t memtrace_checkpoint(void);

/*
 * The number of tracked blocks allocated since checkpoint (0: since the start) and still live.
 * With print, lists them on stdout by call site (MemTrace's leak report). Returns (size_t)-1 for a
 * checkpoint number never handed out, or one from before the last memtrace_shutdown().
 */
MEMTRACE_API size_t memtrace_leaks_since(size_t checkpoint, bool print);

/* The number of memory errors detected so far: double and invalid frees, damaged blocks. */
MEMTRACE_API size_t memtrace_error_count(void);

/*
 * Ends the heap: every block still allocated is gone, and the next call starts a new heap (as
 * configured, or from the environment again). For a fresh heap between tests.
 */
MEMTRACE_API void memtrace_shutdown(void);

#ifdef __cplusplus
}
#endif

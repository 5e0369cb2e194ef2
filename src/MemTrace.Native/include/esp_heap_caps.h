/*
 * esp_heap_caps.h for MemTrace's native library (libmemtrace).
 *
 * ESP-IDF's heap_caps_* API over MemTrace's model of the chip's capability heaps: the same
 * regions, region choice, TLSF blocks, statistics and failures as on the chip, in a program
 * running on a PC. Include this header instead of ESP-IDF's and link with -lmemtrace.
 *
 * The memory map is chosen once, before the first call: memtrace_configure() (memtrace.h), or
 * the MEMTRACE_LAYOUT environment variable (a built-in layout name or a layout JSON file;
 * default "esp32-psram4m"). Pointers are host pointers (the chip's RAM is emulated by native
 * blocks), so heap_caps_add_region() by chip address is not provided; use
 * heap_caps_add_region_with_caps() with a block your program owns.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "memtrace.h"

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

/* esp_err_t and the codes the heap_caps functions return (esp_err.h). */
#ifndef ESP_OK
typedef int esp_err_t;
#define ESP_OK                 0
#define ESP_FAIL               -1
#define ESP_ERR_NO_MEM         0x101
#define ESP_ERR_INVALID_ARG    0x102
#define ESP_ERR_INVALID_STATE  0x103
#define ESP_ERR_INVALID_SIZE   0x104
#define ESP_ERR_NOT_FOUND      0x105
#endif

/* Capabilities: ESP-IDF's bit values. */
#define MALLOC_CAP_EXEC             (1u << 0)
#define MALLOC_CAP_32BIT            (1u << 1)
#define MALLOC_CAP_8BIT             (1u << 2)
#define MALLOC_CAP_DMA              (1u << 3)
#define MALLOC_CAP_PID2             (1u << 4)
#define MALLOC_CAP_PID3             (1u << 5)
#define MALLOC_CAP_PID4             (1u << 6)
#define MALLOC_CAP_PID5             (1u << 7)
#define MALLOC_CAP_PID6             (1u << 8)
#define MALLOC_CAP_PID7             (1u << 9)
#define MALLOC_CAP_SPIRAM           (1u << 10)
#define MALLOC_CAP_INTERNAL         (1u << 11)
#define MALLOC_CAP_DEFAULT          (1u << 12)
#define MALLOC_CAP_IRAM_8BIT        (1u << 13)
#define MALLOC_CAP_RETENTION        (1u << 14)
#define MALLOC_CAP_RTCRAM           (1u << 15)
#define MALLOC_CAP_SPM              (1u << 16)
#define MALLOC_CAP_TCM              MALLOC_CAP_SPM
#define MALLOC_CAP_DMA_DESC_AHB     (1u << 17)
#define MALLOC_CAP_DMA_DESC_AXI     (1u << 18)
#define MALLOC_CAP_CACHE_ALIGNED    (1u << 19)
#define MALLOC_CAP_SIMD             (1u << 20)
#define MALLOC_CAP_SPIRAM_NO_ENC    (1u << 21)
#define MALLOC_CAP_INVALID          (1u << 31)

/* multi_heap_info_t: what heap_caps_get_info() fills in. */
typedef struct {
    size_t total_free_bytes;
    size_t total_allocated_bytes;
    size_t largest_free_block;
    size_t minimum_free_bytes;
    size_t allocated_blocks;
    size_t free_blocks;
    size_t total_blocks;
} multi_heap_info_t;

/* Called when an allocation fails: the size and caps asked for and the heap_caps function's name. */
typedef void (*esp_alloc_failed_hook_t)(size_t size, uint32_t caps, const char *function_name);

/* What heap_caps_walk() passes for each block. */
typedef struct walker_heap_info {
    intptr_t start;
    intptr_t end;
} walker_heap_into_t;

typedef struct walker_block_info {
    void *ptr;
    size_t size;
    bool used;
} walker_block_info_t;

/* Return true to go on with the region, false to move on to the next one. */
typedef bool (*heap_caps_walker_cb_t)(walker_heap_into_t heap_info, walker_block_info_t block_info, void *user_data);

MEMTRACE_API esp_err_t heap_caps_register_failed_alloc_callback(esp_alloc_failed_hook_t callback);

MEMTRACE_API void *heap_caps_malloc(size_t size, uint32_t caps);
MEMTRACE_API void *heap_caps_calloc(size_t n, size_t size, uint32_t caps);
MEMTRACE_API void *heap_caps_realloc(void *ptr, size_t size, uint32_t caps);
MEMTRACE_API void heap_caps_free(void *ptr);
MEMTRACE_API void *heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
MEMTRACE_API void *heap_caps_aligned_calloc(size_t alignment, size_t n, size_t size, uint32_t caps);
MEMTRACE_API void heap_caps_aligned_free(void *ptr);

MEMTRACE_API size_t heap_caps_get_free_size(uint32_t caps);
MEMTRACE_API size_t heap_caps_get_minimum_free_size(uint32_t caps);
MEMTRACE_API size_t heap_caps_get_largest_free_block(uint32_t caps);
MEMTRACE_API size_t heap_caps_get_total_size(uint32_t caps);
MEMTRACE_API void heap_caps_get_info(multi_heap_info_t *info, uint32_t caps);
MEMTRACE_API void heap_caps_print_heap_info(uint32_t caps);
MEMTRACE_API size_t heap_caps_get_allocated_size(void *ptr);
MEMTRACE_API size_t heap_caps_get_containing_block_size(void *ptr);

MEMTRACE_API bool heap_caps_check_integrity(uint32_t caps, bool print_errors);
MEMTRACE_API bool heap_caps_check_integrity_all(bool print_errors);
MEMTRACE_API bool heap_caps_check_integrity_addr(intptr_t addr, bool print_errors);
MEMTRACE_API void heap_caps_dump(uint32_t caps);
MEMTRACE_API void heap_caps_dump_all(void);
MEMTRACE_API void heap_caps_walk(uint32_t caps, heap_caps_walker_cb_t walker_func, void *user_data);
MEMTRACE_API void heap_caps_walk_all(heap_caps_walker_cb_t walker_func, void *user_data);

MEMTRACE_API esp_err_t heap_caps_monitor_local_minimum_free_size_start(void);
MEMTRACE_API esp_err_t heap_caps_monitor_local_minimum_free_size_stop(void);

MEMTRACE_API void heap_caps_malloc_extmem_enable(size_t limit);
MEMTRACE_API esp_err_t heap_caps_add_region_with_caps(const uint32_t caps[], intptr_t start, intptr_t end);

/* libc malloc(), calloc(), realloc() and memalign() as they behave on the chip (the PSRAM threshold included). */
MEMTRACE_API void *heap_caps_malloc_default(size_t size);
MEMTRACE_API void *heap_caps_calloc_default(size_t n, size_t size);
MEMTRACE_API void *heap_caps_realloc_default(void *ptr, size_t size);
MEMTRACE_API void *heap_caps_aligned_alloc_default(size_t alignment, size_t size);

/* The _prefer functions are variadic in ESP-IDF; the library takes the caps as an array. */
MEMTRACE_API void *memtrace_heap_caps_malloc_prefer(size_t size, size_t num, const uint32_t *caps);
MEMTRACE_API void *memtrace_heap_caps_calloc_prefer(size_t n, size_t size, size_t num, const uint32_t *caps);
MEMTRACE_API void *memtrace_heap_caps_realloc_prefer(void *ptr, size_t size, size_t num, const uint32_t *caps);

/* Collects the variadic caps of a _prefer call (up to 16 on the stack, more from the C heap). */
#define MEMTRACE_PREFER_CAPS_(num, last, call)                                       \
    uint32_t memtrace_stack_caps_[16];                                               \
    uint32_t *memtrace_caps_ = memtrace_stack_caps_;                                 \
    void *memtrace_result_;                                                          \
    va_list memtrace_args_;                                                          \
    if ((num) > 16) {                                                                \
        memtrace_caps_ = (uint32_t *)malloc((num) * sizeof(uint32_t));               \
        if (memtrace_caps_ == NULL) {                                                \
            return NULL;                                                             \
        }                                                                            \
    }                                                                                \
    va_start(memtrace_args_, last);                                                  \
    for (size_t memtrace_i_ = 0; memtrace_i_ < (num); memtrace_i_++) {               \
        memtrace_caps_[memtrace_i_] = va_arg(memtrace_args_, uint32_t);              \
    }                                                                                \
    va_end(memtrace_args_);                                                          \
    memtrace_result_ = (call);                                                       \
    if (memtrace_caps_ != memtrace_stack_caps_) {                                    \
        free(memtrace_caps_);                                                        \
    }                                                                                \
    return memtrace_result_

static inline void *heap_caps_malloc_prefer(size_t size, size_t num, ...)
{
    MEMTRACE_PREFER_CAPS_(num, num, memtrace_heap_caps_malloc_prefer(size, num, memtrace_caps_));
}

static inline void *heap_caps_calloc_prefer(size_t n, size_t size, size_t num, ...)
{
    MEMTRACE_PREFER_CAPS_(num, num, memtrace_heap_caps_calloc_prefer(n, size, num, memtrace_caps_));
}

static inline void *heap_caps_realloc_prefer(void *ptr, size_t size, size_t num, ...)
{
    MEMTRACE_PREFER_CAPS_(num, num, memtrace_heap_caps_realloc_prefer(ptr, size, num, memtrace_caps_));
}

#ifdef __cplusplus
}
#endif

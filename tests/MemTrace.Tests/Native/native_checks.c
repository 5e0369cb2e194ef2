/*
 * Checks of libmemtrace from C, run by NativeLibraryTests against the NativeAOT build: ESP-IDF's edge
 * cases through the real exports, the variadic _prefer wrappers, structs passed by value to a walker,
 * the seed's macros, threads, configure/shutdown, and the order of C's and the library's output.
 * Prints "native checks: N passed" and exits 0, or names the first failed check and exits 1.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "memmap.h"

static int passed;

#define CHECK(condition)                                                             \
    do {                                                                             \
        if (!(condition)) {                                                          \
            printf("FAILED at native_checks.c:%d: %s\n", __LINE__, #condition);      \
            return 1;                                                                \
        }                                                                            \
        passed++;                                                                    \
    } while (0)

static int failures;
static size_t last_failed_size;
static uint32_t last_failed_caps;
static char last_failed_name[64];

static void on_failed(size_t size, uint32_t caps, const char *function_name)
{
    failures++;
    last_failed_size = size;
    last_failed_caps = caps;
    snprintf(last_failed_name, sizeof last_failed_name, "%s", function_name);
}

typedef struct {
    int blocks;
    int used;
    size_t used_bytes;
    bool inside;
} walk_totals;

static bool count_blocks(walker_heap_into_t heap, walker_block_info_t block, void *user)
{
    walk_totals *totals = user;
    totals->blocks++;
    if (block.used) {
        totals->used++;
        totals->used_bytes += block.size;
    }
    totals->inside = totals->inside && heap.start <= (intptr_t)block.ptr && (intptr_t)block.ptr < heap.end;
    return true;
}

static void *worker(void *arg)
{
    (void)arg;
    void *blocks[64] = {0};
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 64; i++) {
            blocks[i] = TRACE_MALLOC(16 + (size_t)(i * 24 + round) % 700, i % 3 == 0 ? MALLOC_CAP_SPIRAM : MALLOC_CAP_8BIT);
        }
        for (int i = 0; i < 64; i++) {
            free_unregister_allocation(&blocks[i]);
        }
    }
    return NULL;
}

static int checks(void)
{
    CHECK(memtrace_configure("esp32-psram4m", MEMTRACE_POISONING_LIGHT) == ESP_OK);
    CHECK(heap_caps_register_failed_alloc_callback(NULL) == ESP_ERR_INVALID_ARG);
    CHECK(heap_caps_register_failed_alloc_callback(on_failed) == ESP_OK);

    /* ESP-IDF's edge cases. */
    CHECK(heap_caps_malloc(0, MALLOC_CAP_8BIT) == NULL && failures == 0);
    CHECK(memtrace_configure("host", MEMTRACE_POISONING_NONE) == ESP_ERR_INVALID_STATE); /* The heap is in use now. */
    /* The chip's size_t is 32 bits: the product wraps, and the callback gets the wrapped size, as on the chip. */
    CHECK(heap_caps_calloc(65536, 65537, MALLOC_CAP_8BIT) == NULL && failures == 1 && last_failed_size == 65536);
    CHECK(heap_caps_malloc(64, MALLOC_CAP_EXEC | MALLOC_CAP_8BIT) == NULL && failures == 2);
    CHECK(last_failed_size == 64 && last_failed_caps == (MALLOC_CAP_EXEC | MALLOC_CAP_8BIT) && strcmp(last_failed_name, "heap_caps_malloc") == 0);
    char *block = heap_caps_realloc(NULL, 32, MALLOC_CAP_8BIT);
    CHECK(block != NULL);
    memcpy(block, "0123456789abcdefghijklmnopqrstu", 32);
    CHECK(heap_caps_realloc(block, (size_t)1 << 30, MALLOC_CAP_8BIT) == NULL && failures == 3);
    CHECK(memcmp(block, "0123456789abcdefghijklmnopqrstu", 32) == 0);
    block = heap_caps_realloc(block, 4000, MALLOC_CAP_8BIT);
    CHECK(block != NULL && memcmp(block, "0123456789abcdefghijklmnopqrstu", 32) == 0);
    CHECK(heap_caps_get_allocated_size(block) >= 4000);
    CHECK(heap_caps_realloc(block, 0, MALLOC_CAP_8BIT) == NULL);
    void *aligned = heap_caps_aligned_alloc(64, 100, MALLOC_CAP_DMA);
    CHECK(aligned != NULL && ((uintptr_t)aligned & 63) == 0);
    heap_caps_aligned_free(aligned);
    CHECK(heap_caps_aligned_alloc(3, 100, MALLOC_CAP_8BIT) == NULL);

    /* The variadic _prefer wrappers: the first caps that can serve it, ESP-IDF's name when none can. */
    size_t spiram_free = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
    void *preferred = heap_caps_malloc_prefer(1000, 3, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_SPIRAM, MALLOC_CAP_8BIT);
    CHECK(preferred != NULL && heap_caps_get_free_size(MALLOC_CAP_SPIRAM) < spiram_free);
    CHECK(heap_caps_calloc_prefer(1, (size_t)64 << 20, 2, MALLOC_CAP_SPIRAM, MALLOC_CAP_INTERNAL) == NULL);
    CHECK(strcmp(last_failed_name, "heap_caps_calloc_prefer") == 0 && last_failed_caps == MALLOC_CAP_INTERNAL);
    preferred = heap_caps_realloc_prefer(preferred, 2000, 17, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM,
        MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM,
        MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM,
        MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM,
        MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM,
        MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM, MALLOC_CAP_SPIRAM);
    CHECK(preferred != NULL && heap_caps_get_allocated_size(preferred) >= 2000); /* The 17th caps, past the 16 kept on the stack. */

    /* Statistics and the walk (structs by value). */
    multi_heap_info_t info;
    heap_caps_get_info(&info, MALLOC_CAP_SPIRAM);
    CHECK(info.total_free_bytes == heap_caps_get_free_size(MALLOC_CAP_SPIRAM));
    CHECK(info.largest_free_block == heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM));
    CHECK(info.allocated_blocks == 1 && info.total_blocks == info.allocated_blocks + info.free_blocks);
    walk_totals totals = {0, 0, 0, true};
    heap_caps_walk(MALLOC_CAP_SPIRAM, count_blocks, &totals);
    CHECK(totals.inside && totals.used == 1 && (size_t)totals.blocks == info.total_blocks);
    CHECK(heap_caps_monitor_local_minimum_free_size_start() == ESP_OK);
    CHECK(heap_caps_monitor_local_minimum_free_size_stop() == ESP_OK);
    heap_caps_free(preferred);

    /* Light poisoning: a write past the end is found by the integrity check. */
    char *overrun = TRACE_MALLOC(16, MALLOC_CAP_8BIT);
    CHECK(heap_caps_check_integrity_all(false));
    char canary = overrun[16];
    overrun[16] = (char)(canary ^ 0x55);
    CHECK(!heap_caps_check_integrity_addr((intptr_t)overrun, false));
    CHECK(memtrace_error_count() == 1); /* The damaged canary, reported once. */
    overrun[16] = canary;
    CHECK(heap_caps_check_integrity_all(false));
    free_unregister_allocation((void **)&overrun);
    CHECK(overrun == NULL);

    /* The seed's macros, the variable names, leaks, a double free. */
    size_t start = memtrace_checkpoint();
    int *numbers = NULL;
    CHECK(TRACE_CALLOC_TO(numbers, 16, sizeof(int), MALLOC_CAP_8BIT) != NULL && numbers[15] == 0);
    CHECK(TRACE_REALLOC_TO(numbers, 64 * sizeof(int), MALLOC_CAP_8BIT));
    CHECK(!TRACE_REALLOC_TO(numbers, (size_t)1 << 30, MALLOC_CAP_8BIT) && numbers != NULL);
    char *name = TRACE_MALLOC(10, MALLOC_CAP_8BIT);
    CHECK(memtrace_leaks_since(start, false) == 2);
    char *alias = name;
    TRACE_FREE(name);
    CHECK(name == NULL && memtrace_error_count() == 1);
    TRACE_FREE(alias);
    CHECK(alias == NULL && memtrace_error_count() == 2);
    TRACE_FREE(numbers);
    CHECK(memtrace_leaks_since(start, false) == 0);
    CHECK(memtrace_leaks_since(start + 1, false) == (size_t)-1);

    /* debug_track_allocation. */
    debug_track_allocation = false;
    void *untracked = TRACE_MALLOC(8, MALLOC_CAP_8BIT);
    CHECK(memtrace_leaks_since(start, false) == 0);
    debug_track_allocation = true;
    free_unregister_allocation(&untracked);

    /* Four threads at once, then nothing left. */
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_create(&threads[i], NULL, worker, NULL) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
    }
    CHECK(memtrace_leaks_since(start, false) == 0 && memtrace_error_count() == 2);
    CHECK(heap_caps_check_integrity_all(true));

    /* Output order: C's buffered printf, then the library's listing, then C again. */
    printf("ORDER 1\n");
    char *listed = NULL;
    TRACE_MALLOC_TO(listed, 48, MALLOC_CAP_8BIT);
    list_allocations();
    printf("ORDER 3\n");
    TRACE_FREE(listed);

    /* A new heap, configured otherwise. */
    memtrace_shutdown();
    CHECK(memtrace_configure("esp32s3", MEMTRACE_POISONING_NONE) == ESP_OK);
    CHECK(heap_caps_get_total_size(MALLOC_CAP_SPIRAM) == 0 && heap_caps_get_total_size(MALLOC_CAP_INTERNAL) > 0);
    CHECK(memtrace_leaks_since(start, false) == (size_t)-1);
    memtrace_shutdown();
    CHECK(memtrace_configure("no-such-chip", MEMTRACE_POISONING_NONE) == ESP_ERR_INVALID_ARG);
    CHECK(memtrace_configure("host", (memtrace_poisoning_t)7) == ESP_ERR_INVALID_ARG);
    CHECK(heap_caps_get_total_size(MALLOC_CAP_SPIRAM) == 0); /* Still esp32s3: a refused configure changes nothing. */
    return 0;
}

int main(void)
{
    int result = checks();
    printf("native checks: %d passed\n", passed);
    return result;
}

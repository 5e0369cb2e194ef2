/*
 * The seed's example (the ESP-IDF memory tracking utilities' README), compiled against MemTrace's
 * native library instead of ESP-IDF: the same memmap.h calls, on a model of an ESP32 with 4 MiB of
 * PSRAM. Build and run it with ./run.sh (or see docs/native.md).
 *
 * Two changes from the seed's text: no semaphore is created (MemTrace's tracker is thread-safe),
 * and app_main is called from main. After the seed's steps, MemTrace's own checks: a forgotten
 * block is reported as a leak, and a double free is caught instead of corrupting the heap.
 */
#include <stdio.h>

#include "memmap.h"

static void app_main(void)
{
    // Enable memory allocation debug tracking
    debug_track_allocation = true;

    // Allocate memory with tracking
    char *buffer = TRACE_MALLOC(256, MALLOC_CAP_8BIT);
    if (!buffer) {
        printf("Failed to allocate buffer!\n");
        return;
    }

    // Use the buffer as needed
    snprintf(buffer, 256, "Hello from memory tracking!");

    // Print current allocations
    list_allocations();

    // Free the buffer and unregister
    free_unregister_allocation((void **)&buffer);

    // Confirm it's removed from tracking
    list_allocations();
}

int main(void)
{
    app_main();

    /* MemTrace: the seed's SPIRAM request lands in the model's PSRAM; print_memory_info shows it. */
    size_t start = memtrace_checkpoint();
    char *debug_string = NULL;
    TRACE_CALLOC_TO(debug_string, 1, 512, MALLOC_CAP_SPIRAM);
    char *forgotten = NULL;
    TRACE_MALLOC_TO(forgotten, 100, MALLOC_CAP_INTERNAL);
    print_memory_info("seed_example");

    /* A double free: reported with both frees' call sites, and the heap stays intact. */
    char *alias = debug_string;
    TRACE_FREE(debug_string);
    TRACE_FREE(alias);

    size_t leaks = memtrace_leaks_since(start, true);
    bool intact = heap_caps_check_integrity_all(true);
    printf("leaks: %zu, memory errors: %zu, heap intact: %s\n", leaks, memtrace_error_count(), intact ? "yes" : "no");
    (void)forgotten;
    return leaks == 1 && memtrace_error_count() == 1 && intact ? 0 : 1;
}

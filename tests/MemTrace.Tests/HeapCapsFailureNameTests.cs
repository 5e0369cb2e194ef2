// The function name, size and caps the failed-allocation callback gets, entry point by entry
// point, checked against ESP-IDF's heap_caps.c: each public function reports its own __func__
// (heap_caps_realloc_prefer also for a null pointer, heap_caps_realloc_default once external
// memory is enabled), except heap_caps_aligned_calloc, which leaves the report to the
// heap_caps_aligned_alloc it calls; the *_default functions report heap_caps_malloc /
// heap_caps_realloc / heap_caps_aligned_alloc (with DEFAULT|INTERNAL) until external memory is
// enabled, and their own name with DEFAULT after.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsFailureNameTests
{
    private const nuint Huge = 128 * 1024 * 1024;
    private const MallocCaps DefaultInternal = MallocCaps.Default | MallocCaps.Internal;

    [Fact]
    public void ReallocPrefer_of_null_reports_heap_caps_realloc_prefer_with_the_last_caps()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        Assert.True(f.Heap.ReallocPrefer(null, Huge, MallocCaps.Spiram, MallocCaps.Default | MallocCaps.Bit8) == null);
        Assert.True(f.Heap.ReallocPrefer(null, Huge) == null);

        Assert.Equal(
            [(Huge, MallocCaps.Default | MallocCaps.Bit8, "heap_caps_realloc_prefer"), (Huge, MallocCaps.Default, "heap_caps_realloc_prefer")],
            f.Failures.Calls);
    }

    [Fact]
    public void ReallocPrefer_of_null_allocates_as_MallocPrefer_and_size_0_calls_nothing()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var p = f.Heap.ReallocPrefer(null, 64, MallocCaps.Exec | MallocCaps.Bit8, MallocCaps.Spiram);

        Assert.True(f.InPsram(p));
        Assert.True(f.Heap.ReallocPrefer(null, 0, MallocCaps.Default) == null);
        Assert.Empty(f.Failures.Calls);
        f.Heap.Free(p);
    }

    [Fact]
    public void ReallocPrefer_of_null_through_a_tracker_is_recorded_as_realloc_prefer()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });

        var p = f.Heap.ReallocPrefer(null, 64, MallocCaps.Spiram);
        tracker.AllocationHook = FailureInjection.FailNth(1);
        var refused = f.Heap.ReallocPrefer(null, 64, MallocCaps.Spiram);

        Assert.True(refused == null);
        Assert.Equal(AllocationMethod.ReallocPrefer, Assert.Single(tracker.GetAllocations()).Method);
        Assert.Equal([((nuint)64, MallocCaps.Spiram, "heap_caps_realloc_prefer")], f.Failures.Calls);
        f.Heap.Free(p);
    }

    [Fact]
    public void ReallocDefault_of_null_reports_heap_caps_realloc_default_once_external_memory_is_enabled()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var p = f.Heap.MallocDefault(64);

        Assert.True(f.Heap.ReallocDefault(null, Huge) == null);
        Assert.True(f.Heap.ReallocDefault(p, Huge) == null);
        Assert.True(f.Heap.MallocDefault(Huge) == null);

        Assert.Equal(
            [(Huge, MallocCaps.Default, "heap_caps_realloc_default"), (Huge, MallocCaps.Default, "heap_caps_realloc_default"), (Huge, MallocCaps.Default, "heap_caps_malloc_default")],
            f.Failures.Calls);
        Assert.True(f.Heap.GetAllocatedSize(p) >= 64); // The failed realloc left the block intact.
        f.Heap.Free(p);
    }

    [Fact]
    public void ReallocDefault_of_null_picks_memory_as_MallocDefault_does()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var small = f.Heap.ReallocDefault(null, 1024);
        var large = f.Heap.ReallocDefault(null, HeapLayout.DefaultAlwaysInternalLimit + 1);

        Assert.False(f.InPsram(small));
        Assert.True(f.InPsram(large));
        Assert.True(f.Heap.ReallocDefault(null, 0) == null);
        Assert.Empty(f.Failures.Calls);
        f.Heap.Free(small);
        f.Heap.Free(large);
    }

    [Fact]
    public void The_default_functions_report_the_heap_caps_functions_they_call_until_external_memory_is_enabled()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = f.Heap.MallocDefault(64);

        Assert.True(f.Heap.MallocDefault(Huge) == null);
        Assert.True(f.Heap.ReallocDefault(null, Huge) == null);
        Assert.True(f.Heap.ReallocDefault(p, Huge) == null);
        Assert.True(f.Heap.AlignedAllocDefault(64, Huge) == null);

        Assert.Equal(
            [
                (Huge, DefaultInternal, "heap_caps_malloc"), (Huge, DefaultInternal, "heap_caps_realloc"),
                (Huge, DefaultInternal, "heap_caps_realloc"), (Huge, DefaultInternal, "heap_caps_aligned_alloc"),
            ],
            f.Failures.Calls);
        f.Heap.Free(p);
    }

    [Fact]
    public void AlignedCalloc_failures_are_reported_as_heap_caps_aligned_alloc_with_n_times_size()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        Assert.True(f.Heap.AlignedCalloc(64, 2, Huge / 2, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(64, 1, 64, MallocCaps.Invalid) == null);

        // No callback where heap_caps_aligned_alloc makes none: an overflowing product, a bad alignment, 0 bytes.
        Assert.True(f.Heap.AlignedCalloc(64, nuint.MaxValue, 2, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(3, 1, 64, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(0, 1, 64, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(64, 0, 64, MallocCaps.Default) == null);

        Assert.Equal([(Huge, MallocCaps.Default, "heap_caps_aligned_alloc"), ((nuint)64, MallocCaps.Invalid, "heap_caps_aligned_alloc")], f.Failures.Calls);
    }

    [Fact]
    public void A_refused_AlignedCalloc_is_reported_as_heap_caps_aligned_alloc_too()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        tracker.AllocationHook = FailureInjection.FailNth(1);

        Assert.True(f.Heap.AlignedCalloc(16, 4, 8, MallocCaps.Default) == null);

        Assert.Equal([((nuint)32, MallocCaps.Default, "heap_caps_aligned_alloc")], f.Failures.Calls);
    }

    [Fact]
    public void AlignedAllocDefault_follows_MallocDefaults_choice_of_memory()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        var small = (byte*)f.Heap.AlignedAllocDefault(256, 1000);
        var large = (byte*)f.Heap.AlignedAllocDefault(256, HeapLayout.DefaultAlwaysInternalLimit + 1);

        Assert.True(small != null && large != null);
        Assert.Equal(0u, (nuint)small % 256);
        Assert.Equal(0u, (nuint)large % 256);
        Assert.False(f.InPsram(small));
        Assert.True(f.InPsram(large));
        Assert.Empty(f.Failures.Calls);
        f.Heap.Free(small);
        f.Heap.Free(large);
    }

    [Fact]
    public void AlignedAllocDefault_falls_back_to_any_DEFAULT_memory_and_reports_its_own_name_when_all_fail()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        // Larger than any internal region: DEFAULT|INTERNAL is not tried, DEFAULT|SPIRAM serves it.
        var fromPsram = f.Heap.AlignedAllocDefault(64, 300 * 1024);
        Assert.True(f.InPsram(fromPsram));

        // A small request with internal memory full falls back to DEFAULT, which finds PSRAM.
        var filler = new List<nint>();
        for (void* p; (p = f.Heap.Malloc(4096, DefaultInternal)) != null;)
        {
            filler.Add((nint)p);
        }

        for (void* p; (p = f.Heap.Malloc(64, DefaultInternal)) != null;)
        {
            filler.Add((nint)p);
        }

        f.Failures.Calls.Clear(); // The fills ended in failures.
        var fallback = f.Heap.AlignedAllocDefault(64, 64);
        Assert.True(f.InPsram(fallback));
        Assert.Empty(f.Failures.Calls);

        Assert.True(f.Heap.AlignedAllocDefault(64, Huge) == null);
        Assert.True(f.Heap.AlignedAllocDefault(64, 5 * 1024 * 1024) == null); // Above HEAP_SIZE_MAX (4 MiB).
        Assert.True(f.Heap.AlignedAllocDefault(3, 64) == null);
        Assert.True(f.Heap.AlignedAllocDefault(0, 64) == null);
        Assert.True(f.Heap.AlignedAllocDefault(64, 0) == null);
        Assert.Equal(
            [(Huge, MallocCaps.Default, "heap_caps_aligned_alloc_default"), ((nuint)(5 * 1024 * 1024), MallocCaps.Default, "heap_caps_aligned_alloc_default")],
            f.Failures.Calls);

        f.Heap.Free(fromPsram);
        f.Heap.Free(fallback);
        filler.ForEach(p => f.Heap.Free((void*)p));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void AlignedAllocDefault_through_a_tracker_is_recorded_with_its_own_method()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });

        var p = f.Heap.AlignedAllocDefault(32, 100);
        tracker.AllocationHook = FailureInjection.FailNth(1);
        var refused = f.Heap.AlignedAllocDefault(32, 100);

        Assert.True(refused == null);
        var record = Assert.Single(tracker.GetAllocations());
        Assert.Equal(AllocationMethod.AlignedAllocDefault, record.Method);
        Assert.Equal("heap_caps_aligned_alloc_default", record.MethodName);
        Assert.Equal([((nuint)100, MallocCaps.Default, "heap_caps_aligned_alloc_default")], f.Failures.Calls);
        f.Heap.Free(p);
    }
}

// Ports of ESP-IDF's test_heap_trace.c (components/heap/test_apps/heap_tests/main/test_heap_trace.c, and the older
// components/heap/test/test_heap_trace.c) to MemoryTracker. Standalone heap tracing in HEAP_TRACE_LEAKS mode keeps a
// record per live allocation made since heap_trace_start and drops it when the block is freed: a tracker's checkpoint
// and GetAllocationsSince. heap_trace_alloc_pause / heap_trace_resume stop and restart recording allocations while
// frees still remove records: the tracker's Enabled. heap_trace_summary's totals are Difference's Allocations and
// Frees. What has no counterpart: the fixed array of records (its capacity, overflow, high-water mark and the order of
// records inside the caller's buffer), since the tracker's records are unbounded; and newlib's own allocations.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestHeapTrace
{
    // "heap trace leak check": two blocks allocated after the trace starts are its records, in order; freeing the first
    // leaves the second as record 0. (The asserts on recs[], the caller's buffer, check where the records sit in it:
    // nothing of the kind exists here.)
    [Fact]
    public void Heap_trace_leak_check()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var start = tracker.Checkpoint("heap_trace_start(HEAP_TRACE_LEAKS)");

        var a = (byte*)f.Heap.MallocDefault(64);
        new Span<byte>(a, 64).Fill((byte)'3');
        var b = (byte*)f.Heap.MallocDefault(96);
        new Span<byte>(b, 11).Fill((byte)'4');

        var records = tracker.GetAllocationsSince(start);
        Assert.Equal(2, records.Count);
        Assert.Equal((nuint)a, records[0].Address);
        Assert.Equal((nuint)b, records[1].Address);

        f.Heap.Free(a);
        records = tracker.GetAllocationsSince(start);
        Assert.Equal((nuint)b, Assert.Single(records).Address);

        f.Heap.Free(b);
        Assert.Empty(tracker.GetAllocationsSince(start));
    }

    // "heap trace wrapped buffer check": N+1 allocations into N records. ESP-IDF drops the oldest record when its
    // buffer is full and only promises that the last but one allocation is still there; the tracker keeps every record,
    // so all of them are (malloc(0) gives null, which neither records). Once they are freed, none is left and the
    // later block 'other' is the one leak.
    [Fact]
    public void Heap_trace_wrapped_buffer_check()
    {
        const int N = 8;
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var start = tracker.Checkpoint();

        var ptrs = new nuint[N + 1];
        for (var i = 0; i < N + 1; i++)
        {
            ptrs[i] = (nuint)f.Heap.MallocDefault((nuint)(i * 3));
        }

        Assert.Equal(0u, ptrs[0]);
        var addresses = tracker.GetAllocationsSince(start).Select(r => r.Address).ToList();
        Assert.Contains(ptrs[N - 1], addresses);
        Assert.Equal(ptrs[1..], addresses);

        var other = f.Heap.MallocDefault(6);
        foreach (var p in ptrs)
        {
            f.Heap.Free((void*)p);
        }

        var leaks = tracker.GetAllocationsSince(start);
        Assert.DoesNotContain(leaks, r => ptrs.Contains(r.Address));
        Assert.Equal((nuint)other, Assert.Single(leaks).Address);
        Assert.Equal(1, Assert.Single(tracker.GetLeakReport(start).Sites).Blocks);
        f.Heap.Free(other);
    }

    // "can stop recording allocs but continue recording frees" (heap_trace_alloc_pause / heap_trace_resume). The C
    // test's last loop frees ptrs[0] a second time and never frees the block allocated after resuming
    // (ptrs[current_count + 1] is ptrs[1], the loop runs i < 1); here the last block is the one freed.
    [Fact]
    public void Can_stop_recording_allocs_but_continue_recording_frees()
    {
        const int N = 2;
        const nuint AllocSize = 100;
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var ptrs = new nuint[N];
        var start = tracker.Checkpoint();
        int Count() => tracker.GetAllocationsSince(start).Count;

        for (var i = 0; i < N; i++)
        {
            ptrs[i] = (nuint)f.Heap.Malloc(AllocSize, MallocCaps.Internal);
            Assert.NotEqual(0u, ptrs[i]);
        }

        var currentCount = N;
        Assert.Equal(currentCount, Count());

        f.Heap.Free((void*)ptrs[currentCount - 1]);
        Assert.Equal(currentCount - 1, Count());
        currentCount--;

        tracker.Enabled = false; // heap_trace_alloc_pause()
        ptrs[currentCount] = (nuint)f.Heap.Malloc(AllocSize, MallocCaps.Internal);
        Assert.NotEqual(0u, ptrs[currentCount]);
        Assert.Equal(currentCount, Count()); // Not recorded.

        f.Heap.Free((void*)ptrs[currentCount]); // Not in the records: the count stays.
        Assert.Equal(currentCount, Count());

        f.Heap.Free((void*)ptrs[currentCount - 1]); // In the records: the free is still recorded.
        Assert.Equal(currentCount - 1, Count());
        currentCount--;
        Assert.Equal(0, tracker.LiveBlocks);

        tracker.Enabled = true; // heap_trace_resume()
        ptrs[currentCount] = (nuint)f.Heap.Malloc(AllocSize, MallocCaps.Internal);
        Assert.NotEqual(0u, ptrs[currentCount]);
        Assert.Equal(currentCount + 1, Count());
        currentCount++;

        f.Heap.Free((void*)ptrs[currentCount - 1]);
        Assert.Equal(0, Count());
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    // "check for summary value validity": the totals of allocations and frees (count, capacity and has_overflowed
    // describe the fixed record buffer, which the tracker has not: all three blocks stay recorded).
    [Fact]
    public void Check_for_summary_value_validity()
    {
        const int CounterSize = 2;
        const int PtrArraySize = CounterSize + 1;
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var start = tracker.Checkpoint();

        var ptrs = new nuint[PtrArraySize];
        for (var i = 0; i < PtrArraySize; i++)
        {
            ptrs[i] = (nuint)f.Heap.Malloc(100, MallocCaps.Internal);
            Assert.NotEqual(0u, ptrs[i]);
        }

        var summary = tracker.Difference(start, tracker.Checkpoint());
        Assert.Equal(PtrArraySize, summary.Allocations); // total_allocations
        Assert.Equal(PtrArraySize, tracker.GetAllocationsSince(start).Count); // count: every one, no overflow

        foreach (var p in ptrs)
        {
            f.Heap.Free((void*)p);
        }

        summary = tracker.Difference(start, tracker.Checkpoint());
        Assert.Equal(PtrArraySize, summary.Frees); // total_frees
        Assert.False(summary.IsSignificant);
    }

    // "can dump only internal memory allocations", "… only external …", "… both external and internal …"
    // (heap_trace_dump_caps): the records whose block is in internal RAM, in PSRAM, or both. The tracker has no dump
    // filtered by caps; the selection is GetAllocations() by the region holding each block, as heap_trace_dump_base
    // tests esp_ptr_internal / esp_ptr_external_ram on the address.
    [Theory]
    [InlineData(MallocCaps.Internal, true, false)]
    [InlineData(MallocCaps.Spiram, false, true)]
    [InlineData(MallocCaps.Internal | MallocCaps.Spiram, true, true)]
    public void Can_dump_internal_or_external_memory_allocations(MallocCaps dumpCaps, bool internalShown, bool externalShown)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var internalPtr = f.Heap.Malloc(100, MallocCaps.Internal);
        var externalPtr = f.Heap.Malloc(100, MallocCaps.Spiram);
        Assert.True(internalPtr != null && externalPtr != null);

        var dumped = tracker.GetAllocations()
            .Where(r => f.InPsram((void*)r.Address) ? dumpCaps.HasFlag(MallocCaps.Spiram) : dumpCaps.HasFlag(MallocCaps.Internal))
            .Select(r => r.Address)
            .ToList();

        Assert.Equal(internalShown, dumped.Contains((nuint)internalPtr));
        Assert.Equal(externalShown, dumped.Contains((nuint)externalPtr));
        f.Heap.Free(internalPtr);
        f.Heap.Free(externalPtr);
    }
}

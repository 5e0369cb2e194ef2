// MemoryTracker: what each record holds, listings, logs, realloc bookkeeping, enable/disable.
using System.Runtime.CompilerServices;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerTests
{
    [Fact]
    public void A_tracked_malloc_records_call_site_variable_size_caps_method_request_thread_and_time()
    {
        using var f = new HostFixture(withTracker: true);
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        Assert.True(f.T.Malloc(out byte* buffer, 256, MallocCaps.Bit8)); var line = Line();

        var record = Assert.Single(f.T.GetAllocations());
        Assert.EndsWith("MemoryTrackerTests.cs", record.File, StringComparison.Ordinal);
        Assert.Equal(line, record.Line);
        Assert.Equal(nameof(A_tracked_malloc_records_call_site_variable_size_caps_method_request_thread_and_time), record.Function);
        Assert.Equal("buffer", record.VariableName);
        Assert.Equal(256u, record.Size);
        Assert.Equal(MallocCaps.Bit8, record.Caps);
        Assert.Equal(AllocationMethod.Malloc, record.Method);
        Assert.Equal("heap_caps_malloc", record.MethodName);
        Assert.Equal((nuint)buffer, record.Address);
        Assert.Equal(1, record.RequestNumber);
        Assert.Equal(Environment.CurrentManagedThreadId, record.ThreadId);
        Assert.InRange(record.Timestamp, before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.False(record.Failure);
        Assert.Null(record.ReallocatedAt);
        f.T.Free(ref buffer);
    }

    [Fact]
    public void Pointer_returning_overloads_record_the_site_without_a_variable()
    {
        using var f = new HostFixture(withTracker: true);

        var p = f.T.Malloc(10, MallocCaps.Default); var line = Line();

        var record = Assert.Single(f.T.GetAllocations());
        Assert.Equal(line, record.Line);
        Assert.Null(record.VariableName);
        f.T.Free(ref p);
    }

    [Fact]
    public void Each_method_is_recorded_by_its_C_name_and_calloc_records_n_times_size()
    {
        using var f = new HostFixture(withTracker: true);

        f.T.Malloc(out byte* a, 8, MallocCaps.Default);
        f.T.Calloc(out int* b, 4, 6, MallocCaps.Default);
        f.T.AlignedAlloc(out long* c, 64, 40, MallocCaps.Default);
        void* d = f.T.Realloc(null, 12, MallocCaps.Default);
        f.T.Malloc(out void* e, 3, MallocCaps.Default);
        f.T.Calloc(out void* g, 2, 2, MallocCaps.Default);

        var records = f.T.GetAllocations();
        Assert.Equal(["heap_caps_malloc", "heap_caps_calloc", "heap_caps_aligned_alloc", "heap_caps_realloc", "heap_caps_malloc", "heap_caps_calloc"], records.Select(r => r.MethodName));
        Assert.Equal([8u, 24u, 40u, 12u, 3u, 4u], records.Select(r => (uint)r.Size));
        Assert.Equal(["a", "b", "c", null, "e", "g"], records.Select(r => r.VariableName));
        Assert.Equal(0u, (nuint)c % 64);
        f.T.Free(ref a);
        f.T.Free(ref b);
        f.T.Free(ref c);
        f.T.Free(ref d);
        f.T.Free(ref e);
        f.T.Free(ref g);
        Assert.Empty(f.T.GetAllocations());
    }

    [Fact]
    public void Untyped_realloc_and_aligned_alloc_record_the_variable_name()
    {
        using var f = new HostFixture(withTracker: true);
        void* raw = null;

        Assert.True(f.T.Realloc(ref raw, 48, MallocCaps.Default)); var firstLine = Line();
        Assert.True(f.T.AlignedAlloc(out void* aligned, 128, 100, MallocCaps.Dma)); var alignedLine = Line();

        var records = f.T.GetAllocations();
        Assert.Equal(2, records.Count);
        Assert.Equal("raw", records[0].VariableName);
        Assert.Equal(AllocationMethod.Realloc, records[0].Method);
        Assert.Equal(firstLine, records[0].Line);
        Assert.Equal((nuint)raw, records[0].Address);
        Assert.Equal("aligned", records[1].VariableName);
        Assert.Equal(AllocationMethod.AlignedAlloc, records[1].Method);
        Assert.Equal(alignedLine, records[1].Line);
        Assert.Equal(0u, (nuint)aligned % 128);

        Assert.True(f.T.Realloc(ref raw, 5000, MallocCaps.Default)); var growLine = Line();

        var grown = f.T.GetAllocations()[0];
        Assert.Equal((nuint)raw, grown.Address);
        Assert.Equal(5000u, grown.Size);
        Assert.Equal("raw", grown.ReallocatedAt!.Value.VariableName);
        Assert.Equal(growLine, grown.ReallocatedAt.Value.Line);
        Assert.True(f.T.Realloc(ref raw, 0, MallocCaps.Default));
        Assert.True(raw == null);
        f.T.Free(ref aligned);
        Assert.Empty(f.T.GetAllocations());
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void A_failed_untyped_aligned_alloc_is_logged_with_the_variable()
    {
        using var f = new HostFixture(withTracker: true);

        Assert.False(f.T.AlignedAlloc(out void* crooked, 3, 100, MallocCaps.Default));

        Assert.True(crooked == null);
        var failure = Assert.Single(f.T.FailedAllocations);
        Assert.Equal("crooked", failure.VariableName);
        Assert.Equal(AllocationMethod.AlignedAlloc, failure.Method);
    }

    [Fact]
    public void Realloc_to_zero_of_a_pointer_that_is_no_live_block_returns_false_and_keeps_the_pointer()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 64, MallocCaps.Default);
        var stale = data;
        void* staleRaw = data;
        f.T.Free(ref data);

        Assert.False(f.T.Realloc(ref stale, 0, MallocCaps.Default)); var line = Line();
        Assert.False(f.T.Realloc(ref staleRaw, 0, MallocCaps.Default));

        Assert.True(stale != null);
        Assert.True(staleRaw == stale);
        Assert.Equal(2, f.Heap.ErrorCount);
        var first = f.Heap.RecentErrors[0];
        Assert.Equal(MemoryErrorKind.ReallocOfFreedBlock, first.Kind);
        Assert.Equal("data", first.FreedAt!.Value.VariableName);
        Assert.Equal("stale", first.DetectedAt!.Value.VariableName);
        Assert.Equal(line, first.DetectedAt.Value.Line);
        Assert.Equal("staleRaw", f.Heap.RecentErrors[1].DetectedAt!.Value.VariableName);
        Assert.Equal(1, f.T.TotalFrees);
        Assert.Empty(f.T.FailedAllocations);

        // A live block still frees by size 0, and a null pointer with size 0 is nothing to do.
        f.T.Malloc(out byte* live, 16, MallocCaps.Default);
        Assert.True(f.T.Realloc(ref live, 0, MallocCaps.Default));
        Assert.True(live == null);
        void* none = null;
        Assert.True(f.T.Realloc(ref none, 0, MallocCaps.Default));
        Assert.Equal(2, f.Heap.ErrorCount);
    }

    [Fact]
    public void Realloc_to_zero_of_a_foreign_pointer_under_the_throw_policy_throws_and_keeps_the_pointer()
    {
        using var f = new HostFixture(MemoryErrorPolicy.Throw, withTracker: true);
        var native = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(64, 16);
        try
        {
            var stranger = native;
            void* strangerRaw = native;

            Assert.Throws<MemoryErrorException>(() => f.T.Realloc(ref stranger, 0, MallocCaps.Default));
            Assert.Throws<MemoryErrorException>(() => f.T.Realloc(ref strangerRaw, 0, MallocCaps.Default));

            Assert.True(stranger == native);
            Assert.True(strangerRaw == native);
            Assert.Equal(2, f.Heap.ErrorCount);
            Assert.All(f.Heap.RecentErrors, e => Assert.Equal(MemoryErrorKind.InvalidPointer, e.Kind));
            native[63] = 1; // Never freed by MemTrace.
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(native);
        }
    }

    [Fact]
    public void A_failure_callback_that_frees_tracked_blocks_never_gives_one_record_to_two_blocks()
    {
        // The failed request's record handle goes back to the thread's ring of free handles after the
        // failure callback has run. When the callback's frees have just filled the ring, the handle must
        // not overwrite another one: then a later allocation would share a record with an earlier one.
        // Which count of frees fills the ring depends on the ring's state, so every count in a full
        // cycle of it is tried.
        for (var freed = 256; freed < 320; freed++)
        {
            using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
            var live = new List<nint>();
            for (var i = 0; i < 320; i++)
            {
                live.Add((nint)tracker.Malloc(16, MallocCaps.Default));
            }

            var toFree = freed;
            var calls = 0;
            heap.RegisterFailedAllocCallback((_, _, _) =>
            {
                calls++;
                for (var i = 0; i < toFree; i++)
                {
                    var p = (void*)live[i];
                    tracker.Free(ref p);
                }
            });

            Assert.False(tracker.Malloc(out byte* huge, nuint.MaxValue / 4, MallocCaps.Default));

            Assert.Equal(1, calls);
            live.RemoveRange(0, toFree);
            for (var i = 0; i < 320; i++)
            {
                live.Add((nint)tracker.Malloc(24, MallocCaps.Default));
            }

            var records = tracker.GetAllocations();
            Assert.Equal(live.Count, tracker.LiveBlocks);
            Assert.Equal(live.Select(p => (nuint)p).Order(), records.Select(r => r.Address).Order());
            foreach (var block in live)
            {
                var p = (void*)block;
                tracker.Free(ref p);
            }

            Assert.Empty(tracker.GetAllocations());
            Assert.Equal(0, tracker.LiveBlocks);
            Assert.Equal(0, heap.ErrorCount);
            Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        }
    }

    [Fact]
    public void Request_numbers_count_one_two_three_on_one_thread()
    {
        using var f = new HostFixture(withTracker: true);
        var blocks = new List<nint>();
        for (var i = 0; i < 200; i++)
        {
            blocks.Add((nint)f.T.Malloc(16, MallocCaps.Default));
        }

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), f.T.GetAllocations().Select(r => r.RequestNumber));
        foreach (var b in blocks)
        {
            var p = (void*)b;
            f.T.Free(ref p);
        }
    }

    [Fact]
    public void List_allocations_prints_every_block_and_a_totals_line_and_returns_them_in_request_order()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Calloc(out byte* buffer, 1, 256, MallocCaps.Bit8);
        f.T.Calloc(out byte* debug_string, 1, 512, MallocCaps.Spiram);

        var listed = f.T.ListAllocations();

        Assert.Equal(2, listed.Count);
        var text = f.Output.ToString();
        Assert.Contains("MALLOC_CAP_8BIT", text, StringComparison.Ordinal);
        Assert.Contains("MALLOC_CAP_SPIRAM", text, StringComparison.Ordinal);
        Assert.Contains("buffer", text, StringComparison.Ordinal);
        Assert.Contains("debug_string", text, StringComparison.Ordinal);
        Assert.Contains("MemoryTrackerTests.cs:", text, StringComparison.Ordinal);
        Assert.Contains(MemoryErrorHex((nuint)buffer), text, StringComparison.Ordinal);
        Assert.Contains("Total: 2 live blocks, 768 bytes", text, StringComparison.Ordinal);
        f.T.Free(ref buffer);
        f.T.Free(ref debug_string);
        f.T.ListAllocations();
        Assert.Contains("Total: 0 live blocks, 0 bytes", f.Output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_block_reallocated_on_the_heap_directly_is_listed_and_reported_with_no_call_site_not_an_empty_file()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* grown, 64, MallocCaps.Default);
        grown = (byte*)f.Heap.Realloc(grown, 128, MallocCaps.Default);

        f.T.ListAllocations();
        var report = f.T.GetLeakReport().ToString();

        var listing = f.Output.ToString();
        Assert.Contains("(realloc at no call site, heap_caps_realloc)", listing, StringComparison.Ordinal);
        Assert.DoesNotContain(":0)", listing, StringComparison.Ordinal);
        Assert.Contains("last reallocated at no call site, heap_caps_realloc", report, StringComparison.Ordinal);
        Assert.DoesNotContain("reallocated at :0", report, StringComparison.Ordinal);

        // A realloc through the tracker still shows its file and line.
        f.T.Realloc(ref grown, 256, MallocCaps.Default);
        f.Output.GetStringBuilder().Clear();
        f.T.ListAllocations();
        Assert.Contains("(realloc at MemoryTrackerTests.cs:", f.Output.ToString(), StringComparison.Ordinal);
        Assert.Contains("last reallocated at MemoryTrackerTests.cs:", f.T.GetLeakReport().ToString(), StringComparison.Ordinal);
        f.T.Free(ref grown);
    }

    [Fact]
    public void Free_nulls_the_callers_pointer_unregisters_and_records_nothing_more()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* buffer, 64, MallocCaps.Default);

        f.T.Free(ref buffer);

        Assert.True(buffer == null);
        Assert.Empty(f.T.GetAllocations());
        Assert.Equal(0, f.T.LiveBlocks);
        Assert.Equal(0, f.T.LiveBytes);
        Assert.Equal(1, f.T.TotalFrees);
        Assert.Equal(0, f.Heap.ErrorCount);
        f.T.Free(ref buffer); // Null: a no-op.
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Free_zeroes_a_tracked_block_before_releasing_it()
    {
        // The block is served from memory this test owns (a region added to the host heap), so its bytes
        // can be read after the free without reading freed memory. The host region's own zeroing is
        // checked while the block is still allocated, in HostRegionTests.
        using var memory = new OwnedMemory(16 * 1024);
        using var f = new HostFixture(withTracker: true);
        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Default | MallocCaps.Bit8, MallocCaps.None, MallocCaps.None], memory.Start, memory.End));
        f.T.Malloc(out byte* buffer, 200, MallocCaps.Default);
        Assert.True(memory.Contains(buffer, 200));
        new Span<byte>(buffer, 200).Fill(0xAB);
        var address = buffer;

        f.T.Free(ref buffer);

        // TLSF writes its free-list links over the first 8 bytes of a freed block; the rest stays as the free left it.
        Assert.True(buffer == null);
        Assert.True(new Span<byte>(address + 8, 192).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Without_clear_on_free_the_bytes_are_left_alone()
    {
        using var memory = new OwnedMemory(16 * 1024);
        using var heap = new HeapCaps(HeapLayout.Host());
        Assert.Equal(HeapCapsResult.Ok, heap.AddRegionWithCaps([MallocCaps.Default | MallocCaps.Bit8, MallocCaps.None, MallocCaps.None], memory.Start, memory.End));
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ClearOnFree = false });
        tracker.Malloc(out byte* buffer, 200, MallocCaps.Default);
        Assert.True(memory.Contains(buffer, 200));
        new Span<byte>(buffer, 200).Fill(0xAB);
        var address = buffer;

        tracker.Free(ref buffer);

        Assert.True(new Span<byte>(address + 8, 192).IndexOfAnyExcept((byte)0xAB) < 0);
    }

    [Fact]
    public void A_block_allocated_while_disabled_is_not_zeroed_by_its_free()
    {
        using var memory = new OwnedMemory(16 * 1024);
        using var f = new HostFixture(withTracker: true, trackerEnabled: false);
        Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.Default | MallocCaps.Bit8, MallocCaps.None, MallocCaps.None], memory.Start, memory.End));
        f.T.Malloc(out byte* buffer, 200, MallocCaps.Default);
        new Span<byte>(buffer, 200).Fill(0xAB);
        var address = buffer;
        f.T.Enabled = true;

        f.T.Free(ref buffer);

        // As the seed: only a registered block is zeroed.
        Assert.True(new Span<byte>(address + 8, 192).IndexOfAnyExcept((byte)0xAB) < 0);
    }

    [Fact]
    public void A_failed_allocation_is_logged_with_size_method_caps_site_variable_and_heap_info()
    {
        using var f = new HostFixture(withTracker: true);

        Assert.False(f.T.Malloc(out byte* exec_buffer, 1024, MallocCaps.Exec | MallocCaps.Bit32)); var line = Line();

        var failure = Assert.Single(f.T.FailedAllocations);
        Assert.True(failure.Failure);
        Assert.Equal(0u, failure.Address);
        Assert.Equal(1024u, failure.Size);
        Assert.Equal(MallocCaps.Exec | MallocCaps.Bit32, failure.Caps);
        Assert.Equal("exec_buffer", failure.VariableName);
        Assert.Equal(line, failure.Line);
        Assert.Equal(1, f.T.FailedAllocationCount);
        var log = f.Output.ToString();
        Assert.Contains("allocation failed: heap_caps_malloc of 1024 bytes, caps MALLOC_CAP_EXEC|MALLOC_CAP_32BIT", log, StringComparison.Ordinal);
        Assert.Contains($"MemoryTrackerTests.cs:{line} in ", log, StringComparison.Ordinal);
        Assert.Contains("(exec_buffer)", log, StringComparison.Ordinal);
        Assert.Contains("Heap summary for capabilities 0x00000003:", log, StringComparison.Ordinal);
        Assert.Single(f.Failures.Calls); // The ESP-IDF callback ran too.
        Assert.Empty(f.T.GetAllocations());
    }

    [Fact]
    public void A_calloc_whose_size_overflows_is_logged_with_both_factors()
    {
        using var f = new HostFixture(withTracker: true);
        var half = nuint.MaxValue / 2 + 1;

        Assert.False(f.T.Calloc(out byte* table, 2, half, MallocCaps.Default)); var line = Line();

        var failure = Assert.Single(f.T.FailedAllocations);
        Assert.Equal("table", failure.VariableName);
        Assert.Equal(line, failure.Line);
        Assert.Equal(nuint.MaxValue, failure.Size);
        var log = f.Output.ToString();
        Assert.Contains($"allocation failed: heap_caps_calloc of 2 x {half} bytes (overflows), caps MALLOC_CAP_DEFAULT", log, StringComparison.Ordinal);
        Assert.DoesNotContain("of 0 bytes", log, StringComparison.Ordinal);
        Assert.Contains("Heap summary for capabilities", log, StringComparison.Ordinal);

        // A product that fits is logged as one size.
        Assert.True(f.T.Calloc(4, nuint.MaxValue / 8, MallocCaps.Default) == null);
        Assert.Contains($"heap_caps_calloc of {4 * (nuint.MaxValue / 8)} bytes, caps", f.Output.ToString(), StringComparison.Ordinal);
        Assert.Equal(4 * (nuint.MaxValue / 8), f.T.FailedAllocations[1].Size);
    }

    [Fact]
    public void A_calloc_on_the_heap_directly_whose_size_overflows_is_logged_with_both_factors_and_shown_saturated_to_the_hook()
    {
        using var f = new HostFixture(withTracker: true);
        var half = nuint.MaxValue / 2 + 1;
        var third = nuint.MaxValue / 3 + 1;
        var seen = new List<AllocationRequest>();
        f.T.AllocationHook = (in AllocationRequest request) =>
        {
            seen.Add(request);
            return true;
        };

        // 2 x half wraps to 0 (it used to be neither logged nor counted), 3 x third wraps to 2 (it used to be logged as 2 bytes).
        Assert.True(f.Heap.Calloc(2, half, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedCalloc(16, 3, third, MallocCaps.Default) == null);
        Assert.True(f.Heap.CallocPrefer(2, half, MallocCaps.Spiram, MallocCaps.Default) == null);
        Assert.True(f.T.Calloc(3, third, MallocCaps.Default) == null);

        Assert.Equal([nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue], seen.Select(r => r.Size));
        Assert.Equal(4, f.T.FailedAllocationCount);
        Assert.All(f.T.FailedAllocations, r => Assert.Equal(nuint.MaxValue, r.Size));
        var log = f.Output.ToString();
        Assert.Contains($"heap_caps_calloc of 2 x {half} bytes (overflows)", log, StringComparison.Ordinal);
        Assert.Contains($"heap_caps_aligned_calloc of 3 x {third} bytes (overflows)", log, StringComparison.Ordinal);
        Assert.Contains($"heap_caps_calloc_prefer of 2 x {half} bytes (overflows)", log, StringComparison.Ordinal);
        Assert.Contains($"heap_caps_calloc of 3 x {third} bytes (overflows)", log, StringComparison.Ordinal);
        Assert.DoesNotContain("of 2 bytes", log, StringComparison.Ordinal);

        // ESP-IDF's failure callback keeps its own rules: heap_caps_calloc passes the wrapped product, _prefer the element
        // size, aligned calloc calls nothing.
        Assert.Equal([0, half, 2], f.Failures.Calls.Select(c => c.Size));
        Assert.Empty(f.T.GetAllocations());
        Assert.True(f.Heap.CheckIntegrityAll(print: true));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_libc_calloc_on_the_heap_directly_whose_size_overflows_is_logged_and_shown_to_the_hook_as_other_callocs_are(bool psram)
    {
        // CallocDefault returned null before the tracker heard of the request: no hook call, no log, no record.
        var output = new StringWriter();
        using var heap = new HeapCaps(psram ? HeapLayout.Esp32(psramMiB: 4) : HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = new StringWriter() });
        var failures = new FailedAllocations();
        heap.RegisterFailedAllocCallback(failures.Record);
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output });
        var half = nuint.MaxValue / 2 + 1;
        var seen = new List<AllocationRequest>();
        tracker.AllocationHook = (in AllocationRequest request) =>
        {
            seen.Add(request);
            return true;
        };
        var free = heap.GetFreeSize(MallocCaps.Default);

        Assert.True(heap.CallocDefault(2, half) == null);

        Assert.Equal(nuint.MaxValue, Assert.Single(seen).Size);
        var failure = Assert.Single(tracker.FailedAllocations);
        Assert.Equal(nuint.MaxValue, failure.Size);
        Assert.Equal(AllocationMethod.MallocDefault, failure.Method);
        Assert.Contains($"heap_caps_malloc_default of 2 x {half} bytes (overflows)", output.ToString(), StringComparison.Ordinal);
        Assert.Empty(failures.Calls); // As the chip's calloc(): the overflow check fails before malloc, with no callback.
        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(free, heap.GetFreeSize(MallocCaps.Default));
        Assert.True(heap.CheckIntegrityAll(print: true));

        // A product that fits is still one request of n x size bytes.
        var block = heap.CallocDefault(3, 40);
        Assert.True(block != null);
        Assert.Equal(120u, Assert.Single(tracker.GetAllocations()).Size);
        heap.Free(block);
    }

    [Fact]
    public void Failures_of_tracked_calls_are_logged_while_disabled_as_the_seed_logs_them()
    {
        using var f = new HostFixture(withTracker: true, trackerEnabled: false);
        var half = nuint.MaxValue / 2 + 1;
        f.T.Malloc(out byte* kept, 16, MallocCaps.Default);
        var original = kept;

        Assert.False(f.T.Malloc(out byte* exec_buffer, 1024, MallocCaps.Exec | MallocCaps.Bit32)); var line = Line();
        Assert.False(f.T.Calloc(out void* table, 2, half, MallocCaps.Default));
        Assert.True(f.T.Realloc(null, nuint.MaxValue / 4, MallocCaps.Default) == null);
        Assert.False(f.T.Realloc(ref kept, nuint.MaxValue / 4, MallocCaps.Default));
        Assert.True(f.T.AlignedAlloc(3, 8, MallocCaps.Default) == null);

        Assert.Equal(5, f.T.FailedAllocationCount);
        var failures = f.T.FailedAllocations;
        Assert.Equal(["exec_buffer", "table", null, "kept", null], failures.Select(r => r.VariableName));
        Assert.Equal(line, failures[0].Line);
        Assert.Equal(["heap_caps_malloc", "heap_caps_calloc", "heap_caps_realloc", "heap_caps_realloc", "heap_caps_aligned_alloc"], failures.Select(r => r.MethodName));
        Assert.Equal(5, failures.Select(r => r.RequestNumber).Distinct().Count());
        var log = f.Output.ToString();
        Assert.Contains("allocation failed: heap_caps_malloc of 1024 bytes, caps MALLOC_CAP_EXEC|MALLOC_CAP_32BIT", log, StringComparison.Ordinal);
        Assert.Contains("(exec_buffer)", log, StringComparison.Ordinal);
        Assert.Contains($"heap_caps_calloc of 2 x {half} bytes (overflows)", log, StringComparison.Ordinal);
        Assert.True(kept == original);

        // Nothing was recorded, and a failure on the heap directly is not the tracker's to log while it is off.
        Assert.Empty(f.T.GetAllocations());
        Assert.True(f.Heap.Malloc(1024, MallocCaps.Exec) == null);
        Assert.Equal(5, f.T.FailedAllocationCount);
        f.T.Enabled = true;
        Assert.True(f.Heap.Malloc(1024, MallocCaps.Exec) == null);
        Assert.Equal(6, f.T.FailedAllocationCount);
        Assert.False(f.T.FailedAllocations[^1].AllocatedAt.IsKnown);
        f.T.Free(ref kept);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Size_zero_is_not_a_failure()
    {
        using var f = new HostFixture(withTracker: true);

        Assert.False(f.T.Malloc(out byte* nothing, 0, MallocCaps.Default));

        Assert.Equal(0, f.T.FailedAllocationCount);
        Assert.Empty(f.T.GetAllocations());
    }

    [Fact]
    public void Calloc_overflow_and_bad_alignment_are_logged_failures()
    {
        using var f = new HostFixture(withTracker: true);

        Assert.True(f.T.Calloc(nuint.MaxValue, 2, MallocCaps.Default) == null);
        Assert.True(f.T.AlignedAlloc(3, 8, MallocCaps.Default) == null);

        Assert.Equal(2, f.T.FailedAllocationCount);
        Assert.Equal(["heap_caps_calloc", "heap_caps_aligned_alloc"], f.T.FailedAllocations.Select(r => r.MethodName));
    }

    [Fact]
    public void A_bad_alignment_is_logged_as_such_not_as_memory_running_out()
    {
        // ESP-IDF returns null for alignment 0 or not a power of two before looking at the heap. The log said
        // "allocation failed" with the heap's free figures, as if memory had run out.
        using var f = new HostFixture(withTracker: true);

        Assert.True(f.T.AlignedAlloc(3, 8, MallocCaps.Default) == null); // Tracked.
        Assert.True(f.Heap.AlignedCalloc(0, 2, 8, MallocCaps.Default) == null); // On the heap directly.
        f.T.Enabled = false;
        Assert.True(f.T.AlignedAlloc(24, 8, MallocCaps.Default) == null); // Tracked call while tracking is off.
        f.T.Enabled = true;
        Assert.True(f.T.AlignedAlloc(16, nuint.MaxValue / 2, MallocCaps.Default) == null); // A good alignment: a real failure.

        var log = f.Output.ToString();
        Assert.Contains("allocation refused (alignment 3 is not a power of two; the heap was not asked): heap_caps_aligned_alloc of 8 bytes", log, StringComparison.Ordinal);
        Assert.Contains("allocation refused (alignment 0 is not a power of two; the heap was not asked): heap_caps_aligned_calloc of 16 bytes", log, StringComparison.Ordinal);
        Assert.Contains("allocation refused (alignment 24 is not a power of two", log, StringComparison.Ordinal);
        Assert.Contains("allocation failed: heap_caps_aligned_alloc of", log, StringComparison.Ordinal);
        Assert.Single(log.Split('\n'), l => l.StartsWith("Heap summary", StringComparison.Ordinal)); // The real failure's only.
        Assert.Equal(4, f.T.FailedAllocationCount); // Still failures the seed would log.
    }

    [Fact]
    public void The_failure_log_keeps_the_most_recent_ones()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, FailedAllocationCapacity = 2 });
        for (nuint i = 1; i <= 4; i++)
        {
            tracker.Malloc(i, MallocCaps.Exec);
        }

        Assert.Equal(4, tracker.FailedAllocationCount);
        Assert.Equal([3u, 4u], tracker.FailedAllocations.Select(r => (uint)r.Size));
    }

    [Fact]
    public void A_realloc_updates_address_and_size_and_keeps_the_allocation_site_beside_its_own()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 16, MallocCaps.Default); var allocLine = Line();
        data[0] = 7;

        Assert.True(f.T.Realloc(ref data, 100_000, MallocCaps.Default)); var reallocLine = Line();

        var record = Assert.Single(f.T.GetAllocations());
        Assert.Equal((nuint)data, record.Address);
        Assert.Equal(100_000u, record.Size);
        Assert.Equal(allocLine, record.Line);
        Assert.Equal(AllocationMethod.Malloc, record.Method);
        Assert.Equal("data", record.VariableName);
        Assert.Equal(reallocLine, record.ReallocatedAt!.Value.Line);
        Assert.Equal(AllocationMethod.Realloc, record.ReallocatedAt.Value.Method);
        Assert.Equal("data", record.ReallocatedAt.Value.VariableName);
        Assert.Equal(1, record.RequestNumber);
        Assert.Equal(100_000, f.T.LiveBytes);
        Assert.Equal(7, data[0]);
        f.T.Free(ref data);
    }

    [Fact]
    public void A_failed_realloc_leaves_the_block_and_its_record_untouched()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 16, MallocCaps.Default);
        var original = data;
        var before = Assert.Single(f.T.GetAllocations());

        Assert.False(f.T.Realloc(ref data, nuint.MaxValue / 2, MallocCaps.Default));

        Assert.True(data == original);
        Assert.Equal(before, Assert.Single(f.T.GetAllocations()));
        Assert.Equal("heap_caps_realloc", Assert.Single(f.T.FailedAllocations).MethodName);
        f.T.Free(ref data);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Realloc_to_zero_frees_and_unregisters()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 16, MallocCaps.Default);

        Assert.True(f.T.Realloc(ref data, 0, MallocCaps.Default));

        Assert.True(data == null);
        Assert.Empty(f.T.GetAllocations());
        Assert.Equal(0, f.Heap.ErrorCount);
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Blocks_made_through_HeapCaps_directly_are_recorded_with_no_call_site()
    {
        using var f = new HostFixture(withTracker: true);

        var p = f.Heap.Malloc(24, MallocCaps.Dma);
        var q = f.Heap.Calloc(2, 8, MallocCaps.Default);

        var records = f.T.GetAllocations();
        Assert.Equal(2, records.Count);
        Assert.All(records, r => Assert.False(r.AllocatedAt.IsKnown));
        Assert.Equal([AllocationMethod.Malloc, AllocationMethod.Calloc], records.Select(r => r.Method));
        Assert.Contains("(no call site)", MemoryTracker.FormatAllocations(records), StringComparison.Ordinal);
        f.Heap.Free(p);
        f.Heap.Free(q);
        Assert.Empty(f.T.GetAllocations());
        Assert.Equal(2, f.T.TotalFrees);
    }

    [Fact]
    public void A_heap_realloc_of_a_tracked_block_updates_its_record()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* data, 16, MallocCaps.Default);

        var moved = f.Heap.Realloc(data, 5000, MallocCaps.Default);

        var record = Assert.Single(f.T.GetAllocations());
        Assert.Equal((nuint)moved, record.Address);
        Assert.Equal(5000u, record.Size);
        Assert.Equal("data", record.VariableName);
        Assert.False(record.ReallocatedAt!.Value.IsKnown);
        f.Heap.Free(moved);
    }

    [Fact]
    public void While_disabled_nothing_is_recorded_and_those_blocks_free_silently_after_re_enabling()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Enabled = false;
        f.T.Malloc(out byte* quiet, 32, MallocCaps.Default);
        var direct = f.Heap.Malloc(32, MallocCaps.Default);
        Assert.Empty(f.T.GetAllocations());

        f.T.Enabled = true;
        f.T.Malloc(out byte* loud, 32, MallocCaps.Default);
        f.T.Free(ref quiet);
        f.Heap.Free(direct);

        Assert.True(quiet == null);
        Assert.Equal(0, f.Heap.ErrorCount);
        Assert.Equal("loud", Assert.Single(f.T.GetAllocations()).VariableName);
        f.T.Free(ref loud);
        Assert.Equal(0, f.T.LiveBlocks);
    }

    [Fact]
    public void Records_made_before_disabling_are_still_released_by_their_free()
    {
        using var f = new HostFixture(withTracker: true);
        f.T.Malloc(out byte* early, 32, MallocCaps.Default);

        f.T.Enabled = false;
        f.T.Free(ref early);
        f.T.Enabled = true;

        Assert.Empty(f.T.GetAllocations());
        Assert.Equal(0, f.T.LiveBlocks);
    }

    [Fact]
    public void A_block_made_while_disabled_is_tracked_from_its_first_tracked_realloc()
    {
        using var f = new HostFixture(withTracker: true, trackerEnabled: false);
        f.T.Malloc(out byte* data, 16, MallocCaps.Default);
        f.T.Enabled = true;

        Assert.True(f.T.Realloc(ref data, 64, MallocCaps.Default));

        var record = Assert.Single(f.T.GetAllocations());
        Assert.Equal(AllocationMethod.Realloc, record.Method);
        Assert.Equal(64u, record.Size);
        f.T.Free(ref data);
        Assert.Empty(f.T.GetAllocations());
    }

    [Fact]
    public void Print_memory_info_shows_the_seeds_rows_with_total_min_free_and_largest_block()
    {
        using var f = new HostFixture(withTracker: true);

        var rows = f.T.PrintMemoryInfo("app");

        Assert.Equal(MemoryTracker.MemoryInfoCaps, rows.Select(r => r.Caps));
        Assert.Equal(9, rows.Count);
        var defaultRow = rows[0];
        Assert.Equal(nuint.MaxValue, defaultRow.TotalSize);
        Assert.Equal(nuint.MaxValue, defaultRow.FreeSize);
        var exec = rows.Single(r => r.Caps == MallocCaps.Exec);
        Assert.Equal(new CapsMemoryInfo(MallocCaps.Exec, 0, 0, 0, 0), exec);
        var text = f.Output.ToString();
        Assert.Contains("[app] Memory info (host):", text, StringComparison.Ordinal);
        Assert.Contains("MALLOC_CAP_DEFAULT", text, StringComparison.Ordinal);
        Assert.Contains("unbounded", text, StringComparison.Ordinal);
        Assert.DoesNotContain(nuint.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), text, StringComparison.Ordinal);
        Assert.Contains("MALLOC_CAP_RETENTION", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Print_memory_info_on_a_chip_layout_shows_each_rows_minimum_free_and_largest_block()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32());
        var output = new StringWriter();
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output });
        var largestBefore = heap.GetLargestFreeBlock(MallocCaps.Internal);
        var freeBefore = heap.GetFreeSize(MallocCaps.Internal);

        // A low-water mark: while these blocks are live, internal RAM is at its lowest.
        tracker.Malloc(out byte* first, 40_000, MallocCaps.Internal);
        tracker.Malloc(out byte* second, 40_000, MallocCaps.Internal);
        var freeAtLowest = heap.GetFreeSize(MallocCaps.Internal);
        var largestWhileLive = heap.GetLargestFreeBlock(MallocCaps.Internal);
        tracker.Free(ref second);
        tracker.Malloc(out byte* keep, 1000, MallocCaps.Internal);
        var freeNow = heap.GetFreeSize(MallocCaps.Internal);
        var largestNow = heap.GetLargestFreeBlock(MallocCaps.Internal);

        var rows = tracker.PrintMemoryInfo("chip");

        var row = rows.Single(r => r.Caps == MallocCaps.Internal);
        Assert.True(freeAtLowest < freeNow && freeNow < freeBefore, $"{freeAtLowest} < {freeNow} < {freeBefore}");
        Assert.Equal(freeNow, row.FreeSize);
        Assert.Equal(freeAtLowest, row.MinimumFreeSize);
        Assert.Equal(largestNow, row.LargestFreeBlock);
        Assert.True(largestWhileLive <= largestNow && largestNow <= largestBefore);
        Assert.InRange(row.LargestFreeBlock, 1u, row.FreeSize);
        Assert.Equal(heap.GetTotalSize(MallocCaps.Internal), row.TotalSize);

        // Each row prints total, free, minimum free and largest block in that order.
        var exec = rows.Single(r => r.Caps == MallocCaps.Exec);
        Assert.InRange(exec.MinimumFreeSize, 1u, exec.FreeSize);
        Assert.InRange(exec.LargestFreeBlock, 1u, exec.FreeSize);
        var printed = output.ToString().Split('\n').Single(l => l.TrimStart().StartsWith("MALLOC_CAP_INTERNAL ", StringComparison.Ordinal));
        Assert.Equal(
            [row.TotalSize.ToString(System.Globalization.CultureInfo.InvariantCulture), row.FreeSize.ToString(System.Globalization.CultureInfo.InvariantCulture), row.MinimumFreeSize.ToString(System.Globalization.CultureInfo.InvariantCulture), row.LargestFreeBlock.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            printed.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1));
        tracker.Free(ref first);
        tracker.Free(ref keep);
    }

    [Fact]
    public void Only_one_tracker_per_heap_and_disposing_it_detaches()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        var first = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });

        Assert.Throws<InvalidOperationException>(() => new MemoryTracker(heap));
        var p = first.Malloc(16, MallocCaps.Default);
        first.Dispose();
        heap.Free(p); // The block outlives its tracker and frees without error.
        using var second = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });

        Assert.Empty(second.GetAllocations());
        Assert.Equal(0, heap.ErrorCount);
        Assert.Throws<ObjectDisposedException>(() => first.Malloc(1, MallocCaps.Default));
        Assert.Throws<ObjectDisposedException>(() => first.GetAllocations());
    }

    [Fact]
    public void Bookkeeping_stays_under_64_bytes_per_live_block()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        const int count = 200_000;
        var blocks = new nint[count];
        for (var i = 0; i < count; i++)
        {
            blocks[i] = (nint)tracker.Malloc(16, MallocCaps.Default);
        }

        var perBlock = (double)tracker.BookkeepingBytes / tracker.LiveBlocks;

        Assert.Equal(count, tracker.LiveBlocks);
        Assert.InRange(perBlock, 60, 64);
        foreach (var b in blocks)
        {
            heap.Free((void*)b);
        }
    }

    private static int Line([CallerLineNumber] int line = 0) => line;

    private static string MemoryErrorHex(nuint address) => "0x" + address.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
}

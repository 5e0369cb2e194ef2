// The native library's exports (src/MemTrace.Native), called in-process through their unmanaged entry points,
// as a C program calls them: the heap_caps_* functions, the seed's memmap.h API and memtrace.h. The library's
// heap is process-wide state, so these tests run alone (the console collection) and each starts from a fresh,
// configured heap. NativeLibraryTests builds the real shared library and runs C programs against it.
using System.Runtime.InteropServices;
using System.Text;
using MemTrace.Native;
using Xunit;

namespace MemTrace.Tests.Native;

[Collection(ConsoleCollection.Name)]
public sealed unsafe class NativeExportsTests : IDisposable
{
    private const int EspOk = 0;
    private const int EspErrNoMem = 0x101;
    private const int EspErrInvalidArg = 0x102;
    private const int EspErrInvalidState = 0x103;

    private static readonly List<(nuint Size, uint Caps, string Name)> s_failures = [];
    private static int s_walkerCalls;

    // What the library prints (failed-allocation logs, error reports) stays out of the test run's output.
    private readonly TextWriter _stdout = Console.Out;
    private readonly TextWriter _stderr = Console.Error;

    public NativeExportsTests()
    {
        Console.SetOut(new StringWriter());
        Console.SetError(new StringWriter());
        NativeHeap.Reset();
        *NativeHeap.TrackFlag = 1;
        NativeHeap.FailedAllocHook = null;
        lock (s_failures)
        {
            s_failures.Clear();
        }
    }

    public void Dispose()
    {
        NativeHeap.Reset();
        *NativeHeap.TrackFlag = 1;
        NativeHeap.FailedAllocHook = null;
        Console.SetOut(_stdout);
        Console.SetError(_stderr);
    }

    [Fact]
    public void The_default_heap_is_the_demos_ESP32_with_4_MiB_of_PSRAM_and_a_SPIRAM_block_lands_there()
    {
        var spiram = (uint)MallocCaps.Spiram;
        Assert.Equal((nuint)4 << 20, GetTotalSize(spiram));
        var before = GetFreeSize(spiram);

        var block = Malloc(1000, spiram);

        Assert.True(block is not null);
        Assert.True(GetFreeSize(spiram) < before - 1000);
        Assert.Equal(NativeHeap.Current.Heap.GetFreeSize(MallocCaps.Spiram), GetFreeSize(spiram));
        Assert.True(GetAllocatedSize(block) >= 1000);
        Free(block);
        Assert.Equal(before, GetFreeSize(spiram));
        Assert.Equal(1, CheckIntegrityAll(1));
    }

    [Fact]
    public void Configure_takes_a_built_in_layout_or_a_file_and_refuses_bad_input_and_a_heap_in_use()
    {
        Assert.Equal(EspErrInvalidArg, Configure("esp33", 0));
        Assert.Equal(EspErrInvalidArg, Configure("host", 3));
        Assert.Equal(EspErrInvalidArg, Configure("host", -1));
        Assert.Equal(EspOk, Configure("esp32", 1));

        Assert.Equal((nuint)0, GetTotalSize((uint)MallocCaps.Spiram)); // No PSRAM in "esp32".
        Assert.Equal(PoisoningLevel.Light, NativeHeap.Current.Heap.Poisoning);
        Assert.Equal(EspErrInvalidState, Configure("host", 0));

        Shutdown();
        var file = Path.Combine(Path.GetTempPath(), $"memtrace-native-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """{ "name": "tiny", "regions": [ { "name": "RAM", "size": 65536, "caps": ["8BIT|32BIT|INTERNAL|DEFAULT"] } ] }""");
        try
        {
            Assert.Equal(EspOk, Configure(file, 0));
            Assert.Equal((nuint)65536, GetTotalSize((uint)MallocCaps.Default));
            Assert.Equal("tiny", NativeHeap.Current.Heap.Layout.Name);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_failed_allocation_calls_the_registered_C_callback_with_the_size_caps_and_function_name()
    {
        Assert.Equal(EspErrInvalidArg, RegisterFailedAllocCallback(null));
        Assert.Equal(EspOk, RegisterFailedAllocCallback(&OnFailedAlloc));

        var block = Malloc(1u << 30, (uint)MallocCaps.Bit8);
        var exec = Malloc(64, (uint)(MallocCaps.Exec | MallocCaps.Bit8));
        var none = Malloc(0, (uint)MallocCaps.Bit8);

        Assert.True(block is null && exec is null && none is null);
        lock (s_failures)
        {
            Assert.Equal(
                [((nuint)1 << 30, (uint)MallocCaps.Bit8, "heap_caps_malloc"), ((nuint)64, (uint)(MallocCaps.Exec | MallocCaps.Bit8), "heap_caps_malloc")],
                s_failures);
        }
    }

    [Fact]
    public void Prefer_takes_the_caps_in_order_and_gives_ESP_IDFs_function_name_when_all_fail()
    {
        RegisterFailedAllocCallback(&OnFailedAlloc);
        var caps = stackalloc uint[] { (uint)(MallocCaps.Dma | MallocCaps.Spiram), (uint)MallocCaps.Spiram };

        var block = MallocPrefer(256, 2, caps);
        var none = MallocPrefer(8u << 20, 2, caps);
        var empty = MallocPrefer(256, 0, null);

        Assert.True(block is not null);
        Assert.Equal("SPIRAM", RegionOf(block));
        Assert.True(none is null && empty is null);
        lock (s_failures)
        {
            Assert.Contains(((nuint)8 << 20, (uint)MallocCaps.Spiram, "heap_caps_malloc_prefer"), s_failures);
        }

        var grown = ReallocPrefer(block, 512, 2, caps);
        Assert.True(grown is not null);
        Assert.True(GetAllocatedSize(grown) >= 512);
        Free(grown);
        Assert.Equal(1, CheckIntegrityAll(0));
    }

    [Fact]
    public void Get_info_fills_multi_heap_info_t_as_HeapCaps_GetInfo_and_ignores_a_null_pointer()
    {
        var block = Calloc(10, 100, (uint)MallocCaps.Internal);
        MultiHeapInfo info;

        GetInfo(&info, (uint)MallocCaps.Internal);
        GetInfo(null, (uint)MallocCaps.Internal);

        var expected = NativeHeap.Current.Heap.GetInfo(MallocCaps.Internal);
        Assert.Equal(expected.TotalFreeBytes, info.TotalFreeBytes);
        Assert.Equal(expected.TotalAllocatedBytes, info.TotalAllocatedBytes);
        Assert.Equal(expected.LargestFreeBlock, info.LargestFreeBlock);
        Assert.Equal(expected.MinimumFreeBytes, info.MinimumFreeBytes);
        Assert.Equal(expected.AllocatedBlocks, info.AllocatedBlocks);
        Assert.Equal(expected.FreeBlocks, info.FreeBlocks);
        Assert.Equal(expected.TotalBlocks, info.TotalBlocks);
        Assert.True(info.AllocatedBlocks >= 1);
        Assert.Equal(new byte[1000], new ReadOnlySpan<byte>(block, 1000).ToArray());
        Free(block);
    }

    [Fact]
    public void Walk_passes_each_block_by_value_and_a_false_return_ends_the_regions_walk()
    {
        var block = Malloc(100, (uint)MallocCaps.Spiram);
        var expected = 0;
        NativeHeap.Current.Heap.Walk(MallocCaps.Spiram, (_, _) => ++expected > 0);

        s_walkerCalls = 0;
        var seen = new List<(nint Start, nint End, nuint Ptr, nuint Size, bool Used)>();
        var handle = GCHandle.Alloc(seen);
        try
        {
            Walk((uint)MallocCaps.Spiram, &CollectBlock, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }

        Assert.Equal(expected, seen.Count);
        Assert.Contains(seen, b => b.Used && b.Ptr <= (nuint)block && (nuint)block < b.Ptr + b.Size + 16);
        Assert.All(seen, b => Assert.True(b.Start <= (nint)b.Ptr && (nint)b.Ptr < b.End));

        s_walkerCalls = 0;
        WalkAll(&StopAtOnce, null);
        Assert.Equal(NativeHeap.Current.Heap.Layout.Regions.Count, s_walkerCalls); // One block per region, then the next region.
        WalkAll(null, null); // ESP-IDF asserts; here nothing happens.
        Free(block);
    }

    [Fact]
    public void Traceable_calls_record_the_C_call_site_and_the_TO_forms_the_variable_name()
    {
        var file = Utf8("components/app/app.c");
        var function = Utf8("app_main");
        var variable = Utf8("frame_buffer");

        var buffer = TraceableMalloc(256, (uint)MallocCaps.Bit8, file, 12, function);
        var frame = MallocAt(1024, (uint)MallocCaps.Spiram, file, 13, function, variable);
        var zeroed = TraceableCalloc(4, 8, (uint)MallocCaps.Bit8, file, 14, function);

        var records = NativeHeap.Current.Tracker.GetAllocations().OrderBy(r => r.Line).ToArray();
        Assert.Equal([12, 13, 14], records.Select(r => r.Line));
        Assert.All(records, r => Assert.Equal("components/app/app.c", r.File));
        Assert.All(records, r => Assert.Equal("app_main", r.Function));
        Assert.Equal([null, "frame_buffer", null], records.Select(r => r.VariableName));
        Assert.Equal([AllocationMethod.Malloc, AllocationMethod.Malloc, AllocationMethod.Calloc], records.Select(r => r.Method));

        var listing = ConsoleCollection.Capture(() => ListAllocations());
        Assert.Contains("app.c:13 (app_main)", listing, StringComparison.Ordinal);
        Assert.Contains("frame_buffer", listing, StringComparison.Ordinal);

        FreeUnregisterAllocation(&buffer);
        FreeUnregisterAllocation(&frame);
        FreeUnregisterAllocation(&zeroed);
        Assert.True(buffer is null && frame is null && zeroed is null);
        Assert.Equal(0, NativeHeap.Current.Tracker.LiveBlocks);
        FreeUnregisterAllocation(&buffer); // NULL: nothing to do.
        FreeUnregisterAllocation(null);
        Assert.Equal(0, NativeHeap.Current.Heap.ErrorCount);
    }

    [Fact]
    public void A_reused_C_buffer_with_new_text_is_read_again_not_taken_from_the_cache()
    {
        var buffer = (byte*)NativeMemory.AllocZeroed(32);
        try
        {
            Encoding.UTF8.GetBytes("first.c\0", new Span<byte>(buffer, 32));
            var a = TraceableMalloc(16, (uint)MallocCaps.Bit8, buffer, 1, null);
            Encoding.UTF8.GetBytes("second.c\0", new Span<byte>(buffer, 32));
            var b = TraceableMalloc(16, (uint)MallocCaps.Bit8, buffer, 2, null);

            var files = NativeHeap.Current.Tracker.GetAllocations().OrderBy(r => r.Line).Select(r => r.File).ToArray();
            Assert.Equal(["first.c", "second.c"], files);
            Free(a);
            Free(b);
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    [Fact]
    public void Clearing_debug_track_allocation_stops_recording_and_setting_it_starts_again()
    {
        var flag = DebugTrackAllocation();
        Assert.Equal(1, *flag);

        *flag = 0;
        var untracked = TraceableMalloc(64, (uint)MallocCaps.Bit8, Utf8("a.c"), 1, Utf8("f"));
        Assert.Equal(0, NativeHeap.Current.Tracker.LiveBlocks);
        *flag = 1;
        var tracked = TraceableMalloc(64, (uint)MallocCaps.Bit8, Utf8("a.c"), 2, Utf8("f"));

        Assert.Equal(1, NativeHeap.Current.Tracker.LiveBlocks);
        Assert.True(NativeHeap.Current.Tracker.Enabled);
        FreeUnregisterAllocation(&untracked);
        FreeUnregisterAllocation(&tracked);
        Assert.Equal(0, NativeHeap.Current.Heap.ErrorCount);
    }

    [Fact]
    public void A_double_free_through_TRACE_FREE_is_reported_at_its_C_call_site_and_counted()
    {
        var file = Utf8("main.c");
        var function = Utf8("main");
        var block = MallocAt(100, (uint)MallocCaps.Bit8, file, 10, function, Utf8("big"));
        var copy = block;

        FreeAt(&block, file, 11, function, Utf8("big"));
        FreeAt(&copy, file, 12, function, Utf8("copy"));

        Assert.True(block is null && copy is null);
        Assert.Equal((nuint)1, ErrorCount());
        var error = Assert.Single(NativeHeap.Current.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.Equal(12, error.DetectedAt?.Line);
        Assert.Equal("copy", error.DetectedAt?.VariableName);
        Assert.Equal(10, error.Block?.Line);
        FreeAt(null, file, 13, function, null); // A null pointer-to-pointer: nothing to do.
        Assert.Equal(1, CheckIntegrityAll(0));
    }

    [Fact]
    public void Realloc_at_updates_the_pointer_on_success_and_leaves_it_valid_on_failure()
    {
        var file = Utf8("r.c");
        void* block = MallocAt(16, (uint)MallocCaps.Bit8, file, 1, null, Utf8("block"));
        new Span<byte>(block, 16).Fill(0x5A);

        Assert.Equal(1, ReallocAt(&block, 4000, (uint)MallocCaps.Bit8, file, 2, null, Utf8("block")));
        var grown = block;
        Assert.Equal(0, ReallocAt(&block, 1u << 30, (uint)MallocCaps.Bit8, file, 3, null, Utf8("block")));

        Assert.True(block == grown);
        Assert.All(new ReadOnlySpan<byte>(block, 16).ToArray(), b => Assert.Equal(0x5A, b));
        var record = NativeHeap.Current.Tracker.GetAllocations().Single();
        Assert.Equal((nuint)4000, record.Size);
        Assert.Equal(("r.c", 1, "?", "block"), (record.File, record.Line, record.Function, record.VariableName));
        Assert.Equal(2, record.ReallocatedAt?.Line);
        Assert.Equal(0, ReallocAt(null, 8, (uint)MallocCaps.Bit8, file, 4, null, null));
        FreeAt(&block, file, 5, null, null);
        Assert.Equal(0, NativeHeap.Current.Heap.ErrorCount);
    }

    [Fact]
    public void Leaks_since_counts_the_blocks_left_after_a_checkpoint_and_refuses_unknown_checkpoints()
    {
        var early = TraceableMalloc(10, (uint)MallocCaps.Bit8, Utf8("l.c"), 1, null);
        var mark = Checkpoint();
        var kept = TraceableMalloc(20, (uint)MallocCaps.Bit8, Utf8("l.c"), 2, null);
        var freed = TraceableMalloc(30, (uint)MallocCaps.Bit8, Utf8("l.c"), 3, null);
        FreeUnregisterAllocation(&freed);

        Assert.Equal((nuint)1, mark);
        Assert.Equal((nuint)1, LeaksSince(mark, 0));
        Assert.Equal((nuint)2, LeaksSince(0, 0));
        Assert.Equal(nuint.MaxValue, LeaksSince(2, 0));
        var report = ConsoleCollection.Capture(() => LeaksSince(mark, 1));
        Assert.Contains("l.c:2", report, StringComparison.Ordinal);
        Assert.DoesNotContain("l.c:1 ", report, StringComparison.Ordinal);

        Shutdown();
        Assert.Equal(nuint.MaxValue, LeaksSince(mark, 0)); // A new heap: the old checkpoint is gone.
        Assert.True(early is not null && kept is not null);
    }

    [Fact]
    public void Print_functions_write_ESP_IDFs_and_the_seeds_formats_to_standard_output()
    {
        var output = ConsoleCollection.Capture(() =>
        {
            PrintHeapInfo((uint)MallocCaps.Spiram);
            PrintMemoryInfo(Utf8("boot"));
            Dump((uint)MallocCaps.Spiram);
        });

        Assert.Contains("Heap summary for capabilities 0x00000400:", output, StringComparison.Ordinal);
        Assert.Contains("[boot] Memory info (esp32-psram4m):", output, StringComparison.Ordinal);
        Assert.Contains("MALLOC_CAP_SPIRAM", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_region_with_caps_takes_three_priorities_and_gives_esp_err_t_results()
    {
        var size = (nuint)64 * 1024;
        var memory = (byte*)NativeMemory.AlignedAlloc(size, 16);
        var caps = stackalloc uint[] { (uint)(MallocCaps.Spiram | MallocCaps.Bit8 | MallocCaps.Bit32), 0, 0 };
        var before = GetTotalSize((uint)MallocCaps.Spiram);
        try
        {
            Assert.Equal(EspErrInvalidArg, AddRegionWithCaps(null, (nint)memory, (nint)(memory + size)));
            Assert.Equal(EspErrInvalidArg, AddRegionWithCaps(caps, (nint)(memory + size), (nint)memory));
            Assert.Equal(EspOk, AddRegionWithCaps(caps, (nint)memory, (nint)(memory + size)));
            Assert.Equal(before + size, GetTotalSize((uint)MallocCaps.Spiram));
            Assert.Equal(-1, AddRegionWithCaps(caps, (nint)(memory + 16), (nint)(memory + size + 16))); // ESP_FAIL: overlaps.
            Assert.Equal(EspOk, MonitorStart());
            Assert.Equal(EspOk, MonitorStop());
        }
        finally
        {
            Shutdown(); // The heap goes before the memory it was given.
            NativeMemory.AlignedFree(memory);
        }

        Assert.NotEqual(EspErrNoMem, EspOk);
    }

    [Fact]
    public void A_heap_that_cannot_start_gives_NULL_with_the_reason_on_stderr_and_recovers_once_fixed()
    {
        var previous = Environment.GetEnvironmentVariable("MEMTRACE_POISONING");
        var errors = new StringWriter();
        var stderr = Console.Error;
        Environment.SetEnvironmentVariable("MEMTRACE_POISONING", "heavy");
        Console.SetError(errors);
        try
        {
            Assert.True(Malloc(16, (uint)MallocCaps.Bit8) is null);
            Assert.Contains("memtrace: heap_caps_malloc: MEMTRACE_POISONING='heavy' is not none, light or comprehensive.", errors.ToString(), StringComparison.Ordinal);

            Environment.SetEnvironmentVariable("MEMTRACE_POISONING", "Comprehensive");
            var block = Malloc(16, (uint)MallocCaps.Bit8);
            Assert.True(block is not null);
            Assert.Equal(PoisoningLevel.Comprehensive, NativeHeap.Current.Heap.Poisoning);
            Free(block);
        }
        finally
        {
            Console.SetError(stderr);
            Environment.SetEnvironmentVariable("MEMTRACE_POISONING", previous);
        }
    }

    private static string? RegionOf(void* block)
    {
        string? name = null;
        NativeHeap.Current.Heap.WalkAll((region, b) =>
        {
            if (b.Address <= (nuint)block && (nuint)block < b.Address + b.Size + 16 && b.Used)
            {
                name = region.Name;
            }

            return true;
        });
        return name;
    }

    /// <summary>A NUL-terminated UTF-8 string that lives as long as the test process, as a C literal does.</summary>
    private static byte* Utf8(string text) => NativeStrings.ToUtf8(text);

    [UnmanagedCallersOnly]
    private static void OnFailedAlloc(nuint size, uint caps, byte* name)
    {
        lock (s_failures)
        {
            s_failures.Add((size, caps, Marshal.PtrToStringUTF8((nint)name)!));
        }
    }

    [UnmanagedCallersOnly]
    private static byte CollectBlock(WalkerHeapInfo heap, WalkerBlockInfo block, void* user)
    {
        var seen = (List<(nint, nint, nuint, nuint, bool)>)GCHandle.FromIntPtr((nint)user).Target!;
        seen.Add((heap.Start, heap.End, (nuint)block.Ptr, block.Size, block.Used != 0));
        return 1;
    }

    [UnmanagedCallersOnly]
    private static byte StopAtOnce(WalkerHeapInfo heap, WalkerBlockInfo block, void* user)
    {
        s_walkerCalls++;
        return 0;
    }

    // The exports, called through their unmanaged entry points as C calls them.
    private static int Configure(string? layout, int poisoning) =>
        ((delegate* unmanaged<byte*, int, int>)&MemTraceExports.Configure)(layout is null ? null : Utf8(layout), poisoning);

    private static void Shutdown() => ((delegate* unmanaged<void>)&MemTraceExports.Shutdown)();

    private static nuint Checkpoint() => ((delegate* unmanaged<nuint>)&MemTraceExports.Checkpoint)();

    private static nuint LeaksSince(nuint checkpoint, byte print) => ((delegate* unmanaged<nuint, byte, nuint>)&MemTraceExports.LeaksSince)(checkpoint, print);

    private static nuint ErrorCount() => ((delegate* unmanaged<nuint>)&MemTraceExports.ErrorCount)();

    private static int RegisterFailedAllocCallback(delegate* unmanaged<nuint, uint, byte*, void> callback) =>
        ((delegate* unmanaged<delegate* unmanaged<nuint, uint, byte*, void>, int>)&HeapCapsExports.RegisterFailedAllocCallback)(callback);

    private static void* Malloc(nuint size, uint caps) => ((delegate* unmanaged<nuint, uint, void*>)&HeapCapsExports.Malloc)(size, caps);

    private static void* Calloc(nuint n, nuint size, uint caps) => ((delegate* unmanaged<nuint, nuint, uint, void*>)&HeapCapsExports.Calloc)(n, size, caps);

    private static void Free(void* block) => ((delegate* unmanaged<void*, void>)&HeapCapsExports.Free)(block);

    private static void* MallocPrefer(nuint size, nuint num, uint* caps) =>
        ((delegate* unmanaged<nuint, nuint, uint*, void*>)&HeapCapsExports.MallocPrefer)(size, num, caps);

    private static void* ReallocPrefer(void* block, nuint size, nuint num, uint* caps) =>
        ((delegate* unmanaged<void*, nuint, nuint, uint*, void*>)&HeapCapsExports.ReallocPrefer)(block, size, num, caps);

    private static nuint GetFreeSize(uint caps) => ((delegate* unmanaged<uint, nuint>)&HeapCapsExports.GetFreeSize)(caps);

    private static nuint GetTotalSize(uint caps) => ((delegate* unmanaged<uint, nuint>)&HeapCapsExports.GetTotalSize)(caps);

    private static nuint GetAllocatedSize(void* block) => ((delegate* unmanaged<void*, nuint>)&HeapCapsExports.GetAllocatedSize)(block);

    private static void GetInfo(MultiHeapInfo* info, uint caps) => ((delegate* unmanaged<MultiHeapInfo*, uint, void>)&HeapCapsExports.GetInfo)(info, caps);

    private static byte CheckIntegrityAll(byte print) => ((delegate* unmanaged<byte, byte>)&HeapCapsExports.CheckIntegrityAll)(print);

    private static void PrintHeapInfo(uint caps) => ((delegate* unmanaged<uint, void>)&HeapCapsExports.PrintHeapInfo)(caps);

    private static void Dump(uint caps) => ((delegate* unmanaged<uint, void>)&HeapCapsExports.Dump)(caps);

    private static void Walk(uint caps, delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte> walker, void* user) =>
        ((delegate* unmanaged<uint, delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte>, void*, void>)&HeapCapsExports.Walk)(caps, walker, user);

    private static void WalkAll(delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte> walker, void* user) =>
        ((delegate* unmanaged<delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte>, void*, void>)&HeapCapsExports.WalkAll)(walker, user);

    private static int AddRegionWithCaps(uint* caps, nint start, nint end) =>
        ((delegate* unmanaged<uint*, nint, nint, int>)&HeapCapsExports.AddRegionWithCaps)(caps, start, end);

    private static int MonitorStart() => ((delegate* unmanaged<int>)&HeapCapsExports.MonitorLocalMinimumFreeSizeStart)();

    private static int MonitorStop() => ((delegate* unmanaged<int>)&HeapCapsExports.MonitorLocalMinimumFreeSizeStop)();

    private static byte* DebugTrackAllocation() => ((delegate* unmanaged<byte*>)&SeedExports.DebugTrackAllocation)();

    private static void* TraceableMalloc(nuint size, uint caps, byte* file, int line, byte* function) =>
        ((delegate* unmanaged<nuint, uint, byte*, int, byte*, void*>)&SeedExports.TraceableMalloc)(size, caps, file, line, function);

    private static void* TraceableCalloc(nuint n, nuint size, uint caps, byte* file, int line, byte* function) =>
        ((delegate* unmanaged<nuint, nuint, uint, byte*, int, byte*, void*>)&SeedExports.TraceableCalloc)(n, size, caps, file, line, function);

    private static void* MallocAt(nuint size, uint caps, byte* file, int line, byte* function, byte* variable) =>
        ((delegate* unmanaged<nuint, uint, byte*, int, byte*, byte*, void*>)&SeedExports.MallocAt)(size, caps, file, line, function, variable);

    private static byte ReallocAt(void** block, nuint size, uint caps, byte* file, int line, byte* function, byte* variable) =>
        ((delegate* unmanaged<void**, nuint, uint, byte*, int, byte*, byte*, byte>)&SeedExports.ReallocAt)(block, size, caps, file, line, function, variable);

    private static void FreeAt(void** block, byte* file, int line, byte* function, byte* variable) =>
        ((delegate* unmanaged<void**, byte*, int, byte*, byte*, void>)&SeedExports.FreeAt)(block, file, line, function, variable);

    private static void FreeUnregisterAllocation(void** block) => ((delegate* unmanaged<void**, void>)&SeedExports.FreeUnregisterAllocation)(block);

    private static void ListAllocations() => ((delegate* unmanaged<void>)&SeedExports.ListAllocations)();

    private static void PrintMemoryInfo(byte* tag) => ((delegate* unmanaged<byte*, void>)&SeedExports.PrintMemoryInfo)(tag);
}

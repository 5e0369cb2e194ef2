// ESP-IDF's heap_caps_* functions (include/esp_heap_caps.h) over the native library's heap. Each is a thin
// call into HeapCaps; no exception ever crosses into C: one is written to stderr and the call gives what a
// failed call gives (NULL, 0, false, ESP_FAIL).
using System.Runtime.InteropServices;

namespace MemTrace.Native;

internal static unsafe class HeapCapsExports
{
    [UnmanagedCallersOnly(EntryPoint = "heap_caps_register_failed_alloc_callback")]
    internal static int RegisterFailedAllocCallback(delegate* unmanaged<nuint, uint, byte*, void> callback)
    {
        if (callback is null)
        {
            return EspErr.InvalidArgument; // As ESP-IDF.
        }

        NativeHeap.FailedAllocHook = callback;
        return EspErr.Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_malloc")]
    internal static void* Malloc(nuint size, uint caps)
    {
        try
        {
            return NativeHeap.Current.Heap.Malloc(size, (MallocCaps)caps);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_malloc", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_calloc")]
    internal static void* Calloc(nuint n, nuint size, uint caps)
    {
        try
        {
            return NativeHeap.Current.Heap.Calloc(n, size, (MallocCaps)caps);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_calloc", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_realloc")]
    internal static void* Realloc(void* ptr, nuint size, uint caps)
    {
        try
        {
            return NativeHeap.Current.Heap.Realloc(ptr, size, (MallocCaps)caps);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_realloc", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_free")]
    internal static void Free(void* ptr) => FreeCore(ptr, "heap_caps_free");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_aligned_free")]
    internal static void AlignedFree(void* ptr) => FreeCore(ptr, "heap_caps_aligned_free");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_aligned_alloc")]
    internal static void* AlignedAlloc(nuint alignment, nuint size, uint caps)
    {
        try
        {
            return NativeHeap.Current.Heap.AlignedAlloc(alignment, size, (MallocCaps)caps);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_aligned_alloc", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_aligned_calloc")]
    internal static void* AlignedCalloc(nuint alignment, nuint n, nuint size, uint caps)
    {
        try
        {
            return NativeHeap.Current.Heap.AlignedCalloc(alignment, n, size, (MallocCaps)caps);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_aligned_calloc", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_heap_caps_malloc_prefer")]
    internal static void* MallocPrefer(nuint size, nuint num, uint* caps)
    {
        try
        {
            return NativeHeap.Current.Heap.MallocPrefer(size, CapsList(num, caps));
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_malloc_prefer", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_heap_caps_calloc_prefer")]
    internal static void* CallocPrefer(nuint n, nuint size, nuint num, uint* caps)
    {
        try
        {
            return NativeHeap.Current.Heap.CallocPrefer(n, size, CapsList(num, caps));
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_calloc_prefer", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_heap_caps_realloc_prefer")]
    internal static void* ReallocPrefer(void* ptr, nuint size, nuint num, uint* caps)
    {
        try
        {
            return NativeHeap.Current.Heap.ReallocPrefer(ptr, size, CapsList(num, caps));
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_realloc_prefer", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_malloc_default")]
    internal static void* MallocDefault(nuint size)
    {
        try
        {
            return NativeHeap.Current.Heap.MallocDefault(size);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_malloc_default", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_calloc_default")]
    internal static void* CallocDefault(nuint n, nuint size)
    {
        try
        {
            return NativeHeap.Current.Heap.CallocDefault(n, size);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_calloc_default", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_realloc_default")]
    internal static void* ReallocDefault(void* ptr, nuint size)
    {
        try
        {
            return NativeHeap.Current.Heap.ReallocDefault(ptr, size);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_realloc_default", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_aligned_alloc_default")]
    internal static void* AlignedAllocDefault(nuint alignment, nuint size)
    {
        try
        {
            return NativeHeap.Current.Heap.AlignedAllocDefault(alignment, size);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_aligned_alloc_default", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_get_free_size")]
    internal static nuint GetFreeSize(uint caps) => Query(caps, static (h, c) => h.GetFreeSize(c), "heap_caps_get_free_size");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_get_minimum_free_size")]
    internal static nuint GetMinimumFreeSize(uint caps) => Query(caps, static (h, c) => h.GetMinimumFreeSize(c), "heap_caps_get_minimum_free_size");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_get_largest_free_block")]
    internal static nuint GetLargestFreeBlock(uint caps) => Query(caps, static (h, c) => h.GetLargestFreeBlock(c), "heap_caps_get_largest_free_block");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_get_total_size")]
    internal static nuint GetTotalSize(uint caps) => Query(caps, static (h, c) => h.GetTotalSize(c), "heap_caps_get_total_size");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_get_info")]
    internal static void GetInfo(MultiHeapInfo* info, uint caps)
    {
        if (info is null)
        {
            return;
        }

        try
        {
            var heapInfo = NativeHeap.Current.Heap.GetInfo((MallocCaps)caps);
            *info = new MultiHeapInfo
            {
                TotalFreeBytes = heapInfo.TotalFreeBytes,
                TotalAllocatedBytes = heapInfo.TotalAllocatedBytes,
                LargestFreeBlock = heapInfo.LargestFreeBlock,
                MinimumFreeBytes = heapInfo.MinimumFreeBytes,
                AllocatedBlocks = heapInfo.AllocatedBlocks,
                FreeBlocks = heapInfo.FreeBlocks,
                TotalBlocks = heapInfo.TotalBlocks,
            };
        }
        catch (Exception e)
        {
            *info = default;
            EspErr.Report("heap_caps_get_info", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_print_heap_info")]
    internal static void PrintHeapInfo(uint caps)
    {
        try
        {
            NativeHeap.Current.Heap.PrintHeapInfo((MallocCaps)caps, CStdout.Instance);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_print_heap_info", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_get_allocated_size")]
    internal static nuint GetAllocatedSize(void* ptr)
    {
        try
        {
            return NativeHeap.Current.Heap.GetAllocatedSize(ptr);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_get_allocated_size", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_get_containing_block_size")]
    internal static nuint GetContainingBlockSize(void* ptr)
    {
        try
        {
            return NativeHeap.Current.Heap.GetContainingBlockSize(ptr);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_get_containing_block_size", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_check_integrity")]
    internal static byte CheckIntegrity(uint caps, byte printErrors)
    {
        try
        {
            return NativeHeap.Current.Heap.CheckIntegrity((MallocCaps)caps, printErrors != 0, CStdout.Instance) ? (byte)1 : (byte)0;
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_check_integrity", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_check_integrity_all")]
    internal static byte CheckIntegrityAll(byte printErrors)
    {
        try
        {
            return NativeHeap.Current.Heap.CheckIntegrityAll(printErrors != 0, CStdout.Instance) ? (byte)1 : (byte)0;
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_check_integrity_all", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_check_integrity_addr")]
    internal static byte CheckIntegrityAddr(nint address, byte printErrors)
    {
        try
        {
            return NativeHeap.Current.Heap.CheckIntegrityAddr((void*)address, printErrors != 0, CStdout.Instance) ? (byte)1 : (byte)0;
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_check_integrity_addr", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_dump")]
    internal static void Dump(uint caps)
    {
        try
        {
            NativeHeap.Current.Heap.Dump((MallocCaps)caps, CStdout.Instance);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_dump", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_dump_all")]
    internal static void DumpAll()
    {
        try
        {
            NativeHeap.Current.Heap.DumpAll(CStdout.Instance);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_dump_all", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_walk")]
    internal static void Walk(uint caps, delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte> walker, void* userData) =>
        WalkCore((MallocCaps)caps, walker, userData, "heap_caps_walk");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_walk_all")]
    internal static void WalkAll(delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte> walker, void* userData) =>
        WalkCore(MallocCaps.Invalid, walker, userData, "heap_caps_walk_all");

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_monitor_local_minimum_free_size_start")]
    internal static int MonitorLocalMinimumFreeSizeStart()
    {
        try
        {
            return EspErr.From(NativeHeap.Current.Heap.MonitorLocalMinimumFreeSizeStart());
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_monitor_local_minimum_free_size_start", e);
            return EspErr.Fail;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_monitor_local_minimum_free_size_stop")]
    internal static int MonitorLocalMinimumFreeSizeStop()
    {
        try
        {
            return EspErr.From(NativeHeap.Current.Heap.MonitorLocalMinimumFreeSizeStop());
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_monitor_local_minimum_free_size_stop", e);
            return EspErr.Fail;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "heap_caps_malloc_extmem_enable")]
    internal static void MallocExtmemEnable(nuint limit)
    {
        try
        {
            NativeHeap.Current.Heap.MallocExtmemEnable(limit);
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_malloc_extmem_enable", e);
        }
    }

    /// <summary>The caps array has SOC_MEMORY_TYPE_NO_PRIOS (3) entries, one per priority.</summary>
    [UnmanagedCallersOnly(EntryPoint = "heap_caps_add_region_with_caps")]
    internal static int AddRegionWithCaps(uint* caps, nint start, nint end)
    {
        try
        {
            return EspErr.From(NativeHeap.Current.Heap.AddRegionWithCaps(CapsList(caps is null ? 0u : 3u, caps), (void*)start, (void*)end));
        }
        catch (Exception e)
        {
            EspErr.Report("heap_caps_add_region_with_caps", e);
            return EspErr.Fail;
        }
    }

    private static void FreeCore(void* ptr, string export)
    {
        try
        {
            NativeHeap.Current.Heap.Free(ptr);
        }
        catch (Exception e)
        {
            EspErr.Report(export, e);
        }
    }

    private static nuint Query(uint caps, Func<HeapCaps, MallocCaps, nuint> query, string export)
    {
        try
        {
            return query(NativeHeap.Current.Heap, (MallocCaps)caps);
        }
        catch (Exception e)
        {
            EspErr.Report(export, e);
            return 0;
        }
    }

    private static void WalkCore(MallocCaps caps, delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte> walker, void* userData, string export)
    {
        if (walker is null)
        {
            return; // ESP-IDF asserts.
        }

        try
        {
            var callback = (nint)walker;
            var user = (nint)userData;
            NativeHeap.Current.Heap.Walk(caps, (region, block) =>
            {
                var heapInfo = new WalkerHeapInfo { Start = (nint)region.Start, End = (nint)region.End };
                var blockInfo = new WalkerBlockInfo { Ptr = (void*)block.Address, Size = block.Size, Used = block.Used ? (byte)1 : (byte)0 };
                return ((delegate* unmanaged<WalkerHeapInfo, WalkerBlockInfo, void*, byte>)callback)(heapInfo, blockInfo, (void*)user) != 0;
            });
        }
        catch (Exception e)
        {
            EspErr.Report(export, e);
        }
    }

    private static ReadOnlySpan<MallocCaps> CapsList(nuint count, uint* caps) =>
        caps is null || count == 0 ? [] : new ReadOnlySpan<MallocCaps>(caps, checked((int)count));
}

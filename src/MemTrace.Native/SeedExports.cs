// The seed's memmap.h API (include/memmap.h) over the native library's tracker: traceable_heap_caps_*,
// free_unregister_allocation, list_allocations, print_memory_info and debug_track_allocation, plus the
// memtrace_*_at forms that also record the variable's name (the TRACE_*_TO and TRACE_FREE macros).
using System.Runtime.InteropServices;

namespace MemTrace.Native;

internal static unsafe class SeedExports
{
    [UnmanagedCallersOnly(EntryPoint = "memtrace_debug_track_allocation")]
    internal static byte* DebugTrackAllocation() => NativeHeap.TrackFlag;

    [UnmanagedCallersOnly(EntryPoint = "traceable_heap_caps_malloc")]
    internal static void* TraceableMalloc(nuint size, uint caps, byte* file, int line, byte* function) =>
        MallocAt(size, caps, file, line, function, null, "traceable_heap_caps_malloc");

    [UnmanagedCallersOnly(EntryPoint = "traceable_heap_caps_calloc")]
    internal static void* TraceableCalloc(nuint n, nuint size, uint caps, byte* file, int line, byte* function) =>
        CallocAt(n, size, caps, file, line, function, null, "traceable_heap_caps_calloc");

    [UnmanagedCallersOnly(EntryPoint = "traceable_heap_caps_aligned_alloc")]
    internal static void* TraceableAlignedAlloc(nuint alignment, nuint size, uint caps, byte* file, int line, byte* function) =>
        AlignedAllocAt(alignment, size, caps, file, line, function, null, "traceable_heap_caps_aligned_alloc");

    [UnmanagedCallersOnly(EntryPoint = "traceable_heap_caps_realloc")]
    internal static void* TraceableRealloc(void* ptr, nuint size, uint caps, byte* file, int line, byte* function)
    {
        try
        {
            var site = Site.Of(file, function);
            return NativeHeap.Current.Tracker.Realloc(ptr, size, (MallocCaps)caps, site.File, line, site.Function);
        }
        catch (Exception e)
        {
            EspErr.Report("traceable_heap_caps_realloc", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "free_unregister_allocation")]
    internal static void FreeUnregisterAllocation(void** ptr) => FreeAt(ptr, null, 0, null, null, "free_unregister_allocation");

    [UnmanagedCallersOnly(EntryPoint = "list_allocations")]
    internal static void ListAllocations()
    {
        try
        {
            NativeHeap.Current.Tracker.ListAllocations(CStdout.Instance);
        }
        catch (Exception e)
        {
            EspErr.Report("list_allocations", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "print_memory_info")]
    internal static void PrintMemoryInfo(byte* tag)
    {
        try
        {
            NativeHeap.Current.Tracker.PrintMemoryInfo(NativeStrings.FromUtf8(tag) ?? "", CStdout.Instance);
        }
        catch (Exception e)
        {
            EspErr.Report("print_memory_info", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_malloc_at")]
    internal static void* MallocAt(nuint size, uint caps, byte* file, int line, byte* function, byte* variable) =>
        MallocAt(size, caps, file, line, function, variable, "memtrace_malloc_at");

    [UnmanagedCallersOnly(EntryPoint = "memtrace_calloc_at")]
    internal static void* CallocAt(nuint n, nuint size, uint caps, byte* file, int line, byte* function, byte* variable) =>
        CallocAt(n, size, caps, file, line, function, variable, "memtrace_calloc_at");

    [UnmanagedCallersOnly(EntryPoint = "memtrace_aligned_alloc_at")]
    internal static void* AlignedAllocAt(nuint alignment, nuint size, uint caps, byte* file, int line, byte* function, byte* variable) =>
        AlignedAllocAt(alignment, size, caps, file, line, function, variable, "memtrace_aligned_alloc_at");

    [UnmanagedCallersOnly(EntryPoint = "memtrace_realloc_at")]
    internal static byte ReallocAt(void** ptr, nuint size, uint caps, byte* file, int line, byte* function, byte* variable)
    {
        if (ptr is null)
        {
            return 0;
        }

        try
        {
            var site = Site.Of(file, function, variable);
            var block = *ptr;
            var done = NativeHeap.Current.Tracker.Realloc(ref block, size, (MallocCaps)caps, site.Variable ?? "", site.File, line, site.Function);
            *ptr = block;
            return done ? (byte)1 : (byte)0;
        }
        catch (Exception e)
        {
            EspErr.Report("memtrace_realloc_at", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_free_at")]
    internal static void FreeAt(void** ptr, byte* file, int line, byte* function, byte* variable) =>
        FreeAt(ptr, file, line, function, variable, "memtrace_free_at");

    private static void* MallocAt(nuint size, uint caps, byte* file, int line, byte* function, byte* variable, string export)
    {
        try
        {
            var site = Site.Of(file, function, variable);
            var tracker = NativeHeap.Current.Tracker;
            if (site.Variable is null)
            {
                return tracker.Malloc(size, (MallocCaps)caps, site.File, line, site.Function);
            }

            tracker.Malloc(out void* block, size, (MallocCaps)caps, site.Variable, site.File, line, site.Function);
            return block;
        }
        catch (Exception e)
        {
            EspErr.Report(export, e);
            return null;
        }
    }

    private static void* CallocAt(nuint n, nuint size, uint caps, byte* file, int line, byte* function, byte* variable, string export)
    {
        try
        {
            var site = Site.Of(file, function, variable);
            var tracker = NativeHeap.Current.Tracker;
            if (site.Variable is null)
            {
                return tracker.Calloc(n, size, (MallocCaps)caps, site.File, line, site.Function);
            }

            tracker.Calloc(out void* block, n, size, (MallocCaps)caps, site.Variable, site.File, line, site.Function);
            return block;
        }
        catch (Exception e)
        {
            EspErr.Report(export, e);
            return null;
        }
    }

    private static void* AlignedAllocAt(nuint alignment, nuint size, uint caps, byte* file, int line, byte* function, byte* variable, string export)
    {
        try
        {
            var site = Site.Of(file, function, variable);
            var tracker = NativeHeap.Current.Tracker;
            if (site.Variable is null)
            {
                return tracker.AlignedAlloc(alignment, size, (MallocCaps)caps, site.File, line, site.Function);
            }

            tracker.AlignedAlloc(out void* block, alignment, size, (MallocCaps)caps, site.Variable, site.File, line, site.Function);
            return block;
        }
        catch (Exception e)
        {
            EspErr.Report(export, e);
            return null;
        }
    }

    private static void FreeAt(void** ptr, byte* file, int line, byte* function, byte* variable, string export)
    {
        if (ptr is null)
        {
            return;
        }

        try
        {
            var site = Site.Of(file, function, variable);
            var block = *ptr;
            *ptr = null;
            NativeHeap.Current.Tracker.Free(ref block, site.Variable ?? "", site.File, line, site.Function);
        }
        catch (Exception e)
        {
            EspErr.Report(export, e);
        }
    }

    /// <summary>A call site's strings from C; a missing file or function reads "?", as a missing function does in reports.</summary>
    private readonly record struct Site(string File, string Function, string? Variable)
    {
        public static Site Of(byte* file, byte* function, byte* variable = null) =>
            new(NativeStrings.FromUtf8(file) ?? "?", NativeStrings.FromUtf8(function) ?? "?", NativeStrings.FromUtf8(variable));
    }
}

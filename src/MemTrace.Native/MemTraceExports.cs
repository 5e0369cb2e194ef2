// MemTrace's own native functions (include/memtrace.h): the memory map, checkpoints and leak checks, the error
// count, and a fresh heap.
using System.Runtime.InteropServices;

namespace MemTrace.Native;

internal static unsafe class MemTraceExports
{
    [UnmanagedCallersOnly(EntryPoint = "memtrace_configure")]
    internal static int Configure(byte* layout, int poisoning)
    {
        try
        {
            return NativeHeap.Configure(NativeStrings.FromUtf8(layout), poisoning);
        }
        catch (Exception e)
        {
            EspErr.Report("memtrace_configure", e);
            return EspErr.Fail;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_checkpoint")]
    internal static nuint Checkpoint()
    {
        try
        {
            return NativeHeap.Current.AddCheckpoint();
        }
        catch (Exception e)
        {
            EspErr.Report("memtrace_checkpoint", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_leaks_since")]
    internal static nuint LeaksSince(nuint checkpoint, byte print)
    {
        try
        {
            var state = NativeHeap.Current;
            if (!state.TryGetCheckpoint(checkpoint, out var since))
            {
                Console.Error.WriteLine($"memtrace: memtrace_leaks_since: no checkpoint {checkpoint} (this heap has handed out {state.CheckpointCount}).");
                return nuint.MaxValue;
            }

            var report = print != 0
                ? state.Tracker.DumpMemoryLeaks(since, CStdout.Instance)
                : state.Tracker.GetLeakReport(since);
            return (nuint)report.Blocks;
        }
        catch (Exception e)
        {
            EspErr.Report("memtrace_leaks_since", e);
            return nuint.MaxValue;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_error_count")]
    internal static nuint ErrorCount()
    {
        try
        {
            return (nuint)NativeHeap.Current.Heap.ErrorCount;
        }
        catch (Exception e)
        {
            EspErr.Report("memtrace_error_count", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "memtrace_shutdown")]
    internal static void Shutdown()
    {
        try
        {
            NativeHeap.Shutdown();
        }
        catch (Exception e)
        {
            EspErr.Report("memtrace_shutdown", e);
        }
    }
}

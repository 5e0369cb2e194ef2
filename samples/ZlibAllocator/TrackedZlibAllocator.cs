// zlib's allocator hooks (z_stream.zalloc / zfree / opaque) routed through a MemoryTracker. zlib
// calls them from C with the opaque pointer it was given, which here is a GCHandle to the tracker;
// every block zlib asks for is then recorded with this file's call site and, when the tracker keeps
// stacks, the managed frames that called into zlib (deflateInit, inflate, ...). [StackTraceHidden]
// keeps these shims out of the kept stacks, so that they start at the code that called zlib.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MemTrace.Samples.Zlib;

[StackTraceHidden]
internal static unsafe class TrackedZlibAllocator
{
    /// <summary>Makes <paramref name="stream"/> allocate through the tracker behind <paramref name="tracker"/>.</summary>
    public static void Install(ZStream* stream, GCHandle tracker)
    {
        stream->ZAlloc = &Allocate;
        stream->ZFree = &Free;
        stream->Opaque = (void*)GCHandle.ToIntPtr(tracker);
    }

    // No exception may cross back into C (the process would end): a failure is a null block, which zlib turns into Z_MEM_ERROR.
    // MemoryErrorException is caught too: under HeapCapsOptions.ErrorPolicy = Throw a bad pointer from C is one.
    [UnmanagedCallersOnly]
    private static void* Allocate(void* opaque, uint items, uint size)
    {
        try
        {
            return TrackerOf(opaque).Malloc((nuint)items * size, MallocCaps.Default);
        }
        catch (Exception e) when (e is ObjectDisposedException or MemoryErrorException)
        {
            return null;
        }
    }

    // Free(ref) clears the block, unregisters it and frees it (the seed's free_unregister_allocation);
    // a pointer that is not a live block is reported by the tracker, not passed on to the heap.
    [UnmanagedCallersOnly]
    private static void Free(void* opaque, void* address)
    {
        try
        {
            TrackerOf(opaque).Free(ref address);
        }
        catch (Exception e) when (e is ObjectDisposedException or MemoryErrorException)
        {
            // The tracker is gone: the block stays allocated on its heap, as any block does then.
        }
    }

    private static MemoryTracker TrackerOf(void* opaque) => (MemoryTracker)GCHandle.FromIntPtr((nint)opaque).Target!;
}

// HeapRegionKind: what backs a region of a memory map.
namespace MemTrace;

/// <summary>What backs a region.</summary>
public enum HeapRegionKind
{
    /// <summary>
    /// Emulated chip RAM: one native block of the region's size, managed by a TLSF allocator
    /// with ESP-IDF's parameters, so that free sizes, block counts and failures match the chip's.
    /// </summary>
    Tlsf,

    /// <summary>The process heap (<see cref="System.Runtime.InteropServices.NativeMemory"/>): unbounded, real memory, one block per native allocation.</summary>
    Host,
}

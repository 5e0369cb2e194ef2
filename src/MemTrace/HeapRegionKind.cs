// HeapRegionKind: what backs a region of a memory map.
namespace MemTrace;

/// <summary>What backs a region.</summary>
public enum HeapRegionKind
{
    /// <summary>The process heap (<see cref="System.Runtime.InteropServices.NativeMemory"/>): unbounded, real memory, one block per native allocation.</summary>
    Host,
}

// MemoryErrorKind: the kinds of misuse and corruption MemTrace detects.
namespace MemTrace;

/// <summary>The kind of a detected memory error.</summary>
public enum MemoryErrorKind
{
    /// <summary>A block was freed a second time.</summary>
    DoubleFree,

    /// <summary>A realloc was given a block that had already been freed.</summary>
    ReallocOfFreedBlock,

    /// <summary>A pointer that this heap never handed out (or no longer knows) was freed or reallocated.</summary>
    InvalidPointer,

    /// <summary>A pointer inside a live block, not at its start, was freed or reallocated.</summary>
    InteriorPointer,

    /// <summary>A pointer outside every region of the heap was freed or reallocated
    /// (ESP-IDF: "free() target pointer is outside heap areas").</summary>
    OutsideHeap,
}

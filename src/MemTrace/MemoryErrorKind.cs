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

    /// <summary>Bytes after the end of a block were written: its tail canary changed (ESP-IDF: "Bad tail").</summary>
    BufferOverflow,

    /// <summary>Bytes before the start of a block were written: its head canary changed (ESP-IDF: "Bad head").</summary>
    BufferUnderflow,

    /// <summary>A freed block was written after its free: its fill pattern changed (ESP-IDF: "Invalid data").</summary>
    WriteAfterFree,

    /// <summary>A block's own bookkeeping (its size field, the allocator's header) was overwritten.</summary>
    CorruptBlock,
}

// CorruptionInfo: what a region found wrong with a block: the raw facts, before the heap turns them
// into a MemoryError with the sites that explain them.
namespace MemTrace.Regions;

/// <summary>A corruption found by a region (a broken canary, a changed fill pattern, a bad header).</summary>
internal sealed class CorruptionInfo
{
    /// <summary>The kind: BufferOverflow, BufferUnderflow, WriteAfterFree or CorruptBlock.</summary>
    public required MemoryErrorKind Kind { get; init; }

    /// <summary>The block's user address.</summary>
    public required nuint Address { get; init; }

    /// <summary>The block's requested size when known (from the poison head), else its usable size.</summary>
    public nuint Size { get; init; }

    /// <summary>The block's tag (the tracker's record handle); 0 when none or not known.</summary>
    public uint Tag { get; init; }

    /// <summary>Address of the first damaged byte.</summary>
    public nuint DamagedAddress { get; init; }

    /// <summary>The bytes that should be there, from <see cref="DamagedAddress"/> on.</summary>
    public byte[] Expected { get; init; } = [];

    /// <summary>The bytes that are there.</summary>
    public byte[] Found { get; init; } = [];

    /// <summary>ESP-IDF's own words for it, e.g. <c>CORRUPT HEAP: Bad tail at 0x3ffb4a1c. Expected 0xbaad5678 got 0xbaad5600</c>.</summary>
    public required string Message { get; init; }

    /// <summary>True when the block was freed when the damage was found (write after free).</summary>
    public bool WasFreed { get; init; }
}

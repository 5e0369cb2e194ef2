// CorruptionInfo: what a region found wrong with a block: the raw facts, before the heap turns them
// into a MemoryError with the sites that explain them.
namespace MemTrace.Regions;

/// <summary>A corruption found by a region (a broken canary, a changed fill pattern, a bad header).</summary>
internal sealed class CorruptionInfo
{
    /// <summary>The kind: BufferOverflow, BufferUnderflow, WriteAfterFree or CorruptBlock.</summary>
    public required MemoryErrorKind Kind { get; init; }

    /// <summary>
    /// The block's user address. For damage in free memory: the block freed there last when the region remembers it,
    /// else the first damaged byte.
    /// </summary>
    public required nuint Address { get; init; }

    /// <summary>The block's requested size when known (from the poison head), else its usable size; 0 when no block is known.</summary>
    public nuint Size { get; init; }

    /// <summary>The block's tag (the tracker's record handle); 0 when none or not known.</summary>
    public uint Tag { get; init; }

    /// <summary>True when <see cref="Address"/> and <see cref="Size"/> name a block (false for damaged free memory whose last block is not known).</summary>
    public bool KnowsBlock { get; init; } = true;

    /// <summary>Address of the first damaged byte.</summary>
    public nuint DamagedAddress { get; init; }

    /// <summary>The bytes that should be there, from <see cref="DamagedAddress"/> on; empty when not known.</summary>
    public byte[] Expected { get; init; } = [];

    /// <summary>The bytes that are there.</summary>
    public byte[] Found { get; init; } = [];

    /// <summary>ESP-IDF's own words for it, e.g. <c>CORRUPT HEAP: Bad tail at 0x3ffb4a1c. Expected 0xbaad5678 got 0xbaad5600</c>, then MemTrace's lines, if any.</summary>
    public required string Message { get; init; }

    /// <summary>True when the block was freed when the damage was found (write after free).</summary>
    public bool WasFreed { get; init; }

    /// <summary>For damage in free memory (not in a quarantined block): the start of the free memory that holds it.</summary>
    public nuint? FreeMemoryAddress { get; init; }

    /// <summary>For damage in free memory: how many bytes of free memory start at <see cref="FreeMemoryAddress"/>.</summary>
    public nuint? FreeMemorySize { get; init; }

    /// <summary>For a damaged size field: its address (the heap puts the size the tracker recorded in <see cref="Expected"/>).</summary>
    public nuint? SizeFieldAddress { get; init; }

    /// <summary>For a damaged size field: the value found in it.</summary>
    public uint SizeFieldValue { get; init; }

    /// <summary>What the heap's observer knew of the block when it was freed (quarantine, remembered frees), if it was asked.</summary>
    public BlockWitness? Witness { get; init; }

    /// <summary>
    /// The first byte of a damaged 4-byte word (canary or size field) that differs from what it should be: 0 to 3,
    /// 0 when what it should be is not known (<paramref name="expected"/> empty).
    /// </summary>
    /// <param name="expected">The word's bytes as they should be, or empty.</param>
    /// <param name="found">The word's bytes as they are.</param>
    public static int FirstDamagedByte(byte[] expected, byte[] found) => Math.Min(expected.AsSpan().CommonPrefixLength(found), 3);
}

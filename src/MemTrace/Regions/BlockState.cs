// BlockState and BlockInfo: what a region knows of a pointer it is asked about.
namespace MemTrace.Regions;

/// <summary>What a region knows of a pointer.</summary>
internal enum BlockState : byte
{
    /// <summary>Not the start of a block this region handed out (never handed out, or interior).</summary>
    NotABlock = 0,

    /// <summary>The start of a live block.</summary>
    Live = 1,

    /// <summary>The start of a block that was freed and not handed out again.</summary>
    Freed = 2,

    /// <summary>Outside every region of the heap.</summary>
    Outside = 3,

    /// <summary>
    /// A live block found damaged: the region has queued the corruption (reported by the heap) and set the block aside
    /// for good; the block info still carries its tag, so that the caller can release its record. Also the answer to the
    /// first free of a block that a realloc set aside this way: nothing to free, nothing more to report.
    /// </summary>
    Corrupt = 4,

    /// <summary>A live block whose allocator header was overwritten; the region left it untouched and the caller reports it.</summary>
    DamagedHeader = 5,
}

/// <summary>A live block as its region sees it.</summary>
/// <param name="UsableSize">Bytes the caller may use (at least the requested size).</param>
/// <param name="Tag">The owner word stored for the layer above (a tracker's record handle); 0 for none.</param>
internal readonly record struct BlockInfo(nuint UsableSize, uint Tag);

/// <summary>Visits one block of a region walk; return false to stop walking the region.</summary>
/// <param name="blockAddress">The raw block (allocator header included).</param>
/// <param name="blockSize">The raw block's size.</param>
/// <param name="used">Whether the block is allocated.</param>
internal delegate bool RegionWalkVisitor(nuint blockAddress, nuint blockSize, bool used);

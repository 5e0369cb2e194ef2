// IBlockInspector: lets a decorator look at a block during its free, after the region has
// validated the pointer and while the block cannot be freed by anyone else.
namespace MemTrace.Regions;

internal unsafe interface IBlockInspector
{
    /// <summary>
    /// Called by <see cref="Region.Free(void*, bool, out BlockInfo, IBlockInspector?)"/> with a live block
    /// the caller now owns. Returns true to free it now, or false to keep it allocated in the region
    /// (held: quarantined, or set aside because it is damaged); a held block is freed later with
    /// <see cref="Region.ReleaseHeld(void*)"/>, or never.
    /// </summary>
    /// <param name="block">The block's data in the region.</param>
    /// <param name="size">In: the block's usable size in the region. Out: the size the region reports for the block (a decorator's own size of it).</param>
    /// <param name="tag">The block's tag.</param>
    bool Approve(byte* block, ref nuint size, uint tag);
}

// Region: one address range with its own lock and statistics, ESP-IDF's multi_heap (one per
// heap_t). HeapCaps picks regions by capability and priority; a region only allocates.
//
// Every region keeps one 32-bit owner word ("tag") per live block for the layer above, the
// way ESP-IDF's task tracking keeps an owner per block, but outside the block so that the
// region's statistics stay exactly what ESP-IDF reports. A MemoryTracker stores its record
// handle there, which makes finding a block's record O(1) with no hash table and no lock.
//
// Contract for every implementation:
// - no method throws on bad input or lack of memory; failures are return values;
// - Free/Reallocate/Query must recognise every pointer they did not hand out (or no longer
//   own) without reading memory through it, and never pass it to the underlying allocator;
// - a block's tag and contents follow it through Reallocate.
namespace MemTrace.Regions;

internal abstract unsafe class Region : IDisposable
{
    protected Region(string name, MallocCaps caps0, MallocCaps caps1, MallocCaps caps2)
    {
        Name = name;
        NameId = Diagnostics.RegionNameRegistry.IdOf(name);
        Caps0 = caps0;
        Caps1 = caps1;
        Caps2 = caps2;
        AllCaps = caps0 | caps1 | caps2;
    }

    /// <summary>The region's name, e.g. <c>DRAM</c> or <c>host</c>.</summary>
    public string Name { get; }

    /// <summary>The id of <see cref="Name"/> in the RegionNameRegistry, which heap events carry instead of the name.</summary>
    public int NameId { get; }

    /// <summary>Capabilities at priority 0 (tried first).</summary>
    public MallocCaps Caps0 { get; }

    /// <summary>Capabilities at priority 1.</summary>
    public MallocCaps Caps1 { get; }

    /// <summary>Capabilities at priority 2.</summary>
    public MallocCaps Caps2 { get; }

    /// <summary>The capabilities of all priorities together; a request matches when these include all its bits.</summary>
    public MallocCaps AllCaps { get; }

    /// <summary>True for a region with no fixed size (the process heap).</summary>
    public abstract bool IsUnbounded { get; }

    /// <summary>First address of the region (0 for an unbounded region).</summary>
    public abstract nuint Start { get; }

    /// <summary>End of the region, exclusive (<see cref="nuint.MaxValue"/> for an unbounded region).</summary>
    public abstract nuint End { get; }

    /// <summary>Bytes of the region, metadata included (<c>heap_caps_get_total_size</c>); <see cref="nuint.MaxValue"/> when unbounded.</summary>
    public abstract nuint TotalSize { get; }

    /// <summary>The capabilities at one priority.</summary>
    public MallocCaps CapsAt(int priority) => priority switch
    {
        0 => Caps0,
        1 => Caps1,
        _ => Caps2,
    };

    /// <summary>Allocates <paramref name="size"/> bytes aligned to <paramref name="alignment"/> (a power of two); null when the region has no room.</summary>
    public abstract void* Allocate(nuint size, nuint alignment, bool zero, uint tag);

    /// <summary>Whether <see cref="AllocateAlignedAfterHead"/> places blocks (TLSF: yes; the process heap: no).</summary>
    public virtual bool AlignsAfterHead => false;

    /// <summary>
    /// Allocates <paramref name="size"/> bytes at an address that <paramref name="headOffset"/> bytes further is a
    /// multiple of <paramref name="alignment"/> (ESP-IDF's <c>multi_heap_aligned_alloc_impl_offs</c>, for a header in front
    /// of aligned bytes); null when the region has no room, or places no blocks so (<see cref="AlignsAfterHead"/>).
    /// </summary>
    public virtual void* AllocateAlignedAfterHead(nuint size, nuint alignment, nuint headOffset, uint tag) => null;

    /// <summary>
    /// Resizes a live block within this region, in place or moved inside it, keeping contents and tag.
    /// Returns null when it cannot (the block is intact and <paramref name="state"/> is <see cref="BlockState.Live"/>),
    /// or when <paramref name="ptr"/> is not a live block (<paramref name="state"/> says what it is).
    /// When <paramref name="state"/> is Live, <paramref name="old"/> describes the block before the call.
    /// </summary>
    public abstract void* Reallocate(void* ptr, nuint size, out BlockState state, out BlockInfo old);

    /// <summary>
    /// Frees a live block and returns <see cref="BlockState.Live"/>; otherwise frees nothing and
    /// returns what the pointer is. When <paramref name="clearIfTagged"/> is set and the block has
    /// a tag, its bytes are zeroed first (the seed's <c>free_unregister_allocation</c>).
    /// </summary>
    public BlockState Free(void* ptr, bool clearIfTagged, out BlockInfo block) => Free(ptr, clearIfTagged, out block, inspector: null);

    /// <summary>
    /// As <see cref="Free(void*, bool, out BlockInfo)"/>, and once the pointer is validated and the block is the
    /// caller's, asks <paramref name="inspector"/> whether to free it now or keep it held. A held block is
    /// reported freed (<see cref="BlockState.Live"/>) but stays allocated in the region.
    /// </summary>
    public abstract BlockState Free(void* ptr, bool clearIfTagged, out BlockInfo block, IBlockInspector? inspector);

    /// <summary>Whether a block an inspector holds still counts among the region's live blocks (TLSF: yes; the process heap, which claims it: no).</summary>
    public virtual bool HeldBlocksStayLive => true;

    /// <summary>Frees a block that an inspector kept held.</summary>
    public abstract void ReleaseHeld(void* ptr);

    /// <summary>What <paramref name="ptr"/> is and, for a live block, its size and tag. Safe against concurrent frees.</summary>
    public abstract BlockState Query(void* ptr, out BlockInfo block);

    /// <summary>
    /// <c>heap_caps_get_allocated_size</c> of <paramref name="ptr"/>: the usable size of a live block (0 otherwise), which
    /// a debug region reports as ESP-IDF does, the block less its own overhead (not the requested size).
    /// </summary>
    public virtual nuint AllocatedSize(void* ptr) => Query(ptr, out var block) == BlockState.Live ? block.UsableSize : 0;

    /// <summary>Sets the tag of a live block the caller owns. Does nothing once the region is disposed.</summary>
    public abstract void SetTag(void* ptr, uint tag);

    /// <summary>
    /// Sets the tag of a block the caller does not own to 0 if it is a live block whose tag is
    /// <paramref name="tag"/>; returns whether it did. Safe while other threads free or reallocate the block
    /// (it never writes to a freed block, nor clears the tag of another block at the same address).
    /// </summary>
    public abstract bool ClearTag(void* ptr, uint tag);

    /// <summary>Free bytes now (<c>multi_heap_free_size</c>); <see cref="nuint.MaxValue"/> when unbounded.</summary>
    public abstract nuint FreeBytes { get; }

    /// <summary>Lifetime low-watermark of <see cref="FreeBytes"/>; <see cref="nuint.MaxValue"/> when unbounded.</summary>
    public abstract nuint MinimumFreeBytes { get; }

    /// <summary>The largest request guaranteed to succeed; <see cref="nuint.MaxValue"/> when unbounded.</summary>
    public abstract nuint LargestFreeBlock { get; }

    /// <summary>Statistics of this region, debug overhead subtracted.</summary>
    public abstract HeapInfo GetInfo();

    /// <summary>Calls <paramref name="visitor"/> for every live block: its address, usable size and tag.</summary>
    public abstract void ForEachLiveBlock(Action<nuint, nuint, uint> visitor);

    /// <summary>
    /// <see cref="ForEachLiveBlock"/> for a visitor that reads the block's memory: no other thread can free the block
    /// while the visitor runs (a TLSF region visits under its lock, which every free takes). The visitor must not call
    /// back into the region.
    /// </summary>
    public virtual void InspectLiveBlocks(Action<nuint, nuint, uint> visitor) => ForEachLiveBlock(visitor);

    /// <summary>
    /// Walks every block in address order (<c>multi_heap_walk</c>): the allocator's data pointer and
    /// data size (for a TLSF block, what follows its header; debug overhead such as canaries is
    /// included), and whether it is used. The visitor returns false to stop this region's walk. A
    /// block whose header is corrupt is reported as ESP-IDF reports it, with the size its header
    /// holds (which may run past the region: a visitor must not read through it), and ends the walk
    /// without anything past it being read.
    /// </summary>
    public abstract void Walk(RegionWalkVisitor visitor);

    /// <summary>Checks the region's structures (<c>multi_heap_check</c>); writes what is wrong to <paramref name="output"/> when given. True when all is well.</summary>
    public abstract bool CheckIntegrity(TextWriter? output);

    /// <summary>
    /// As <see cref="CheckIntegrity(TextWriter?)"/>, telling apart damage to the allocator's own structures
    /// (<paramref name="structuresSound"/> false) from damage a checking region found in blocks and queued itself.
    /// </summary>
    public virtual bool CheckIntegrity(TextWriter? output, out bool structuresSound)
    {
        structuresSound = CheckIntegrity(output);
        return structuresSound;
    }

    /// <summary>
    /// As <see cref="Query"/>, and a checking region also inspects the block (canaries): a damaged block is then reported
    /// (queued), set aside, and answered <see cref="BlockState.Corrupt"/> with its info. For an operation about to give
    /// the block up (a realloc that moves it), so that the damage is found before anything new is handed out.
    /// </summary>
    public virtual BlockState QueryChecked(void* ptr, out BlockInfo block) => Query(ptr, out block);

    /// <summary>Returns the lifetime minimum of free bytes and resets it to the current free bytes (<c>heap_caps_monitor_local_minimum_free_size_start</c>).</summary>
    public abstract nuint SwapMinimumFree();

    /// <summary>Sets the minimum of free bytes to the lower of itself and <paramref name="snapshot"/> (<c>…_stop</c>).</summary>
    public abstract void RestoreMinimumFree(nuint snapshot);

    /// <summary>True for a region that checks blocks (poisoning, quarantine) and may therefore find corruptions.</summary>
    public virtual bool ChecksBlocks => false;

    /// <summary>
    /// True when the region has found corruptions that the heap has not yet reported. Regions
    /// that check nothing (no poisoning) never have any. The heap reads this after every operation
    /// on a debug region, so it must be a plain field read.
    /// </summary>
    public virtual bool HasPendingCorruptions => false;

    /// <summary>Hands the corruptions found since the last call to the heap, which reports them; thread-safe.</summary>
    public virtual IReadOnlyList<CorruptionInfo> TakePendingCorruptions() => [];

    /// <summary>Releases the region's memory, live blocks included.</summary>
    public abstract void Dispose();
}

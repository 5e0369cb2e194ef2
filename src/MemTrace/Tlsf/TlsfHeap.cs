// TlsfHeap: ESP-IDF's heap, multi_heap over espressif/tlsf, over one caller-provided block of
// native memory, reproducing a 32-bit chip's layout and figures on a 64-bit host.
//
// Layout (all inside the caller's block, so free and total figures equal ESP-IDF's for the same
// region size; see TlsfControl.cs): the 20-byte multi_heap header, the TLSF control structure
// (56 bytes + sl bitmaps + list heads), then one pool. Block headers hold 32-bit offsets from the
// region base where the chip holds 32-bit pointers (BlockHeader.cs).
//
// This file is the multi_heap layer (multi_heap.c): statistics (free_bytes -= block size + 4 on
// malloc, += on free, the minimum-free watermark on malloc/memalign/realloc) and the side tables;
// TlsfHeap.Allocator.cs is tlsf.c, TlsfHeap.Blocks.cs the block and free-list primitives,
// TlsfHeap.Validate.cs pointer checks and the integrity check, TlsfHeap.Walk.cs walk and info.
//
// Alignment A (4, 8 or 16) of plain allocations. A = 4 is ESP-IDF exactly. For A > 4 (custom
// layouts on a PC, where native code expects 16-byte alignment) every block size is kept
// congruent to A - 4 modulo A: requests become align_up(size + 4, A) - 4, the class rounding is
// followed by the same adjustment, and the leading gap of memalign is a multiple of A. A split of
// such a block leaves a remainder of size s - t - 4, and a merge gives s + t + 4, both again
// congruent to A - 4, so with the first block's data placed on an A boundary (the pool start is
// padded; the padding counts as metadata) every user pointer stays A-aligned forever.
//
// Bookkeeping outside the region memory (LiveBlockTable) answers "is this pointer
// the start of a live block?" exactly and keeps the owner word and size of each block, so bad
// pointers are refused without reading through them, overwritten headers are noticed, and the chip
// statistics stay exact.
//
// No locks, no logging, no managed allocation and no exceptions on Malloc/Memalign/Realloc/Free:
// the caller serialises (TlsfRegion holds one lock per region, ESP-IDF's per-heap spinlock).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MemTrace.Internals;

namespace MemTrace.Tlsf;

internal sealed unsafe partial class TlsfHeap : IDisposable
{
    private readonly byte* _base;
    private readonly uint _regionSize;
    private readonly uint _alignment;
    private readonly uint _alignMask;
    private readonly int _slLog2;
    private readonly int _slCount;
    private readonly int _flShift;
    private readonly int _flCount;
    private readonly uint _smallBlock;
    private readonly uint _blockSizeMax;
    private readonly MultiHeapHeader* _heap;
    private readonly TlsfControl* _control;
    private readonly uint* _slBitmap;
    private readonly uint* _blocks;

    /// <summary>Offset of control->block_null: every empty list and list end points here.</summary>
    private readonly uint _nullBlock;

    /// <summary>Offset handed to tlsf_add_pool: the first block's size word.</summary>
    private readonly uint _poolStart;

    /// <summary>Bytes from <see cref="_poolStart"/> to the region end: the initial free_bytes.</summary>
    private readonly uint _poolLength;

    /// <summary>Header offset of the first block (its prev_phys word lies below the pool and is never used).</summary>
    private readonly uint _firstBlock;

    /// <summary>Header offset of the zero-size sentinel that ends the pool.</summary>
    private readonly uint _sentinel;

    /// <summary>The highest header offset a free block can have (its 16-byte header ends before the sentinel's size word).</summary>
    private readonly uint _lastFreeHeader;

    private LiveBlockTable _table;

    /// <summary>
    /// Comprehensive poisoning's free pattern, or 0 for none. When set, the header and links of a block
    /// absorbed by coalescing become free data and are refilled with it (espressif/tlsf's
    /// tlsf_poison_fill_region hook), so every free byte but the live metadata holds the pattern.
    /// </summary>
    private byte _freeFill;
    private bool _disposed;

    /// <summary>
    /// Formats <paramref name="size"/> bytes at <paramref name="memory"/> as a heap
    /// (multi_heap_register + tlsf_create_with_pool). The memory must stay valid until disposal.
    /// </summary>
    /// <param name="memory">The region; 4-byte aligned.</param>
    /// <param name="size">Bytes of the region, metadata included; at most <see cref="TlsfConfiguration.MaxRegionSize"/>.</param>
    /// <param name="alignment">Alignment of plain allocations: 4 (ESP-IDF), 8 or 16.</param>
    /// <param name="minimumStartsAtZero">Start the minimum-free watermark at 0, as ESP-IDF does for heaps added after startup.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bad alignment, a misaligned or null block, or a size too small or too large.</exception>
    public TlsfHeap(byte* memory, nuint size, uint alignment = 4, bool minimumStartsAtZero = false)
    {
        if (alignment is not (4 or 8 or 16))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(alignment), "The alignment must be 4, 8 or 16.");
        }

        if (memory is null || ((nuint)memory & (TlsfConfiguration.AlignSize - 1)) != 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(memory), "The region must be a non-null 4-byte aligned block.");
        }

        if (size > TlsfConfiguration.MaxRegionSize || size < MinimumRegionSize(alignment))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(size), $"The region size must be between {MinimumRegionSize(alignment)} and {TlsfConfiguration.MaxRegionSize} bytes.");
        }

        var config = TlsfConfiguration.ForRegion((uint)size);
        if (!TryPlacePool((nuint)memory, (uint)size, alignment, config, out var poolStart, out var firstSize))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(size), "The region is too small for the TLSF control structure and one block.");
        }

        _base = memory;
        _regionSize = (uint)size;
        _alignment = alignment;
        _alignMask = alignment - 1;
        Configuration = config;
        _slLog2 = config.SlIndexCountLog2;
        _slCount = config.SlIndexCount;
        _flShift = config.FlIndexShift;
        _flCount = config.FlIndexCount;
        _smallBlock = config.SmallBlockSize;
        _blockSizeMax = config.BlockSizeMax;

        _heap = (MultiHeapHeader*)memory;
        _control = (TlsfControl*)(memory + TlsfConfiguration.HeapHeaderSize);
        _nullBlock = TlsfConfiguration.HeapHeaderSize;
        var slBitmapOffset = TlsfConfiguration.HeapHeaderSize + TlsfConfiguration.ControlHeaderSize;
        var blocksOffset = slBitmapOffset + (4u * (uint)_flCount);
        _slBitmap = (uint*)(memory + slBitmapOffset);
        _blocks = (uint*)(memory + blocksOffset);

        _poolStart = poolStart;
        _poolLength = (uint)size - poolStart;
        _firstBlock = poolStart - TlsfConfiguration.BlockHeaderOverhead;
        _sentinel = _firstBlock + firstSize + TlsfConfiguration.BlockHeaderOverhead;
        _lastFreeHeader = _sentinel - TlsfConfiguration.BlockHeaderSize;

        // tlsf_create -> control_construct.
        NativeMemory.Clear(_control, TlsfConfiguration.ControlHeaderSize);
        _control->BlockNull.NextFree = _nullBlock;
        _control->BlockNull.PrevFree = _nullBlock;
        _control->FlIndexCount = (uint)_flCount;
        _control->FlIndexShift = (uint)_flShift;
        _control->FlIndexMax = (uint)config.FlIndexMax;
        _control->SlIndexCount = (uint)_slCount;
        _control->SlIndexCountLog2 = (uint)_slLog2;
        _control->SmallBlockSize = _smallBlock;
        _control->Size = config.ControlSize;
        _control->FlBitmap = 0;
        _control->SlBitmap = slBitmapOffset;
        _control->Blocks = blocksOffset;
        for (var i = 0; i < _flCount; i++)
        {
            _slBitmap[i] = 0;
        }

        for (var i = 0; i < _flCount * _slCount; i++)
        {
            _blocks[i] = _nullBlock;
        }

        // multi_heap_register_impl: the statistics. free_bytes counts the pool's two size words,
        // as on the chip (size - sizeof(heap_t) - tlsf_size()).
        _heap->Lock = 0;
        _heap->PoolSize = (uint)size - TlsfConfiguration.HeapHeaderSize;
        _heap->Tlsf = TlsfConfiguration.HeapHeaderSize;
        _heap->FreeBytes = _poolLength;
        _heap->MinimumFreeBytes = minimumStartsAtZero ? 0 : _poolLength;

        // tlsf_add_pool: one free block, then a zero-size used sentinel whose prev-free bit is set.
        var first = Header(_firstBlock);
        first->SizeWord = firstSize | BlockHeader.FreeBit;
        Insert(_firstBlock);
        var sentinel = Header(LinkNext(_firstBlock));
        sentinel->SizeWord = BlockHeader.PrevFreeBit;

        _table = new LiveBlockTable(size);
    }

    /// <summary>The TLSF geometry of this heap.</summary>
    public TlsfConfiguration Configuration { get; }

    /// <summary>First byte of the region.</summary>
    public byte* Start => _base;

    /// <summary>Bytes of the region, metadata included.</summary>
    public nuint Size => _regionSize;

    /// <summary>Alignment of plain allocations (4, 8 or 16).</summary>
    public uint Alignment => _alignment;

    /// <summary>The data size of a used block the caller owns (just allocated): its header's size, read without checks.</summary>
    public nuint UsableSizeOfOwned(void* ptr) => Header((uint)((byte*)ptr - _base) - TlsfConfiguration.BlockStartOffset)->Size;

    /// <summary>Turns on refilling absorbed headers with <paramref name="pattern"/> (comprehensive poisoning); 0 turns it off.</summary>
    public void SetFreeFill(byte pattern) => _freeFill = pattern;

    /// <summary>Bytes of metadata in front of the pool: multi_heap header, control structure and, for A &gt; 4, alignment padding.</summary>
    public uint MetadataBytes => _poolStart;

    /// <summary>Bytes from the pool start to the region end: the free bytes of a fresh heap.</summary>
    public uint PoolLength => _poolLength;

    /// <summary>The first user pointer a fresh heap hands out.</summary>
    public byte* FirstUserPointer => _base + _firstBlock + TlsfConfiguration.BlockStartOffset;

    /// <summary>Native memory the side tables take (outside the region).</summary>
    public nuint SideTableBytes => _table.ReservedBytes;

    /// <summary>multi_heap_free_size().</summary>
    public nuint FreeBytes => Volatile.Read(ref _heap->FreeBytes);

    /// <summary>multi_heap_minimum_free_size().</summary>
    public nuint MinimumFreeBytes => Volatile.Read(ref _heap->MinimumFreeBytes);

    /// <summary>The smallest region this heap accepts for <paramref name="alignment"/>.</summary>
    public static uint MinimumRegionSize(uint alignment)
    {
        for (var size = TlsfConfiguration.HeapHeaderSize + TlsfConfiguration.ControlHeaderSize; ; size += 4)
        {
            var config = TlsfConfiguration.ForRegion(size);
            if (config.FlIndexCount >= 1 && TryPlacePool(0, size, alignment, config, out _, out _))
            {
                return size;
            }
        }
    }

    /// <summary>multi_heap_malloc: a block of at least <paramref name="size"/> bytes, <see cref="Alignment"/>-aligned, tagged with <paramref name="tag"/>; null when there is no room or size is 0.</summary>
    public void* Malloc(nuint size, uint tag = 0)
    {
        var adjust = AdjustRequest(size);
        if (adjust == 0)
        {
            return null;
        }

        var block = MallocCore(adjust, out var blockSize);
        return block == 0 ? null : Publish(block, tag, blockSize);
    }

    /// <summary>
    /// multi_heap_aligned_alloc: a block whose address is a multiple of <paramref name="alignment"/> (a power of two);
    /// null when impossible. As tlsf_memalign, the block keeps the request adjusted to 4 bytes (no class rounding),
    /// also for alignments the heap gives anyway, which is what heap_caps_aligned_alloc does on the chip.
    /// </summary>
    public void* Memalign(nuint alignment, nuint size, uint tag = 0)
    {
        if (alignment == 0 || !BitOperations.IsPow2((ulong)alignment) || alignment >= _blockSizeMax)
        {
            return null;
        }

        var block = MemalignCore((uint)alignment, size, dataOffset: 0);
        return block == 0 ? null : Publish(block, tag);
    }

    /// <summary>
    /// multi_heap_aligned_alloc_impl_offs: a block of at least <paramref name="size"/> bytes whose address plus
    /// <paramref name="offset"/> is a multiple of <paramref name="alignment"/> (a power of two), for a header of
    /// <paramref name="offset"/> bytes in front of aligned data, as heap poisoning asks; null when impossible. The
    /// leading gap returns to the free lists, so the block costs what its request does. As in ESP-IDF, the offset is
    /// first rounded up to the heap's <see cref="Alignment"/>, and an alignment the heap gives anyway places no gap: an
    /// offset that is not a multiple of <see cref="Alignment"/> (8 on a 16-aligned heap) gets address + rounded offset
    /// aligned, not address + offset. Heap poisoning's head is always a multiple.
    /// </summary>
    public void* MemalignAfterHead(nuint alignment, nuint size, nuint offset, uint tag = 0)
    {
        if (alignment == 0 || !BitOperations.IsPow2((ulong)alignment) || alignment >= _blockSizeMax || offset >= size)
        {
            return null;
        }

        var block = MemalignCore((uint)alignment, size, (uint)offset);
        return block == 0 ? null : Publish(block, tag);
    }

    /// <summary>
    /// multi_heap_realloc for a live block: grows or shrinks it in place or moves it inside this heap, keeping
    /// contents and tag. Returns <see cref="TlsfPointer.Live"/> with <paramref name="result"/> null when it cannot
    /// (size 0 or no room: the block is intact), or what <paramref name="ptr"/> is when it is not a live block.
    /// </summary>
    public TlsfPointer Realloc(void* ptr, nuint size, out void* result, out nuint oldSize, out uint tag)
    {
        result = null;
        var state = Classify(ptr, out var user);
        if (state != TlsfPointer.Live)
        {
            oldSize = 0;
            tag = 0;
            return state;
        }

        var block = user - TlsfConfiguration.BlockStartOffset;
        var previousSize = Header(block)->Size;
        oldSize = previousSize;
        tag = _table.GetTag(user);
        var moved = ReallocCore(block, size);
        if (moved == 0)
        {
            return TlsfPointer.Live;
        }

        // multi_heap_realloc_impl: the 4-byte overhead was counted when the block was first allocated.
        var newSize = Header(moved)->Size;
        var freeBytes = _heap->FreeBytes + previousSize - newSize;
        _heap->FreeBytes = freeBytes;
        if (freeBytes < _heap->MinimumFreeBytes)
        {
            _heap->MinimumFreeBytes = freeBytes;
        }

        if (moved != block)
        {
            var newUser = moved + TlsfConfiguration.BlockStartOffset;
            _table.MarkFreed(user);
            _table.MarkLive(newUser, tag, newSize);
            user = newUser;
        }
        else
        {
            _table.SetSize(user, newSize);
        }

        result = _base + user;
        return TlsfPointer.Live;
    }

    /// <summary>
    /// multi_heap_free for a live block; anything else is refused untouched and classified.
    /// With <paramref name="clearIfTagged"/> the data of a tagged block is zeroed first.
    /// </summary>
    public TlsfPointer Free(void* ptr, bool clearIfTagged, out nuint size, out uint tag, Regions.IBlockInspector? inspector = null)
    {
        var state = Locate(ptr, out var user);
        if (state != TlsfPointer.Live)
        {
            size = 0;
            tag = 0;
            return state;
        }

        // Two copies of the free: the plain one carries no trace of the inspector's call (its code stays as small as it was).
        return inspector is null
            ? FreeLive(user, clearIfTagged, out size, out tag, default(NoApproval))
            : FreeLive(user, clearIfTagged, out size, out tag, new InspectorApproval(inspector));
    }

    /// <summary>What <paramref name="ptr"/> is; for a live block also its usable size and tag.</summary>
    public TlsfPointer Query(void* ptr, out nuint size, out uint tag)
    {
        var state = Classify(ptr, out var user);
        if (state != TlsfPointer.Live)
        {
            size = 0;
            tag = 0;
            return state;
        }

        size = Header(user - TlsfConfiguration.BlockStartOffset)->Size;
        tag = _table.GetTag(user);
        return state;
    }

    /// <summary>multi_heap_get_allocated_size: the usable size of a live block, 0 for anything else.</summary>
    public nuint GetAllocatedSize(void* ptr) => Query(ptr, out var size, out _) == TlsfPointer.Live ? size : 0;

    /// <summary>The tag of the live block at <paramref name="ptr"/>, 0 for anything else.</summary>
    public uint GetTag(void* ptr) => TryLiveOffset(ptr, out var user) ? _table.GetTag(user) : 0;

    /// <summary>Sets the tag of the live block at <paramref name="ptr"/>; ignored for anything else. Reads only the side tables.</summary>
    public void SetTag(void* ptr, uint tag)
    {
        if (TryLiveOffset(ptr, out var user))
        {
            _table.SetTag(user, tag);
        }
    }

    /// <summary>multi_heap_reset_minimum_free_bytes: returns the watermark and resets it to the current free bytes.</summary>
    public nuint ResetMinimumFree()
    {
        var previous = _heap->MinimumFreeBytes;
        _heap->MinimumFreeBytes = _heap->FreeBytes;
        return previous;
    }

    /// <summary>multi_heap_restore_minimum_free_bytes: the watermark becomes the lower of itself and <paramref name="value"/>.</summary>
    public void RestoreMinimumFree(nuint value)
    {
        if (value < _heap->MinimumFreeBytes)
        {
            _heap->MinimumFreeBytes = (uint)value;
        }
    }

    /// <summary>Releases the side tables (the region memory belongs to the caller).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _table.Dispose();
    }

    /// <summary>
    /// Where the pool goes: right after the control structure (ESP-IDF) for A = 4; for A &gt; 4 the pool start is
    /// padded so that the first block's data (pool start + 4) is A-aligned, and the first block's size is
    /// congruent to A - 4. False when the region has no room for the control structure and one block.
    /// </summary>
    private static bool TryPlacePool(nuint memory, uint size, uint alignment, TlsfConfiguration config, out uint poolStart, out uint firstSize)
    {
        poolStart = 0;
        firstSize = 0;
        if (config.FlIndexCount < 1)
        {
            return false;
        }

        // control_construct: bytes >= control size + block_size_min.
        var controlEnd = (ulong)TlsfConfiguration.HeapHeaderSize + config.ControlSize;
        if ((ulong)config.TlsfBytes < config.ControlSize + (ulong)TlsfConfiguration.BlockSizeMin)
        {
            return false;
        }

        var firstData = memory + (nuint)controlEnd + TlsfConfiguration.BlockHeaderOverhead;
        var padding = (ulong)(((firstData + (alignment - 1)) & ~(nuint)(alignment - 1)) - firstData);
        var start = controlEnd + padding;
        if (start + TlsfConfiguration.PoolOverhead + TlsfConfiguration.BlockSizeMin > size)
        {
            return false;
        }

        // tlsf_add_pool: pool_bytes = align_down(bytes - pool_overhead, ALIGN_SIZE); for A > 4 the largest
        // size <= that which is congruent to A - 4.
        var length = (uint)(size - start);
        var first = ((length - TlsfConfiguration.BlockHeaderOverhead) & ~(alignment - 1)) - TlsfConfiguration.BlockHeaderOverhead;
        if (first < TlsfConfiguration.BlockSizeMin || first >= config.BlockSizeMax)
        {
            return false;
        }

        poolStart = (uint)start;
        firstSize = first;
        return true;
    }

    /// <summary>Accounts a block just taken from TLSF (multi_heap_malloc_impl) and records it in the side tables.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void* Publish(uint block, uint tag) => Publish(block, tag, Header(block)->Size);

    /// <summary>As <see cref="Publish(uint, uint)"/> for a block whose size the caller knows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void* Publish(uint block, uint tag, uint size)
    {
        var freeBytes = _heap->FreeBytes - (size + TlsfConfiguration.BlockHeaderOverhead);
        _heap->FreeBytes = freeBytes;
        if (freeBytes < _heap->MinimumFreeBytes)
        {
            _heap->MinimumFreeBytes = freeBytes;
        }

        var user = block + TlsfConfiguration.BlockStartOffset;
        _table.MarkLive(user, tag, size);
        return _base + user;
    }

    /// <summary>The region offset of <paramref name="ptr"/> when it is the start of a live block per the side table (no header read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryLiveOffset(void* ptr, out uint user)
    {
        var offset = (nuint)ptr - (nuint)_base;
        user = (uint)offset;
        return offset < _regionSize && ((nuint)ptr & _alignMask) == 0 && _table.IsLive(user);
    }
}

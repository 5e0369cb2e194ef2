// TlsfRegion: one emulated chip heap (ESP-IDF's heap_t with its multi_heap) as a Region: a
// TlsfHeap over a block of native memory, behind one lock per region as ESP-IDF's per-heap
// spinlock, so regions never contend with each other.
//
// The memory is either the region's own (allocated here, freed on Dispose) or the caller's (a
// firmware-style static array or a mapped file; never freed here). Every statistic is the chip's
// for the same region size: the multi_heap header and TLSF control structure live inside the
// region, the side tables that make bad pointers harmless live outside it.
//
// Fast path: one lock acquisition per operation, nothing else shared; zeroing a calloc'd block is
// done after the lock is released (the block already belongs to the caller). The lock is a
// RegionLock, a spinlock as on the chip (System.Threading.Lock cost 31 ns of a 72 ns malloc+free
// pair); it is not re-entrant: a ForEachLiveBlock/Walk visitor that calls back into the region gets
// a LockRecursionException instead of a deadlock. SetTag and the free-byte figures read without the
// lock (a tag slot belongs to the block's owner; figures are single words).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MemTrace.Internals;
using MemTrace.Tlsf;

namespace MemTrace.Regions;

internal sealed unsafe class TlsfRegion : Region
{
    private readonly RegionLock _lock = new();
    private readonly TlsfHeap _heap;
    private readonly byte* _memory;
    private readonly nuint _size;
    private readonly nuint _alignment;
    private readonly bool _ownsMemory;
    private bool _disposed;

    /// <summary>A region over <paramref name="size"/> bytes of native memory of its own, freed on <see cref="Dispose"/>.</summary>
    /// <param name="name">The region's name, e.g. <c>DRAM</c>.</param>
    /// <param name="caps0">Capabilities at priority 0.</param>
    /// <param name="caps1">Capabilities at priority 1.</param>
    /// <param name="caps2">Capabilities at priority 2.</param>
    /// <param name="size">Bytes of the region, metadata included (ESP-IDF's heap size).</param>
    /// <param name="alignment">Alignment of plain allocations: 4 (ESP-IDF), 8 or 16.</param>
    /// <param name="minimumStartsAtZero">Start the minimum-free watermark at 0, as ESP-IDF does for heaps added after startup.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bad alignment or size.</exception>
    /// <exception cref="OutOfMemoryException">The native memory could not be allocated.</exception>
    public TlsfRegion(string name, MallocCaps caps0, MallocCaps caps1, MallocCaps caps2, nuint size, nuint alignment = 4, bool minimumStartsAtZero = false)
        : base(name, caps0, caps1, caps2)
    {
        CheckArguments(size, alignment);
        _memory = (byte*)NativeMemory.AlignedAlloc(size, 64);
        _ownsMemory = true;
        _size = size;
        _alignment = alignment;
        try
        {
            _heap = new TlsfHeap(_memory, size, (uint)alignment, minimumStartsAtZero);
        }
        catch
        {
            NativeMemory.AlignedFree(_memory);
            throw;
        }
    }

    /// <summary>A region over caller-owned memory, which must outlive the region and is not freed by it.</summary>
    /// <param name="name">The region's name.</param>
    /// <param name="caps0">Capabilities at priority 0.</param>
    /// <param name="caps1">Capabilities at priority 1.</param>
    /// <param name="caps2">Capabilities at priority 2.</param>
    /// <param name="start">First byte of the memory; 4-byte aligned.</param>
    /// <param name="size">Bytes of the memory, all given to the region.</param>
    /// <param name="alignment">Alignment of plain allocations: 4 (ESP-IDF), 8 or 16.</param>
    /// <param name="minimumStartsAtZero">Start the minimum-free watermark at 0, as ESP-IDF does for heaps added after startup.</param>
    /// <exception cref="ArgumentOutOfRangeException">A null or misaligned start, a bad alignment or size.</exception>
    public TlsfRegion(string name, MallocCaps caps0, MallocCaps caps1, MallocCaps caps2, byte* start, nuint size, nuint alignment = 4, bool minimumStartsAtZero = false)
        : base(name, caps0, caps1, caps2)
    {
        CheckArguments(size, alignment);
        _memory = start;
        _ownsMemory = false;
        _size = size;
        _alignment = alignment;
        _heap = new TlsfHeap(start, size, (uint)alignment, minimumStartsAtZero);
    }

    public override bool IsUnbounded => false;

    public override nuint Start => (nuint)_memory;

    public override nuint End => (nuint)_memory + _size;

    public override nuint TotalSize => _size;

    // The statistics live in the region's memory (multi_heap's header), which Dispose frees under the lock: read under
    // it too, so that a metrics collector on another thread never reads freed memory. A walker's visitor asking about
    // its own region already holds the lock (ESP-IDF's recursive heap lock lets it ask): it reads directly.
    public override nuint FreeBytes => ReadStatistic(static heap => heap.FreeBytes);

    public override nuint MinimumFreeBytes => ReadStatistic(static heap => heap.MinimumFreeBytes);

    public override nuint LargestFreeBlock => ReadStatistic(static heap => heap.LargestFreeBlock);

    /// <summary>Alignment of plain allocations.</summary>
    public nuint Alignment => _alignment;

    /// <summary>The allocator itself, without the region's lock (tests and diagnostics only).</summary>
    internal TlsfHeap Heap => _heap;

    public override void* Allocate(nuint size, nuint alignment, bool zero, uint tag)
    {
        // TLSF's malloc and memalign neither throw nor call out: the lock needs no try/finally.
        _lock.EnterUnscoped();
        var block = _disposed ? null : alignment <= _alignment ? _heap.Malloc(size, tag) : AllocateAligned(size, alignment, tag);
        _lock.Exit();

        if (zero && block is not null)
        {
            NativeMemory.Clear(block, size);
        }

        return block;
    }

    public override bool AlignsAfterHead => true;

    public override void* AllocateAlignedAfterHead(nuint size, nuint alignment, nuint headOffset, uint tag)
    {
        _lock.EnterUnscoped(); // As Allocate: memalign neither throws nor calls out.
        var block = _disposed ? null : _heap.MemalignAfterHead(alignment, size, headOffset, tag);
        _lock.Exit();
        return block;
    }

    public override void* Reallocate(void* ptr, nuint size, out BlockState state, out BlockInfo old)
    {
        void* result;
        TlsfPointer pointer;
        nuint oldSize;
        uint tag;
        using (_lock.Enter())
        {
            if (_disposed)
            {
                state = BlockState.NotABlock;
                old = default;
                return null;
            }

            pointer = _heap.Realloc(ptr, size, out result, out oldSize, out tag);
        }

        state = ToBlockState(pointer);
        old = state == BlockState.Live ? new BlockInfo(oldSize, tag) : default;
        return result;
    }

    public override BlockState Free(void* ptr, bool clearIfTagged, out BlockInfo block, IBlockInspector? inspector)
    {
        if (inspector is not null)
        {
            return FreeInspected(ptr, clearIfTagged, out block, inspector);
        }

        // Without an inspector TLSF's free neither throws nor calls out: the lock needs no try/finally.
        _lock.EnterUnscoped();
        if (_disposed)
        {
            _lock.Exit();
            block = default;
            return BlockState.NotABlock;
        }

        var pointer = _heap.Free(ptr, clearIfTagged, out var size, out var tag);
        _lock.Exit();
        return Outcome(pointer, size, tag, out block);
    }

    /// <summary>A free whose approval runs poisoning's checks under the lock: they may allocate, so the lock is scoped.</summary>
    private BlockState FreeInspected(void* ptr, bool clearIfTagged, out BlockInfo block, IBlockInspector inspector)
    {
        TlsfPointer pointer;
        nuint size;
        uint tag;
        using (_lock.Enter())
        {
            if (_disposed)
            {
                block = default;
                return BlockState.NotABlock;
            }

            pointer = _heap.Free(ptr, clearIfTagged, out size, out tag, inspector);
        }

        return Outcome(pointer, size, tag, out block);
    }

    /// <summary>What the heap found at a pointer (on a free or a query), as a region reports it.</summary>
    private static BlockState Outcome(TlsfPointer pointer, nuint size, uint tag, out BlockInfo block)
    {
        var state = ToBlockState(pointer);
        block = state == BlockState.Live ? new BlockInfo(size, tag) : default;
        return state;
    }

    public override void ReleaseHeld(void* ptr) => Free(ptr, clearIfTagged: false, out _, inspector: null);

    public override BlockState Query(void* ptr, out BlockInfo block)
    {
        TlsfPointer pointer;
        nuint size;
        uint tag;
        using (_lock.EnterForRead()) // A walker's visitor asking about its own region already holds the lock.
        {
            if (_disposed)
            {
                block = default;
                return BlockState.NotABlock;
            }

            pointer = _heap.Query(ptr, out size, out tag);
        }

        return Outcome(pointer, size, tag, out block);
    }

    public override void SetTag(void* ptr, uint tag)
    {
        if (!Volatile.Read(ref _disposed))
        {
            _heap.SetTag(ptr, tag);
        }
    }

    public override bool ClearTag(void* ptr, uint tag)
    {
        using (_lock.Enter())
        {
            // The side tables only, as SetTag: a block whose header was damaged still loses its tag.
            if (_disposed || tag == 0 || _heap.GetTag(ptr) != tag)
            {
                return false;
            }

            _heap.SetTag(ptr, 0);
            return true;
        }
    }

    public override HeapInfo GetInfo() => ReadStatistic(static heap => heap.GetInfo());

    public override void ForEachLiveBlock(Action<nuint, nuint, uint> visitor)
    {
        if (_lock.IsHeldForCallbacksByThisThread)
        {
            // Asked from a visitor of this region (a walker checking its heap): the lock is already held; the inner visitor
            // may read, and allocating or freeing from it is refused as from the outer one.
            if (!_disposed)
            {
                _heap.ForEachLiveBlock(visitor);
            }

            return;
        }

        using (_lock.EnterForCallbacks())
        {
            if (!_disposed)
            {
                _heap.ForEachLiveBlock(visitor);
            }
        }
    }

    public override void Walk(RegionWalkVisitor visitor)
    {
        using (_lock.EnterForCallbacks())
        {
            if (!_disposed)
            {
                _heap.Walk((block, size, used) => visitor(block, size, used));
            }
        }
    }

    /// <summary>As <see cref="Walk"/>, but stops before a corrupt block instead of reporting it: for visitors that read or write the blocks they see.</summary>
    public void WalkSoundBlocks(RegionWalkVisitor visitor)
    {
        using (_lock.EnterForCallbacks())
        {
            if (!_disposed)
            {
                _heap.Walk((block, size, used) => visitor(block, size, used), reportCorruptBlock: false);
            }
        }
    }

    public override bool CheckIntegrity(TextWriter? output)
    {
        using (_lock.EnterForRead()) // A walker's visitor checking its own region already holds the lock.
        {
            return !_disposed && _heap.Check(output) == 0;
        }
    }

    public override nuint SwapMinimumFree()
    {
        using (_lock.Enter())
        {
            return _disposed ? 0 : _heap.ResetMinimumFree();
        }
    }

    public override void RestoreMinimumFree(nuint snapshot)
    {
        using (_lock.Enter())
        {
            if (!_disposed)
            {
                _heap.RestoreMinimumFree(snapshot);
            }
        }
    }

    public override void Dispose()
    {
        using (_lock.Enter())
        {
            if (_disposed)
            {
                return;
            }

            Volatile.Write(ref _disposed, true);
            _heap.Dispose();
            if (_ownsMemory)
            {
                NativeMemory.AlignedFree(_memory);
            }
        }
    }

    private static void CheckArguments(nuint size, nuint alignment)
    {
        if (alignment is not (4 or 8 or 16))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(alignment), "The alignment must be 4, 8 or 16.");
        }

        if (size > TlsfConfiguration.MaxRegionSize || size < TlsfHeap.MinimumRegionSize((uint)alignment))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(size), $"The region size must be between {TlsfHeap.MinimumRegionSize((uint)alignment)} and {TlsfConfiguration.MaxRegionSize} bytes.");
        }
    }

    /// <summary>The region's name for what the heap found; a live block, the answer of every good call, without a call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static BlockState ToBlockState(TlsfPointer pointer) => pointer == TlsfPointer.Live ? BlockState.Live : ToBlockStateRare(pointer);

    private static BlockState ToBlockStateRare(TlsfPointer pointer) => pointer switch
    {
        TlsfPointer.Live => BlockState.Live,
        TlsfPointer.Freed => BlockState.Freed,
        TlsfPointer.Outside => BlockState.Outside,

        // A live block whose header was overwritten: refused untouched, and reported by the caller as a corrupt block.
        TlsfPointer.Corrupt => BlockState.DamagedHeader,
        _ => BlockState.NotABlock,
    };

    private T ReadStatistic<T>(Func<TlsfHeap, T> read)
        where T : struct
    {
        using (_lock.EnterForRead())
        {
            return _disposed ? default : read(_heap);
        }
    }

    private void* AllocateAligned(nuint size, nuint alignment, uint tag) =>
        BitOperations.IsPow2((ulong)alignment) ? _heap.Memalign(alignment, size, tag) : null;
}

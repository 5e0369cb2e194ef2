// TlsfHeap allocation algorithms: tlsf_malloc, tlsf_memalign, tlsf_realloc and tlsf_free of
// espressif/tlsf (tlsf.c), O(1) each: the request is mapped to a (fl, sl) list, the fl bitmap and
// the per-fl sl bitmap give the first non-empty list at or above it in two bit scans, and a freed
// block is coalesced at once with both physical neighbours.
//
// Faithful details that decide the chip's figures:
// - malloc rounds the request up to the start of the next class and the block KEEPS the rounded
//   size (espressif/tlsf PR #2: block_locate_free updates the size that block_prepare_used trims to);
// - realloc in place and memalign trim to the request adjusted to 4 bytes, not to the class;
// - memalign searches for size + alignment + 16 bytes (room to free a leading gap as a block of its
//   own) and frees the gap; a gap smaller than a block header is pushed to the next boundary;
// - a realloc that cannot grow in place is malloc + copy + free, and leaves the block intact on failure.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

internal sealed unsafe partial class TlsfHeap
{
    /// <summary>
    /// adjust_request_size(): the request aligned (4 bytes, or congruent to A - 4 for A &gt; 4) and at least the
    /// minimum block; 0 for size 0 or a size that reaches block_size_max.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint AdjustRequest(nuint size)
    {
        if (size - 1 >= _blockSizeMax - 1)
        {
            return 0; // 0, or too large: keeps the 32-bit arithmetic below exact.
        }

        var request = (uint)size;
        var aligned = _alignment == TlsfConfiguration.AlignSize
            ? (request + (TlsfConfiguration.AlignSize - 1)) & ~(TlsfConfiguration.AlignSize - 1)
            : ((request + TlsfConfiguration.BlockHeaderOverhead + _alignMask) & ~_alignMask) - TlsfConfiguration.BlockHeaderOverhead;
        if (aligned >= _blockSizeMax)
        {
            return 0;
        }

        return aligned < TlsfConfiguration.BlockSizeMin ? TlsfConfiguration.BlockSizeMin : aligned;
    }

    /// <summary>
    /// block_locate_free(): takes a free block of at least <paramref name="size"/> bytes off its list, or returns 0.
    /// <paramref name="size"/> becomes the class-rounded size the block is to keep.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint LocateFree(ref uint size)
    {
        var block = FindFree(ref size, out var fl, out var sl);
        if (block != 0)
        {
            RemoveFree(block, fl, sl);
        }

        return block;
    }

    /// <summary>
    /// The search of block_locate_free() without the removal: the head of list (<paramref name="fl"/>,
    /// <paramref name="sl"/>), a free block of at least <paramref name="size"/> bytes, or 0.
    /// <paramref name="size"/> becomes the class-rounded size the block is to keep.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint FindFree(ref uint size, out int fl, out int sl)
    {
        var rounded = Mapping.RoundUpToClass(size, _slLog2, _smallBlock);
        Mapping.Insert(rounded, _slLog2, _flShift, _smallBlock, out fl, out sl);
        if (fl >= _flCount)
        {
            return 0;
        }

        var block = SearchSuitable(ref fl, ref sl);
        if (block == 0)
        {
            return 0;
        }

        // Every block of a list at or above the rounded class is at least `rounded` bytes; for A > 4 it is also
        // congruent to A - 4, hence at least the congruent size this block keeps.
        var keep = _alignment == TlsfConfiguration.AlignSize
            ? rounded
            : ((rounded + TlsfConfiguration.BlockHeaderOverhead + _alignMask) & ~_alignMask) - TlsfConfiguration.BlockHeaderOverhead;
        if (!IsUsableListHead(block, keep))
        {
            return 0; // An overwritten free block: refuse it rather than hand it out (the integrity check reports it).
        }

        size = keep;
        return block;
    }

    /// <summary>block_prepare_used(): trims the block to <paramref name="size"/> and marks it used.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrepareUsed(uint block, uint size)
    {
        TrimFree(block, size);
        MarkAsUsed(block);
    }

    /// <summary>
    /// tlsf_malloc() for an adjusted request; 0 when no block is large enough. block_locate_free,
    /// block_trim_free and block_mark_as_used fused: each header word is read once, the final words
    /// are computed in registers and each is stored once (see the note on store-to-load chains below).
    /// </summary>
    private uint MallocCore(uint adjust, out uint blockSize)
    {
        var block = FindFree(ref adjust, out var blockFl, out var blockSl);
        if (block == 0)
        {
            blockSize = 0;
            return 0;
        }

        // The block is free, the head of list (blockFl, blockSl); its next physical block has the prev-free bit set.
        var header = Header(block);
        var word = header->SizeWord;
        var size = word & ~BlockHeader.FlagMask;
        var next = block + size + TlsfConfiguration.BlockHeaderOverhead;
        if (size >= TlsfConfiguration.BlockHeaderSize + adjust)
        {
            // block_split + block_trim_free: the tail becomes a free block whose previous block (this one)
            // is used, and the next block's previous block is now the tail (free, so its bit stays set).
            var remaining = block + adjust + TlsfConfiguration.BlockHeaderOverhead;
            var remainSize = size - (adjust + TlsfConfiguration.BlockHeaderOverhead);
            var tail = Header(remaining);
            tail->PrevPhys = block;
            tail->SizeWord = remainSize | BlockHeader.FreeBit;
            var nextHeader = Header(next);
            nextHeader->PrevPhys = remaining;
            nextHeader->SizeWord |= BlockHeader.PrevFreeBit;
            header->SizeWord = adjust | (word & BlockHeader.PrevFreeBit);
            blockSize = adjust;
            Mapping.Insert(remainSize, _slLog2, _flShift, _smallBlock, out var fl, out var sl);
            if (fl == blockFl && sl == blockSl)
            {
                ReplaceFree(block, remaining, fl, sl); // A large block split: the tail usually stays on its list.
            }
            else
            {
                RemoveFree(block, blockFl, blockSl);
                if ((uint)fl < (uint)_flCount)
                {
                    InsertFree(remaining, fl, sl);
                }
            }
        }
        else
        {
            RemoveFree(block, blockFl, blockSl);
            // block_mark_as_used: the whole block is handed out.
            var nextHeader = Header(next);
            nextHeader->SizeWord &= ~BlockHeader.PrevFreeBit;
            header->SizeWord = word & ~BlockHeader.FreeBit;
            blockSize = size;
        }

        return block;
    }

    /// <summary>
    /// tlsf_memalign_offs(), for a power-of-two alignment below block_size_max: a block whose data address plus
    /// <paramref name="dataOffset"/> (rounded up to the heap's alignment) is a multiple of <paramref name="alignment"/>.
    /// With an offset, as in ESP-IDF, the block never starts on the boundary itself: the header in front of the aligned
    /// bytes lies inside the block, and the leading gap goes back to the free lists.
    /// </summary>
    private uint MemalignCore(uint alignment, nuint size, uint dataOffset)
    {
        var adjust = AdjustRequest(size);
        if (adjust == 0)
        {
            return 0;
        }

        if (alignment <= _alignment)
        {
            // Every block is aligned that much already (and so is an offset rounded to the heap's alignment): no gap,
            // and the block keeps the adjusted request.
            var search = adjust;
            var found = LocateFree(ref search);
            if (found != 0)
            {
                PrepareUsed(found, adjust);
            }

            return found;
        }

        var offAdjust = (dataOffset + _alignMask) & ~_alignMask;

        // Room for the leading gap to become a block of its own (the previous block is used, so the gap cannot
        // just be given to it): sizeof(block_header_t) more than the alignment. The offset is in both the request
        // and the gap's minimum, so it is counted once.
        var gapMinimum = TlsfConfiguration.BlockHeaderSize + offAdjust;
        var withGap = (ulong)adjust + alignment + TlsfConfiguration.BlockHeaderSize;
        withGap = (withGap + alignment - 1) & ~(ulong)(alignment - 1);
        if (withGap >= _blockSizeMax)
        {
            return 0;
        }

        var searchSize = (uint)withGap;
        var block = LocateFree(ref searchSize);
        if (block == 0)
        {
            return 0;
        }

        var data = (nuint)(_base + block + TlsfConfiguration.BlockStartOffset);
        var aligned = (data + alignment - 1) & ~(nuint)(alignment - 1);
        var gap = (uint)(aligned - data);
        if ((gap != 0 && gap < gapMinimum) || (gap == 0 && offAdjust != 0))
        {
            // Too small to be a block, or no room for the offset: move on to a later boundary.
            var offset = Math.Max(gapMinimum - gap, alignment);
            aligned = (aligned + offset + alignment - 1) & ~(nuint)(alignment - 1);
            gap = (uint)(aligned - data);
        }

        if (gap != 0)
        {
            block = TrimFreeLeading(block, gap - offAdjust);
            var start = (nuint)(_base + block + TlsfConfiguration.BlockStartOffset);
            if (((start + offAdjust) & (alignment - 1)) != 0 || Header(block)->Size < adjust)
            {
                // Cannot happen: the search asked for the alignment and a header's worth of spare bytes. Give it back.
                Insert(block);
                return 0;
            }
        }

        PrepareUsed(block, adjust);
        return block;
    }

    /// <summary>
    /// tlsf_realloc() for a live, validated block and a non-zero size: the block (resized in place) or a new
    /// block with the contents copied; 0 when neither is possible (the block is intact).
    /// </summary>
    private uint ReallocCore(uint block, nuint size)
    {
        var adjust = AdjustRequest(size);
        if (adjust == 0)
        {
            return 0; // Size 0 (the region layer never frees through realloc) or too large.
        }

        var current = Header(block)->Size;
        var next = NextOf(block);
        var nextHeader = Header(next);
        var combined = current + nextHeader->Size + TlsfConfiguration.BlockHeaderOverhead;

        if (adjust > current && (!nextHeader->IsFree || adjust > combined))
        {
            // Cannot grow in place: malloc, copy, free. malloc applies its own class rounding.
            var moved = MallocCore(adjust, out _);
            if (moved != 0)
            {
                var copy = Math.Min(current, (uint)size);
                Buffer.MemoryCopy(_base + block + TlsfConfiguration.BlockStartOffset, _base + moved + TlsfConfiguration.BlockStartOffset, copy, copy);
                FreeCore(block);
            }

            return moved;
        }

        if (adjust > current)
        {
            // Grow into the free next block.
            MergeNext(block);
            MarkAsUsed(block);
        }

        TrimUsed(block, adjust);
        return block;
    }

    /// <summary>
    /// multi_heap_free for the start of a live block per the side tables: the checks of <see cref="IsIntactUsedBlock"/>
    /// and the coalescing of <see cref="FreeCore"/> in one pass. Everything the checks need is read first and nothing
    /// is stored until all of them pass, so a damaged block or neighbour is refused untouched
    /// (<see cref="TlsfPointer.Corrupt"/>), exactly as Classify would refuse it; the values read (sizes, the
    /// neighbours' lists) then serve the free without being read or computed again. Between the checks and the
    /// stores, the data of a tagged block is cleared when asked and <paramref name="approval"/> (poisoning's inspector,
    /// or nothing) approves or holds the block: both write only inside the block's data, which holds none of the words read (the next block's
    /// prev_phys, the one word of it that the data covers, is rewritten or absorbed).
    /// </summary>
    /// <remarks>
    /// Generic over the approval so that the JIT compiles the free without an inspector with no trace of the call.
    /// Never inlined: inlined into the region's free under its scoped lock (a try/finally), the inspector's copy ran
    /// Light poisoning's TLSF pairs at 73-76 ns against 59 ns as a call (PoisoningBenchmarks).
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TlsfPointer FreeLive<TApproval>(uint user, bool clearIfTagged, out nuint size, out uint tag, TApproval approval)
        where TApproval : struct, IFreeApproval
    {
        size = 0;
        tag = 0;
        var block = user - TlsfConfiguration.BlockStartOffset;
        var sentinel = _sentinel;
        if (block - _firstBlock >= sentinel - _firstBlock)
        {
            return TlsfPointer.Corrupt;
        }

        // This block: used, the size it was handed out with, a valid block size inside the pool.
        var header = Header(block);
        var word = header->SizeWord;
        var blockSize = word & ~BlockHeader.FlagMask;
        if ((word & BlockHeader.FreeBit) != 0
            || !_table.IsLiveWithSize(user, blockSize)
            || blockSize < TlsfConfiguration.BlockSizeMin
            || ((blockSize + TlsfConfiguration.BlockHeaderOverhead) & _alignMask) != 0
            || blockSize > sentinel - block - TlsfConfiguration.BlockHeaderOverhead)
        {
            return TlsfPointer.Corrupt;
        }

        // The next block: the sentinel, a used block matching its record, or a sane free block to absorb.
        var next = block + blockSize + TlsfConfiguration.BlockHeaderOverhead;
        var nextWord = Header(next)->SizeWord;
        if ((nextWord & BlockHeader.PrevFreeBit) != 0)
        {
            return TlsfPointer.Corrupt;
        }

        var total = blockSize;
        var absorbed = 0u;
        var absorbedFl = 0;
        var absorbedSl = 0;
        var after = next;
        var afterWord = nextWord;
        if (next == sentinel)
        {
            if (nextWord != 0)
            {
                return TlsfPointer.Corrupt;
            }
        }
        else if ((nextWord & BlockHeader.FreeBit) != 0)
        {
            var nextSize = nextWord & ~BlockHeader.FlagMask;
            if (!IsSaneFreeBlock(next, nextSize, out absorbedFl, out absorbedSl))
            {
                return TlsfPointer.Corrupt;
            }

            absorbed = next;
            total += nextSize + TlsfConfiguration.BlockHeaderOverhead;
            after = next + nextSize + TlsfConfiguration.BlockHeaderOverhead;
            afterWord = Header(after)->SizeWord;
        }
        else if (!_table.IsLiveWithSize(next + TlsfConfiguration.BlockStartOffset, nextWord & ~BlockHeader.FlagMask))
        {
            return TlsfPointer.Corrupt;
        }

        // The previous block, when marked free: adjacent, free, sane; it absorbs this one.
        var start = block;
        var startWord = word;
        var prev = 0u;
        var prevFl = 0;
        var prevSl = 0;
        if ((word & BlockHeader.PrevFreeBit) != 0)
        {
            prev = header->PrevPhys;
            if (prev - _firstBlock >= block - _firstBlock || (prev & 3) != 0)
            {
                return TlsfPointer.Corrupt;
            }

            var prevWord = Header(prev)->SizeWord;
            var prevSize = prevWord & ~BlockHeader.FlagMask;
            if ((prevWord & BlockHeader.FreeBit) == 0
                || prevSize != block - prev - TlsfConfiguration.BlockHeaderOverhead
                || !IsListLink(prev)
                || !IsSaneFreeBlock(prev, prevSize, out prevFl, out prevSl))
            {
                return TlsfPointer.Corrupt;
            }

            total += prevSize + TlsfConfiguration.BlockHeaderOverhead;
            start = prev;
            startWord = prevWord;
        }

        // Every check passed: from here on the block is freed (or held by the inspector).
        tag = _table.GetTag(user);
        size = blockSize;
        if (clearIfTagged && tag != 0)
        {
            // The data ends where the next block's size word starts: its prev_phys word is cleared too, and rewritten below.
            NativeMemory.Clear(_base + user, blockSize);
        }

        if (typeof(TApproval) != typeof(NoApproval))
        {
            var reported = (nuint)blockSize;
            var approved = approval.Approve(_base + user, ref reported, tag);
            size = reported;
            if (!approved)
            {
                return TlsfPointer.Live; // Held by the inspector: stays allocated.
            }
        }

        _heap->FreeBytes += blockSize + TlsfConfiguration.BlockHeaderOverhead;
        _table.MarkFreed(user);

        var fill = _freeFill;
        if (prev != 0)
        {
            if ((uint)prevFl < (uint)_flCount)
            {
                RemoveFree(prev, prevFl, prevSl);
            }

            if (fill != 0)
            {
                // This block's prev_phys, size word and first data words are now inside prev's free data.
                new Span<byte>(_base + block, (int)TlsfConfiguration.BlockHeaderSize).Fill(fill);
            }
        }

        // The absorbed block's links are read again there: removing prev may have changed them (prev and the
        // absorbed block can be list neighbours).
        StoreCoalesced(start, startWord, total, after, afterWord, absorbed, absorbedFl, absorbedSl, fill);
        return TlsfPointer.Live;
    }

    /// <summary>
    /// tlsf_free() for a live, validated block: block_mark_as_free, block_merge_prev, block_merge_next and
    /// block_insert fused. The result is the same as the four steps one after the other: the coalesced
    /// block's size word (free, its own prev-free bit kept), the next block's prev_phys and prev-free bit,
    /// the absorbed headers refilled with the free pattern, the coalesced block on its list.
    /// </summary>
    /// <remarks>
    /// Written so that no header word is stored and then read back: the JIT keeps no value across a store
    /// through a pointer, so the step-by-step form (set a bit, read the size back, set another bit, read it
    /// back...) became a chain of store-to-load round trips that cost more than the rest of TLSF together
    /// (a malloc+free pair took 3x the C code's time; fused, about the same as C).
    /// </remarks>
    private void FreeCore(uint block)
    {
        var header = Header(block);
        var word = header->SizeWord;
        var start = block;
        var startWord = word;
        var total = word & ~BlockHeader.FlagMask;
        var next = block + total + TlsfConfiguration.BlockHeaderOverhead;
        var fill = _freeFill;

        if ((word & BlockHeader.PrevFreeBit) != 0)
        {
            var prev = header->PrevPhys;
            var prevWord = Header(prev)->SizeWord;
            var prevSize = prevWord & ~BlockHeader.FlagMask;
            RemoveSized(prev, prevSize);
            total += prevSize + TlsfConfiguration.BlockHeaderOverhead;
            start = prev;
            startWord = prevWord;
            if (fill != 0)
            {
                // This block's prev_phys, size word and first data words are now inside prev's free data.
                new Span<byte>(_base + block, (int)TlsfConfiguration.BlockHeaderSize).Fill(fill);
            }
        }

        var nextWord = Header(next)->SizeWord;
        var absorbed = 0u;
        var absorbedFl = 0;
        var absorbedSl = 0;
        if ((nextWord & BlockHeader.FreeBit) != 0)
        {
            // Its removal from its list waits until the coalesced block's list is known: mostly the same list.
            var nextSize = nextWord & ~BlockHeader.FlagMask;
            Mapping.Insert(nextSize, _slLog2, _flShift, _smallBlock, out absorbedFl, out absorbedSl);
            absorbed = next;
            total += nextSize + TlsfConfiguration.BlockHeaderOverhead;
            next += nextSize + TlsfConfiguration.BlockHeaderOverhead;
            nextWord = Header(next)->SizeWord;
        }

        StoreCoalesced(start, startWord, total, next, nextWord, absorbed, absorbedFl, absorbedSl, fill);
    }

    /// <summary>
    /// The stores that end a free (<see cref="FreeLive{TApproval}"/>, <see cref="FreeCore"/>), once the previous block (if
    /// it was free) is off its list: the coalesced block at <paramref name="start"/> of <paramref name="total"/> bytes gets
    /// its size word (free, <paramref name="startWord"/>'s prev-free bit kept); the block <paramref name="after"/> it, whose
    /// size word was <paramref name="afterWord"/>, points back to it and is marked prev-free; the absorbed next block
    /// (0: none; its list <paramref name="absorbedFl"/>, <paramref name="absorbedSl"/>) leaves its list, replaced in place
    /// when the coalesced block belongs to the same one; the coalesced block joins its list; the absorbed header is
    /// refilled with <paramref name="fill"/> (0: none).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void StoreCoalesced(uint start, uint startWord, uint total, uint after, uint afterWord, uint absorbed, int absorbedFl, int absorbedSl, byte fill)
    {
        var afterHeader = Header(after);
        Header(start)->SizeWord = total | BlockHeader.FreeBit | (startWord & BlockHeader.PrevFreeBit);
        afterHeader->PrevPhys = start;
        afterHeader->SizeWord = afterWord | BlockHeader.PrevFreeBit;
        Mapping.Insert(total, _slLog2, _flShift, _smallBlock, out var fl, out var sl);
        var insert = (uint)fl < (uint)_flCount;
        if (absorbed != 0 && (uint)absorbedFl < (uint)_flCount)
        {
            if (insert && absorbedFl == fl && absorbedSl == sl)
            {
                ReplaceFree(absorbed, start, fl, sl);
                insert = false;
            }
            else
            {
                RemoveFree(absorbed, absorbedFl, absorbedSl);
            }
        }

        if (insert)
        {
            InsertFree(start, fl, sl);
        }

        if (absorbed != 0 && fill != 0)
        {
            // The absorbed block's prev_phys, size word and free links are now inside the coalesced block's free data.
            new Span<byte>(_base + absorbed, (int)TlsfConfiguration.BlockHeaderSize).Fill(fill);
        }
    }

    /// <summary>What a free asks before it frees a block it has checked: see <see cref="FreeLive{TApproval}"/>.</summary>
    private interface IFreeApproval
    {
        bool Approve(byte* block, ref nuint size, uint tag);
    }

    /// <summary>No inspector: every checked block is freed.</summary>
    private readonly struct NoApproval : IFreeApproval
    {
        public bool Approve(byte* block, ref nuint size, uint tag) => true;
    }

    /// <summary>Poisoning's inspector decides: free now, or hold (quarantined, or damaged).</summary>
    private readonly struct InspectorApproval(Regions.IBlockInspector inspector) : IFreeApproval
    {
        public bool Approve(byte* block, ref nuint size, uint tag) => inspector.Approve(block, ref size, tag);
    }
}

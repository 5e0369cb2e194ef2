// TlsfHeap validation: judging a pointer before anything is done with it, and the integrity check
// (ESP-IDF's multi_heap_check = tlsf_check + tlsf_check_pool, plus what the side tables allow).
//
// A pointer is judged from the side tables first: outside the region, unaligned, not a live block
// start, or freed. Only the start of a live block has its header read, and that header is checked
// before the heap trusts it, in O(1): its size word against the size recorded when the block was
// handed out, the next block (prev-free bit clear; a used next block matching its own record, a
// free one plausibly sized and properly linked) and, when the previous block is marked free, that
// block (adjacent, free, properly linked). An overwritten header therefore makes Free/Realloc refuse the block instead of
// corrupting the free lists (TlsfPointer.Corrupt).
//
// Check() counts failures as tlsf_insist does (one per broken rule) and names each on the optional
// writer. It reads only offsets it has checked, and bounds every list and physical walk, so it
// never crashes or loops on a corrupt heap.
using System.Globalization;
using System.Runtime.CompilerServices;

namespace MemTrace.Tlsf;

internal sealed unsafe partial class TlsfHeap
{
    /// <summary>Classifies <paramref name="ptr"/>; <paramref name="user"/> is its region offset when it is inside the region.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TlsfPointer Classify(void* ptr, out uint user)
    {
        var state = Locate(ptr, out user);
        if (state != TlsfPointer.Live)
        {
            return state;
        }

        return IsIntactUsedBlock(user) ? TlsfPointer.Live : TlsfPointer.Corrupt;
    }

    /// <summary>
    /// What the side tables alone say of <paramref name="ptr"/>: <see cref="TlsfPointer.Live"/> when it is the start
    /// of a live block (its header not read yet), else what it is. <paramref name="user"/> is its region offset.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TlsfPointer Locate(void* ptr, out uint user)
    {
        var offset = (nuint)ptr - (nuint)_base;
        user = (uint)offset;
        if (offset >= _regionSize)
        {
            return TlsfPointer.Outside;
        }

        if (((nuint)ptr & _alignMask) != 0)
        {
            return TlsfPointer.NotABlock;
        }

        if (!_table.IsLive(user))
        {
            return _table.IsFreed(user) ? TlsfPointer.Freed : TlsfPointer.NotABlock;
        }

        return TlsfPointer.Live;
    }

    /// <summary>Whether the used block whose data starts at <paramref name="user"/>, and what a free or realloc would touch around it, is consistent.</summary>
    private bool IsIntactUsedBlock(uint user)
    {
        var block = user - TlsfConfiguration.BlockStartOffset;
        if (block - _firstBlock >= _sentinel - _firstBlock)
        {
            return false;
        }

        var header = Header(block);
        var word = header->SizeWord;
        var size = word & ~BlockHeader.FlagMask;
        if ((word & BlockHeader.FreeBit) != 0
            || !_table.IsLiveWithSize(user, size)
            || size < TlsfConfiguration.BlockSizeMin
            || ((size + TlsfConfiguration.BlockHeaderOverhead) & _alignMask) != 0
            || size > _sentinel - block - TlsfConfiguration.BlockHeaderOverhead)
        {
            return false;
        }

        var next = block + size + TlsfConfiguration.BlockHeaderOverhead;
        var nextHeader = Header(next);
        if (nextHeader->IsPrevFree)
        {
            return false;
        }

        if (next == _sentinel)
        {
            if (nextHeader->SizeWord != 0)
            {
                return false;
            }
        }
        else if (nextHeader->IsFree)
        {
            if (!IsSaneFreeBlock(next))
            {
                return false;
            }
        }
        else if (!_table.IsLiveWithSize(next + TlsfConfiguration.BlockStartOffset, nextHeader->Size))
        {
            return false;
        }

        if ((word & BlockHeader.PrevFreeBit) != 0)
        {
            var prev = header->PrevPhys;
            if (prev - _firstBlock >= block - _firstBlock || (prev & 3) != 0)
            {
                return false;
            }

            var prevHeader = Header(prev);
            if (!prevHeader->IsFree || prevHeader->Size != block - prev - TlsfConfiguration.BlockHeaderOverhead || !IsSaneFreeBlock(prev))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether the free block at <paramref name="block"/> (a header offset inside the pool) has a plausible size and properly linked list neighbours.</summary>
    private bool IsSaneFreeBlock(uint block) =>
        IsListLink(block) && block != _nullBlock && IsSaneFreeBlock(block, Header(block)->Size, out _, out _);

    /// <summary>
    /// <see cref="IsSaneFreeBlock(uint)"/> for a block known to be a list link other than block_null, whose size the
    /// caller has read; also gives the block's list (<paramref name="fl"/>, <paramref name="sl"/>), which
    /// <paramref name="fl"/> may put beyond the table for a block too large for any list.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsSaneFreeBlock(uint block, uint size, out int fl, out int sl)
    {
        Mapping.Insert(size, _slLog2, _flShift, _smallBlock, out fl, out sl);
        if (size < TlsfConfiguration.BlockSizeMin || size > _sentinel - block - TlsfConfiguration.BlockHeaderOverhead)
        {
            return false;
        }

        var header = Header(block);
        var next = header->NextFree;
        var prev = header->PrevFree;
        if (!IsListLink(next) || !IsListLink(prev) || !IsFollowedAsFree(block, size))
        {
            return false;
        }

        if (next != _nullBlock && Header(next)->PrevFree != block)
        {
            return false;
        }

        if (prev != _nullBlock)
        {
            return Header(prev)->NextFree == block;
        }

        return (uint)fl < (uint)_flCount && *Head(fl, sl) == block;
    }

    /// <summary>Whether the list head <paramref name="block"/> can be handed out for <paramref name="size"/> bytes without leaving the pool.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsUsableListHead(uint block, uint size)
    {
        if (block == _nullBlock || !IsListLink(block))
        {
            return false;
        }

        var header = Header(block);
        var blockSize = header->Size;
        return header->IsFree
            && blockSize >= size
            && blockSize <= _sentinel - block - TlsfConfiguration.BlockHeaderOverhead
            && IsListLink(header->NextFree)
            && IsFollowedAsFree(block, blockSize);
    }

    /// <summary>
    /// Whether the physical block after the free block at <paramref name="block"/> of <paramref name="size"/> bytes (a size
    /// the caller has checked to end inside the pool) agrees that it follows a free block: prev-free bit set, prev_phys
    /// pointing back, itself used (free neighbours coalesce). A size word enlarged by an overrun fails this, so the block is
    /// never handed out over the live blocks it now seems to cover, nor the bogus "next header" inside them followed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsFollowedAsFree(uint block, uint size)
    {
        var next = Header(block + size + TlsfConfiguration.BlockHeaderOverhead);
        return (next->SizeWord & BlockHeader.FlagMask) == BlockHeader.PrevFreeBit && next->PrevPhys == block;
    }

    /// <summary>
    /// multi_heap_check: the free lists and bitmaps (tlsf_check), the physical blocks (tlsf_check_pool), the
    /// metadata, the side tables and the free-byte accounting. Returns the number of failed rules (0 = intact)
    /// and writes each failure to <paramref name="output"/> when given.
    /// </summary>
    public int Check(TextWriter? output = null)
    {
        var failures = 0;
        CheckMetadata(output, ref failures);
        var listed = CheckFreeLists(output, ref failures);
        CheckPhysicalBlocks(output, listed, ref failures);
        return failures;
    }

    private void CheckMetadata(TextWriter? output, ref int failures)
    {
        Insist(_heap->Tlsf == TlsfConfiguration.HeapHeaderSize, "heap header: TLSF control pointer overwritten", 0, output, ref failures);
        Insist(_heap->PoolSize == _regionSize - TlsfConfiguration.HeapHeaderSize, "heap header: pool size overwritten", 0, output, ref failures);
        Insist(_heap->FreeBytes <= _poolLength, "heap header: free bytes exceed the pool", 0, output, ref failures);
        Insist(_heap->MinimumFreeBytes <= _heap->FreeBytes, "heap header: minimum free bytes above free bytes", 0, output, ref failures);
        var control = _control;
        Insist(
            control->FlIndexCount == (uint)_flCount && control->FlIndexShift == (uint)_flShift && control->FlIndexMax == (uint)Configuration.FlIndexMax
            && control->SlIndexCount == (uint)_slCount && control->SlIndexCountLog2 == (uint)_slLog2 && control->SmallBlockSize == _smallBlock
            && control->Size == Configuration.ControlSize,
            "control: configuration fields overwritten",
            _nullBlock,
            output,
            ref failures);
        Insist(
            control->SlBitmap == (uint)((byte*)_slBitmap - _base) && control->Blocks == (uint)((byte*)_blocks - _base),
            "control: bitmap or list array pointer overwritten",
            _nullBlock,
            output,
            ref failures);
        Insist(_flCount == 32 || (control->FlBitmap >> _flCount) == 0, "control: fl bitmap has bits beyond fl_index_count", _nullBlock, output, ref failures);
    }

    /// <summary>tlsf_check: every list agrees with both bitmaps and holds properly coalesced free blocks of its own class. Returns the number of listed blocks.</summary>
    private nuint CheckFreeLists(TextWriter? output, ref int failures)
    {
        nuint listed = 0;
        var maxSteps = (_poolLength / TlsfConfiguration.BlockHeaderSize) + 2;
        for (var i = 0; i < _flCount; i++)
        {
            var flMap = (_control->FlBitmap & (1u << i)) != 0;
            var slList = _slBitmap[i];
            Insist(_slCount == 32 || (slList >> _slCount) == 0, "sl bitmap has bits beyond sl_index_count", _nullBlock, output, ref failures);
            Insist(flMap == (slList != 0), "first- and second-level bitmaps disagree", _nullBlock, output, ref failures);
            for (var j = 0; j < _slCount; j++)
            {
                var slMap = (slList & (1u << j)) != 0;
                var block = *Head(i, j);
                if (!slMap)
                {
                    Insist(block == _nullBlock, "block list must be null", block, output, ref failures);
                    continue;
                }

                Insist(block != _nullBlock, "block should not be null", block, output, ref failures);
                var previous = _nullBlock;
                for (nuint steps = 0; block != _nullBlock; steps++)
                {
                    if (!Insist(steps < maxSteps, "free list does not end (a cycle)", block, output, ref failures)
                        || !Insist(IsListLink(block), "free list link outside the pool", block, output, ref failures))
                    {
                        break;
                    }

                    var header = Header(block);
                    var size = header->Size;
                    Insist(header->IsFree, "block should be free", block, output, ref failures);
                    Insist(!header->IsPrevFree, "blocks should have coalesced", block, output, ref failures);
                    Insist(header->PrevFree == previous, "free list back link broken", block, output, ref failures);
                    Insist(size >= TlsfConfiguration.BlockSizeMin, "block not minimum size", block, output, ref failures);
                    Mapping.Insert(size, _slLog2, _flShift, _smallBlock, out var fli, out var sli);
                    Insist(fli == i && sli == j, "block size indexed in wrong list", block, output, ref failures);
                    if (Insist(size <= _sentinel - block - TlsfConfiguration.BlockHeaderOverhead, "free block runs past the pool", block, output, ref failures))
                    {
                        var next = Header(NextOf(block));
                        Insist(!next->IsFree, "blocks should have coalesced", block, output, ref failures);
                        Insist(next->IsPrevFree, "block should be free", block, output, ref failures);
                    }

                    listed++;
                    previous = block;
                    block = header->NextFree;
                }
            }
        }

        return listed;
    }

    /// <summary>tlsf_check_pool and more: the physical walk from the first block to the sentinel.</summary>
    private void CheckPhysicalBlocks(TextWriter? output, nuint listed, ref int failures)
    {
        var block = _firstBlock;
        var previous = 0u;
        var previousFree = false;
        nuint freeBlocks = 0, usedBlocks = 0;
        ulong usedBytes = 0;
        var complete = false;
        while (true)
        {
            var header = Header(block);
            var size = header->Size;
            Insist(header->IsPrevFree == previousFree, "prev status incorrect", block, output, ref failures);
            if (size == 0)
            {
                Insist(block == _sentinel, "zero-size block before the end of the pool", block, output, ref failures);
                Insist(!header->IsFree, "sentinel marked free", block, output, ref failures);
                complete = block == _sentinel;
                break;
            }

            if (previousFree)
            {
                Insist(header->PrevPhys == previous, "prev_phys does not point at the previous block", block, output, ref failures);
            }

            if (!Insist(block != _sentinel, "sentinel size overwritten (walk stopped)", block, output, ref failures)
                || !Insist(
                    size >= TlsfConfiguration.BlockSizeMin && ((size + TlsfConfiguration.BlockHeaderOverhead) & _alignMask) == 0
                    && size <= _sentinel - block - TlsfConfiguration.BlockHeaderOverhead,
                    "block size out of range (walk stopped)",
                    block,
                    output,
                    ref failures))
            {
                break;
            }

            var user = block + TlsfConfiguration.BlockStartOffset;
            if (header->IsFree)
            {
                Insist(!previousFree, "two free neighbours (not coalesced)", block, output, ref failures);
                Insist(!_table.IsLive(user), "free block marked live in the live-block table", block, output, ref failures);
                freeBlocks++;
            }
            else
            {
                Insist(_table.IsLive(user), "used block missing from the live-block table", block, output, ref failures);
                Insist(_table.GetSize(user) == size, "used block's size word differs from the size it was handed out with", block, output, ref failures);
                usedBlocks++;
                usedBytes += size + TlsfConfiguration.BlockHeaderOverhead;
            }

            previousFree = header->IsFree;
            previous = block;
            block = NextOf(block);
        }

        if (complete)
        {
            Insist(freeBlocks == listed, "free blocks and listed blocks differ", _nullBlock, output, ref failures);
            Insist(_table.CountLive() == usedBlocks, "live-block table marks addresses that are no used block", _nullBlock, output, ref failures);
            Insist(_heap->FreeBytes == _poolLength - usedBytes, "free bytes do not match the used blocks", 0, output, ref failures);
        }
    }

    /// <summary>tlsf_insist: counts a failure and names it; returns the condition.</summary>
    private bool Insist(bool condition, string rule, uint offset, TextWriter? output, ref int failures)
    {
        if (!condition)
        {
            failures++;
            output?.WriteLine(string.Format(CultureInfo.InvariantCulture, "TLSF check: {0} at 0x{1:x8} (region offset 0x{2:x})", rule, (ulong)(_base + offset), offset));
        }

        return condition;
    }
}

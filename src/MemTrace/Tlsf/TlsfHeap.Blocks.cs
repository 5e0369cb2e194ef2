// TlsfHeap block and free-list primitives: espressif/tlsf's tlsf_block_functions.h and
// tlsf_control_functions.h (block_next/link_next/mark_as_free/mark_as_used, insert/remove of a
// free block with the fl/sl bitmaps, block_split/absorb/merge_next, the three trims; tlsf_free's merge_prev lives in the fused FreeCore).
//
// Names follow TLSF's, with offsets from the region base for block pointers. The list primitives
// check every offset they read from memory before following it (an offset outside the pool is
// treated as the end of the list), so a header overwritten by the program can lose free memory
// but can never make the allocator read or write outside the region. Consistency of the block
// being freed or resized is checked before the operation starts (TlsfHeap.Validate.cs).
using System.Numerics;
using System.Runtime.CompilerServices;

namespace MemTrace.Tlsf;

internal sealed unsafe partial class TlsfHeap
{
    /// <summary>The header at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BlockHeader* Header(uint offset) => (BlockHeader*)(_base + offset);

    /// <summary>block_next(): the physical block after <paramref name="block"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint NextOf(uint block) => block + Header(block)->Size + TlsfConfiguration.BlockHeaderOverhead;

    /// <summary>block_link_next(): records <paramref name="block"/> as the next block's prev_phys and returns the next block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint LinkNext(uint block)
    {
        var next = NextOf(block);
        Header(next)->PrevPhys = block;
        return next;
    }

    /// <summary>block_mark_as_free().</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkAsFree(uint block)
    {
        var next = LinkNext(block);
        Header(next)->SetPrevFree();
        Header(block)->SetFree();
    }

    /// <summary>block_mark_as_used().</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkAsUsed(uint block)
    {
        var next = NextOf(block);
        Header(next)->SetPrevUsed();
        Header(block)->SetUsed();
    }

    /// <summary>Whether <paramref name="offset"/>, read from a list link, may be followed: the null block or a header that fits in the pool.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsListLink(uint offset) =>
        offset == _nullBlock || (offset - _firstBlock <= _lastFreeHeader - _firstBlock && (offset & 3) == 0);

    /// <summary>The list head slot of (fl, sl).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint* Head(int fl, int sl) => _blocks + (fl * _slCount) + sl;

    /// <summary>remove_free_block().</summary>
    private void RemoveFree(uint block, int fl, int sl)
    {
        var header = Header(block);
        var prev = header->PrevFree;
        var next = header->NextFree;
        if (IsListLink(prev) && IsListLink(next))
        {
            Header(next)->PrevFree = prev;
            Header(prev)->NextFree = next;
        }
        else
        {
            next = _nullBlock; // Overwritten links: drop the rest of the list rather than follow them.
        }

        var head = Head(fl, sl);
        if (*head == block)
        {
            *head = next;
            if (next == _nullBlock)
            {
                var slMap = _slBitmap[fl] & ~(1u << sl);
                _slBitmap[fl] = slMap;
                if (slMap == 0)
                {
                    _control->FlBitmap &= ~(1u << fl);
                }
            }
        }
    }

    /// <summary>insert_free_block(): at the head of list (fl, sl), setting both bitmap bits.</summary>
    private void InsertFree(uint block, int fl, int sl)
    {
        var head = Head(fl, sl);
        var current = *head;
        if (!IsListLink(current))
        {
            current = _nullBlock;
        }

        var header = Header(block);
        header->NextFree = current;
        header->PrevFree = _nullBlock;
        Header(current)->PrevFree = block;
        *head = block;

        // Set the bits only when they are clear: most inserts go to lists already marked, and a store
        // here would be read back by the next search or removal.
        var slMap = _slBitmap[fl];
        if ((slMap & (1u << sl)) == 0)
        {
            _slBitmap[fl] = slMap | (1u << sl);
            _control->FlBitmap |= 1u << fl;
        }
    }

    /// <summary>
    /// remove_free_block(<paramref name="block"/>) then insert_free_block(<paramref name="replacement"/>) on the same
    /// list (<paramref name="fl"/>, <paramref name="sl"/>), with the final state of the two written once: when the block
    /// is the head, the replacement takes its place and the bitmaps, which stay set, are not touched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReplaceFree(uint block, uint replacement, int fl, int sl)
    {
        var head = Head(fl, sl);
        var header = Header(block);
        var prev = header->PrevFree;
        var next = header->NextFree;
        if (*head == block && prev == _nullBlock && IsListLink(next))
        {
            Header(prev)->NextFree = next;
            var replaced = Header(replacement);
            replaced->NextFree = next;
            replaced->PrevFree = _nullBlock;
            Header(next)->PrevFree = replacement;
            *head = replacement;
            return;
        }

        RemoveFree(block, fl, sl);
        InsertFree(replacement, fl, sl);
    }

    /// <summary>block_remove(): takes a free block off the list its size maps to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Remove(uint block) => RemoveSized(block, Header(block)->Size);

    /// <summary>block_remove() for a free block whose size the caller has already read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RemoveSized(uint block, uint size)
    {
        Mapping.Insert(size, _slLog2, _flShift, _smallBlock, out var fl, out var sl);
        if ((uint)fl < (uint)_flCount)
        {
            RemoveFree(block, fl, sl);
        }
    }

    /// <summary>block_insert(): puts a free block on the list its size maps to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Insert(uint block)
    {
        Mapping.Insert(Header(block)->Size, _slLog2, _flShift, _smallBlock, out var fl, out var sl);
        if ((uint)fl < (uint)_flCount)
        {
            InsertFree(block, fl, sl);
        }
    }

    /// <summary>block_can_split(): room for <paramref name="size"/> bytes and another whole block header.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool CanSplit(uint block, uint size) => Header(block)->Size >= TlsfConfiguration.BlockHeaderSize + size;

    /// <summary>block_split(): <paramref name="block"/> keeps <paramref name="size"/> bytes; the rest becomes a free block, returned (its prev-free bit is the caller's to set).</summary>
    private uint Split(uint block, uint size)
    {
        var header = Header(block);
        var remaining = block + size + TlsfConfiguration.BlockHeaderOverhead;
        var remainSize = header->Size - (size + TlsfConfiguration.BlockHeaderOverhead);
        Header(remaining)->SizeWord = remainSize;
        header->SetSize(size);
        MarkAsFree(remaining);
        return remaining;
    }

    /// <summary>block_absorb(): <paramref name="prev"/> takes in the following <paramref name="block"/> and its size word; flags untouched.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Absorb(uint prev, uint block)
    {
        Header(prev)->SizeWord += Header(block)->Size + TlsfConfiguration.BlockHeaderOverhead;
        LinkNext(prev);
        if (_freeFill != 0)
        {
            // The absorbed block's prev_phys, size word and free links are now inside prev's free data.
            new Span<byte>(_base + block, (int)TlsfConfiguration.BlockHeaderSize).Fill(_freeFill);
        }

        return prev;
    }

    /// <summary>block_merge_next(): coalesces a block with a free next neighbour.</summary>
    private uint MergeNext(uint block)
    {
        var next = NextOf(block);
        if (Header(next)->IsFree)
        {
            Remove(next);
            block = Absorb(block, next);
        }

        return block;
    }

    /// <summary>block_trim_free(): returns the tail of a free block beyond <paramref name="size"/> to the pool.</summary>
    private void TrimFree(uint block, uint size)
    {
        if (CanSplit(block, size))
        {
            var remaining = Split(block, size);
            LinkNext(block);
            Header(remaining)->SetPrevFree();
            Insert(remaining);
        }
    }

    /// <summary>block_trim_used(): returns the tail of a used block beyond <paramref name="size"/> to the pool, coalescing it.</summary>
    private void TrimUsed(uint block, uint size)
    {
        if (CanSplit(block, size))
        {
            var remaining = Split(block, size);
            Header(remaining)->SetPrevUsed();
            remaining = MergeNext(remaining);
            Insert(remaining);
        }
    }

    /// <summary>block_trim_free_leading(): frees the first <paramref name="size"/> bytes (header included) of a free block; returns the rest.</summary>
    private uint TrimFreeLeading(uint block, uint size)
    {
        var remaining = block;
        if (CanSplit(block, size))
        {
            remaining = Split(block, size - TlsfConfiguration.BlockHeaderOverhead);
            Header(remaining)->SetPrevFree();
            LinkNext(block);
            Insert(block);
        }

        return remaining;
    }

    /// <summary>search_suitable_block(): the head of the first non-empty list at or above (fl, sl); 0 when there is none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint SearchSuitable(ref int fl, ref int sl)
    {
        var slMap = _slBitmap[fl] & (~0u << sl);
        if (slMap == 0)
        {
            var flMap = _control->FlBitmap & (~0u << (fl + 1));
            if (flMap == 0)
            {
                return 0; // No free block is large enough.
            }

            fl = BitOperations.TrailingZeroCount(flMap);
            if (fl >= _flCount)
            {
                return 0; // A bitmap bit beyond the table: only an overwritten control structure does this.
            }

            slMap = _slBitmap[fl];
        }

        sl = BitOperations.TrailingZeroCount(slMap);
        if (sl >= _slCount)
        {
            return 0;
        }

        return *Head(fl, sl);
    }
}

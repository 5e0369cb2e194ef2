// TlsfHeap walks and statistics: tlsf_walk_pool (multi_heap_walk), multi_heap_get_info, the
// largest free block, and the live blocks of the side table.
//
// The physical walk follows the size words from the first block to the zero-size sentinel. Each
// size is checked before it is followed: nothing outside the pool is ever read. A size that is too
// small, misaligned or runs past the pool (test_walker's 0xFF000000) is still reported to the
// walker, as ESP-IDF's tlsf_walk_pool reports every block it reaches (espressif/tlsf tlsf.c and
// esp-idf components/heap/rom_patches: the walker gets block_to_ptr, block_size and !block_is_free
// and the walk goes on while it returns true); ESP-IDF's "heap walker corrupted heap detection"
// test relies on that, recognising the corrupt block by a size that runs past the heap's end and
// returning false. Then the walk stops whatever the walker returns: ESP-IDF would follow the bad
// size out of the heap. Internal walks that must only see sound blocks (poisoning's fill checks)
// ask for the walk to stop before such a block instead.
//
// get_info is a walk (O(blocks), as on the chip). LargestFreeBlock is O(1): tlsf_fit_size of the
// largest free block depends only on that block's class (the start of the class; exact for the
// small lists, which hold one size each), and the highest set bits of the bitmaps name the highest
// non-empty class. Both give the largest request guaranteed to succeed (ESP-IDF issue #7808).
using System.Numerics;

namespace MemTrace.Tlsf;

internal sealed unsafe partial class TlsfHeap
{
    /// <summary>The largest request that <see cref="Malloc"/> is guaranteed to satisfy now (0 when nothing is free).</summary>
    public nuint LargestFreeBlock
    {
        get
        {
            var flMap = _control->FlBitmap;
            if (flMap == 0)
            {
                return 0;
            }

            var fl = BitOperations.Log2(flMap);
            if (fl >= _flCount || _slBitmap[fl] == 0)
            {
                return 0; // Overwritten bitmaps: the integrity check reports them.
            }

            var sl = BitOperations.Log2(_slBitmap[fl]);
            return FitRequest(Mapping.ClassStart(fl, sl, _slLog2, _flShift));
        }
    }

    /// <summary>
    /// tlsf_walk_pool: every block but the sentinel in address order. Stops when <paramref name="visitor"/>
    /// returns false. A block whose size word cannot be right is reported as its words say (when
    /// <paramref name="reportCorruptBlock"/>, as ESP-IDF does) or not at all, and the walk ends there.
    /// </summary>
    /// <param name="visitor">Called per block with its data address, size (flags removed) and whether it is used.</param>
    /// <param name="reportCorruptBlock">
    /// True (ESP-IDF): a corrupt block is passed to <paramref name="visitor"/> with the size its word holds, which may run
    /// past the pool, so a walker must not read through it; false: the walk stops before it (for walkers that read blocks).
    /// </param>
    public void Walk(TlsfWalker visitor, bool reportCorruptBlock = true)
    {
        var block = _firstBlock;
        while (true)
        {
            var header = Header(block);
            var size = header->Size;
            if (size == 0)
            {
                return; // The sentinel (block_is_last).
            }

            var plausible = IsPlausibleSize(block, size);
            if (!plausible && !reportCorruptBlock)
            {
                return;
            }

            if (!visitor((nuint)(_base + block + TlsfConfiguration.BlockStartOffset), size, !header->IsFree) || !plausible)
            {
                return;
            }

            block += size + TlsfConfiguration.BlockHeaderOverhead;
        }
    }

    /// <summary>
    /// multi_heap_get_info: free and allocated bytes, the largest request guaranteed to succeed (tlsf_fit_size of the
    /// largest free block), the minimum free bytes, and physical block counts without the sentinel.
    /// total_allocated_bytes = pool bytes - free bytes - 4 per used block, as multi_heap computes it.
    /// </summary>
    public HeapInfo GetInfo()
    {
        nuint allocatedBlocks = 0, freeBlocks = 0;
        uint largest = 0;
        var block = _firstBlock;
        while (true)
        {
            var header = Header(block);
            var size = header->Size;
            if (size == 0 || !IsPlausibleSize(block, size))
            {
                break;
            }

            if (header->IsFree)
            {
                freeBlocks++;
                largest = Math.Max(largest, size);
            }
            else
            {
                allocatedBlocks++;
            }

            block += size + TlsfConfiguration.BlockHeaderOverhead;
        }

        var free = (ulong)_heap->FreeBytes;
        var overhead = (ulong)allocatedBlocks * TlsfConfiguration.BlockHeaderOverhead;
        var allocated = _poolLength >= free + overhead ? _poolLength - free - overhead : 0;
        return new HeapInfo(
            TotalFreeBytes: (nuint)free,
            TotalAllocatedBytes: (nuint)allocated,
            LargestFreeBlock: largest == 0 ? 0 : FitRequest(Mapping.FitSize(largest, _slLog2, _smallBlock)),
            MinimumFreeBytes: _heap->MinimumFreeBytes,
            AllocatedBlocks: allocatedBlocks,
            FreeBlocks: freeBlocks,
            TotalBlocks: allocatedBlocks + freeBlocks);
    }

    /// <summary>Calls <paramref name="visitor"/> with the address, usable size and tag of every live block, in address order (from the side table, not the walk).</summary>
    public void ForEachLiveBlock(Action<nuint, nuint, uint> visitor)
    {
        for (var user = _table.NextLive(0); user != uint.MaxValue; user = _table.NextLive(user + TlsfConfiguration.AlignSize))
        {
            // The size word may be damaged (an overrun of the block before): never past the pool, so that a visitor that
            // reads the block's bytes stays inside the region.
            var block = user - TlsfConfiguration.BlockStartOffset;
            var size = Math.Min(Header(block)->Size, _sentinel - block - TlsfConfiguration.BlockHeaderOverhead);
            visitor((nuint)(_base + user), size, _table.GetTag(user));
        }
    }

    /// <summary>The number of live blocks per the side table.</summary>
    public nuint LiveBlockCount => _table.CountLive();

    /// <summary>
    /// A tlsf_fit_size result as a request for this heap: unchanged for A = 4; for A &gt; 4 the largest size congruent
    /// to A - 4 not above it, so that adjusting the request for alignment does not push it into the next class.
    /// </summary>
    private uint FitRequest(uint fit) =>
        _alignment == TlsfConfiguration.AlignSize ? fit : ((fit + TlsfConfiguration.BlockHeaderOverhead) & ~_alignMask) - TlsfConfiguration.BlockHeaderOverhead;

    /// <summary>Whether a block at <paramref name="block"/> may have <paramref name="size"/> bytes: at least the minimum, aligned, and ending before the sentinel.</summary>
    private bool IsPlausibleSize(uint block, uint size) =>
        block < _sentinel // At the sentinel (its size word overwritten) the bound below would wrap around.
        && size >= TlsfConfiguration.BlockSizeMin
        && ((size + TlsfConfiguration.BlockHeaderOverhead) & _alignMask) == 0
        && size <= _sentinel - block - TlsfConfiguration.BlockHeaderOverhead;
}

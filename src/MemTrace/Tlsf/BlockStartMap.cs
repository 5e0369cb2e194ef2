// BlockStartMap: which offsets of a TLSF region are the starts of live blocks, and which were the
// starts of blocks that have been freed and not handed out again. Kept OUTSIDE the region memory
// (native memory of its own), so the chip figures stay exact and so that a pointer can be judged
// without reading anything through it.
//
// Why it exists: TLSF, like the chip, would trust the header in front of any pointer it is given;
// a double free or a stray pointer then corrupts the free lists. With one bit per granule (the
// region's plain-allocation alignment A: every user pointer is A-aligned) "is this the start of a
// live block?" is an exact O(1) answer. The second bitmap tells a double free (the start of a block
// freed and not reused) from a pointer that was never handed out. A freed start stays "freed" until
// a block is handed out at that very address, even if a later, larger block now covers it: the
// pointer was freed and never handed out again, which is what a double free means.
//
// Invariant: the live and freed bits of a granule are never both set; a live bit is set exactly
// for the user pointers of the heap's used blocks (the integrity check verifies this).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

internal sealed unsafe class BlockStartMap : IDisposable
{
    private readonly int _granuleShift;
    private readonly nuint _words;
    private ulong* _live;
    private ulong* _freed;

    /// <summary>A map for a region of <paramref name="regionSize"/> bytes whose block starts are multiples of <paramref name="granule"/> (a power of two).</summary>
    public BlockStartMap(nuint regionSize, uint granule)
    {
        _granuleShift = BitOperations.Log2(granule);
        var granules = (regionSize >> _granuleShift) + 1;
        _words = (granules + 63) / 64;
        _live = (ulong*)NativeMemory.AllocZeroed(_words, sizeof(ulong));
        _freed = (ulong*)NativeMemory.AllocZeroed(_words, sizeof(ulong));
    }

    /// <summary>Bytes of native memory the two bitmaps take.</summary>
    public nuint ReservedBytes => _words * sizeof(ulong) * 2;

    /// <summary>Whether the block start at <paramref name="offset"/> (a multiple of the granule, inside the region) is live.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLive(uint offset)
    {
        var bit = offset >> _granuleShift;
        return (_live[bit >> 6] & (1UL << (int)(bit & 63))) != 0;
    }

    /// <summary>Whether <paramref name="offset"/> is the start of a block that was freed and not handed out again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsFreed(uint offset)
    {
        var bit = offset >> _granuleShift;
        return (_freed[bit >> 6] & (1UL << (int)(bit & 63))) != 0;
    }

    /// <summary>A block was handed out at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkLive(uint offset)
    {
        var bit = offset >> _granuleShift;
        var mask = 1UL << (int)(bit & 63);
        _live[bit >> 6] |= mask;
        _freed[bit >> 6] &= ~mask;
    }

    /// <summary>The block at <paramref name="offset"/> was freed (or moved away by realloc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkFreed(uint offset)
    {
        var bit = offset >> _granuleShift;
        var mask = 1UL << (int)(bit & 63);
        _live[bit >> 6] &= ~mask;
        _freed[bit >> 6] |= mask;
    }

    /// <summary>The number of live block starts.</summary>
    public nuint CountLive()
    {
        nuint count = 0;
        for (nuint i = 0; i < _words; i++)
        {
            count += (nuint)BitOperations.PopCount(_live[i]);
        }

        return count;
    }

    /// <summary>Calls <paramref name="visitor"/> with the offset of every live block start, in address order.</summary>
    public void ForEachLive(Action<uint> visitor)
    {
        for (nuint i = 0; i < _words; i++)
        {
            var word = _live[i];
            while (word != 0)
            {
                var bit = BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                visitor((uint)(((i * 64) + (nuint)bit) << _granuleShift));
            }
        }
    }

    /// <summary>The offset of the first live block start at or after <paramref name="offset"/>, or <see cref="uint.MaxValue"/> when there is none.</summary>
    public uint NextLive(uint offset)
    {
        var bit = (nuint)(offset >> _granuleShift);
        var index = bit >> 6;
        if (index >= _words)
        {
            return uint.MaxValue;
        }

        var word = _live[index] & (~0UL << (int)(bit & 63));
        while (true)
        {
            if (word != 0)
            {
                return (uint)(((index * 64) + (nuint)BitOperations.TrailingZeroCount(word)) << _granuleShift);
            }

            if (++index >= _words)
            {
                return uint.MaxValue;
            }

            word = _live[index];
        }
    }

    public void Dispose()
    {
        NativeMemory.Free(_live);
        NativeMemory.Free(_freed);
        _live = null;
        _freed = null;
    }
}

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
// The two bits of a granule sit side by side in one word (live at bit 2k, freed at 2k+1), so a
// malloc or a free reads and writes one word where two separate bitmaps cost two cache lines.
//
// Invariant: the live and freed bits of a granule are never both set; a live bit is set exactly
// for the user pointers of the heap's used blocks (the integrity check verifies this).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

internal sealed unsafe class BlockStartMap : IDisposable
{
    /// <summary>The live bits of a word: the even bits.</summary>
    private const ulong LiveBits = 0x5555_5555_5555_5555UL;

    private readonly int _granuleShift;
    private readonly nuint _words;
    private ulong* _bits;

    public BlockStartMap(nuint regionSize, uint granule)
    {
        _granuleShift = BitOperations.Log2(granule);
        var granules = (regionSize >> _granuleShift) + 1;
        _words = (granules + 31) / 32;
        _bits = (ulong*)NativeMemory.AllocZeroed(_words, sizeof(ulong));
    }

    public nuint ReservedBytes => _words * sizeof(ulong);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLive(uint offset)
    {
        var granule = offset >> _granuleShift;
        return (_bits[granule >> 5] & (1UL << (int)((granule & 31) * 2))) != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsFreed(uint offset)
    {
        var granule = offset >> _granuleShift;
        return (_bits[granule >> 5] & (2UL << (int)((granule & 31) * 2))) != 0;
    }

    /// <summary>Live, and no longer freed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkLive(uint offset)
    {
        var granule = offset >> _granuleShift;
        var shift = (int)((granule & 31) * 2);
        ref var word = ref _bits[granule >> 5];
        word = (word & ~(3UL << shift)) | (1UL << shift);
    }

    /// <summary>Freed, and no longer live.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkFreed(uint offset)
    {
        var granule = offset >> _granuleShift;
        var shift = (int)((granule & 31) * 2);
        ref var word = ref _bits[granule >> 5];
        word = (word & ~(3UL << shift)) | (2UL << shift);
    }

    public nuint CountLive()
    {
        nuint count = 0;
        for (nuint i = 0; i < _words; i++)
        {
            count += (nuint)BitOperations.PopCount(_bits[i] & LiveBits);
        }

        return count;
    }

    public void ForEachLive(Action<uint> visitor)
    {
        for (nuint i = 0; i < _words; i++)
        {
            var word = _bits[i] & LiveBits;
            while (word != 0)
            {
                var bit = BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                visitor((uint)(((i * 32) + (nuint)(bit / 2)) << _granuleShift));
            }
        }
    }

    /// <summary>The first live block start at or after <paramref name="offset"/>, or <see cref="uint.MaxValue"/>.</summary>
    public uint NextLive(uint offset)
    {
        var granule = (nuint)(offset >> _granuleShift);
        var index = granule >> 5;
        if (index >= _words)
        {
            return uint.MaxValue;
        }

        var word = _bits[index] & LiveBits & (~0UL << (int)((granule & 31) * 2));
        while (true)
        {
            if (word != 0)
            {
                return (uint)(((index * 32) + (nuint)(BitOperations.TrailingZeroCount(word) / 2)) << _granuleShift);
            }

            if (++index >= _words)
            {
                return uint.MaxValue;
            }

            word = _bits[index] & LiveBits;
        }
    }

    public void Dispose()
    {
        NativeMemory.Free(_bits);
        _bits = null;
    }
}

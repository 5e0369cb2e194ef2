// Mapping: the size-to-list functions of the TLSF white paper as espressif/tlsf implements them
// (tlsf_control_functions.h: mapping_insert, mapping_search; tlsf.c: tlsf_fit_size).
//
// A size s maps to a first level fl (its power of two) and a second level sl (the next SL_LOG2
// bits below the top bit). Sizes below SMALL_BLOCK all go to fl 0, one list per 4 bytes, so those
// lists hold blocks of one exact size. Above that, the list (fl, sl) holds sizes in
// [start, start + interval) with interval = 2^(floor(log2 s) - SL_LOG2).
//
// Allocation rounds the request UP to the start of the next class ("good fit"), so that any block
// of the list it lands on is large enough; the caller keeps the rounded size (espressif/tlsf PR #2).
// The converse, tlsf_fit_size, rounds a free block's size DOWN to the start of its class: the
// largest request that maps to that block's own list, hence guaranteed to succeed.
using System.Numerics;
using System.Runtime.CompilerServices;

namespace MemTrace.Tlsf;

internal static class Mapping
{
    /// <summary>mapping_insert(): the list (fl, sl) a free block of <paramref name="size"/> bytes belongs to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Insert(uint size, int slLog2, int flShift, uint smallBlockSize, out int fl, out int sl)
    {
        if (size < smallBlockSize)
        {
            // small_block_size / sl_index_count == ALIGN_SIZE (4): one list per 4 bytes.
            fl = 0;
            sl = (int)(size >> TlsfConfiguration.AlignSizeLog2);
        }
        else
        {
            var top = BitOperations.Log2(size);
            sl = (int)(size >> (top - slLog2)) ^ (1 << slLog2);
            fl = top - (flShift - 1);
        }
    }

    /// <summary>
    /// The rounding of mapping_search(): a request of at least SMALL_BLOCK bytes goes up to the start of the next
    /// class, <c>align_up(size, 2^(fls(size) - SL_LOG2))</c>. Smaller requests are exact. Requires <c>size &lt; 2^31</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint RoundUpToClass(uint size, int slLog2, uint smallBlockSize)
    {
        if (size >= smallBlockSize)
        {
            var round = 1u << (BitOperations.Log2(size) - slLog2);
            size = (size + round - 1) & ~(round - 1);
        }

        return size;
    }

    /// <summary>The smallest size of list (fl, sl): the start of that class.</summary>
    public static uint ClassStart(int fl, int sl, int slLog2, int flShift)
    {
        if (fl == 0)
        {
            return (uint)sl << TlsfConfiguration.AlignSizeLog2;
        }

        var top = fl + flShift - 1;
        return (1u << top) + ((uint)sl << (top - slLog2));
    }

    /// <summary>
    /// tlsf_fit_size() for a free block of <paramref name="size"/> bytes: below SMALL_BLOCK the request
    /// adjusted to 4 bytes and the 12-byte minimum; above, the size rounded down to the start of its class.
    /// </summary>
    public static uint FitSize(uint size, int slLog2, uint smallBlockSize)
    {
        if (size == 0)
        {
            return 0;
        }

        if (size < smallBlockSize)
        {
            var aligned = (size + TlsfConfiguration.AlignSize - 1) & ~(TlsfConfiguration.AlignSize - 1);
            return Math.Max(aligned, TlsfConfiguration.BlockSizeMin);
        }

        var interval = 1u << (BitOperations.Log2(size) - slLog2);
        return size & ~(interval - 1);
    }
}

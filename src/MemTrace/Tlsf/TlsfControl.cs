// TlsfControl: control_t of espressif/tlsf. With MultiHeapHeader it is the metadata ESP-IDF keeps
// at the start of every heap, laid out exactly as on a 32-bit chip (pointers become 32-bit offsets from the
// region base) so that the metadata costs what it costs on the chip:
//
//     region + 0    MultiHeapHeader (heap_t of multi_heap.c, 20 bytes)
//     region + 20   TlsfControl     (control_t of espressif/tlsf, 56 bytes)
//     region + 76   sl_bitmap[fl_index_count]                 (4 bytes each)
//                   blocks[fl_index_count * sl_index_count]   (4-byte block offsets)
//     region + 20 + control size: the pool (first block's size word, then its data, ...)
//
// The configuration fields of control_t are written for fidelity (and checked by the integrity
// check, which catches writes below the first block); the allocator reads its own copies.
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

/// <summary>
/// control_t of espressif/tlsf on a 32-bit chip (56 bytes). Empty free lists point at
/// <see cref="BlockNull"/>, whose next_free/prev_free point at itself.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 56)]
internal struct TlsfControl
{
    /// <summary>block_null: the sentinel every empty list head and list end points at.</summary>
    public BlockHeader BlockNull;

    /// <summary>fl_index_count.</summary>
    public uint FlIndexCount;

    /// <summary>fl_index_shift.</summary>
    public uint FlIndexShift;

    /// <summary>fl_index_max.</summary>
    public uint FlIndexMax;

    /// <summary>sl_index_count.</summary>
    public uint SlIndexCount;

    /// <summary>sl_index_count_log2.</summary>
    public uint SlIndexCountLog2;

    /// <summary>small_block_size.</summary>
    public uint SmallBlockSize;

    /// <summary>size: the whole control structure (tlsf_size()).</summary>
    public uint Size;

    /// <summary>fl_bitmap: bit fl set when some list of that first level is non-empty.</summary>
    public uint FlBitmap;

    /// <summary>sl_bitmap: offset of the sl bitmap array (a pointer on the chip).</summary>
    public uint SlBitmap;

    /// <summary>blocks: offset of the list-head array (a pointer on the chip).</summary>
    public uint Blocks;
}

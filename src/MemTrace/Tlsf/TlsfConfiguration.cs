// TlsfConfiguration: the per-heap TLSF parameters of ESP-IDF's TLSF fork, derived from the size
// of the heap exactly as the chip derives them, so that a region of N bytes here has the same
// free-list geometry, control-structure size and free bytes as a heap of N bytes on an ESP32.
//
// Sources (checked line by line, not copied):
// - espressif/tlsf `tlsf.c` control_construct(): fl_index_max = 32 - clz(bytes);
//   sl_index_count_log2 = 3 (bytes <= 16 KiB), 4 (<= 256 KiB), else 5;
//   fl_index_shift = sl_index_count_log2 + ALIGN_SIZE_LOG2; sl_index_count = 1 << log2;
//   fl_index_count = fl_index_max - fl_index_shift + 1; small_block_size = 1 << fl_index_shift;
//   size = sizeof(control_t) + 4 * fl_index_count + 4 * fl_index_count * sl_index_count.
// - espressif/tlsf `tlsf_common.h`: control_t = { block_header_t block_null (16 B); six unsigned
//   ints; size_t size; unsigned fl_bitmap; unsigned* sl_bitmap; block_header_t** blocks }, which
//   is 56 bytes on a 32-bit chip (16 + 6*4 + 4 + 4 + 4 + 4). ALIGN_SIZE = 4.
// - espressif/esp-idf `components/heap/multi_heap.c` multi_heap_register_impl(): the 20-byte
//   heap_t {lock, free_bytes, minimum_free_bytes, pool_size, heap_data} sits at the region start
//   and TLSF gets `size - sizeof(heap_t)` bytes, so `bytes` above is the region size minus 20.
//
// Every size here is a 32-bit quantity, as on the chip; regions are limited to int.MaxValue bytes
// so that fl_index_max <= 31 and no 32-bit size arithmetic can overflow.
using System.Numerics;

namespace MemTrace.Tlsf;

/// <summary>
/// The TLSF geometry of one heap (ESP-IDF fork, 32-bit chip).
/// Invariants: <c>SmallBlockSize / SlIndexCount == AlignSize</c> (4), <c>SlIndexCount &lt;= 32</c>,
/// <c>FlIndexCount &lt;= 32</c>, and every free block of the pool maps to an fl below <see cref="FlIndexCount"/>.
/// </summary>
internal readonly struct TlsfConfiguration
{
    /// <summary>ALIGN_SIZE_LOG2: every block size is a multiple of 4.</summary>
    public const int AlignSizeLog2 = 2;

    /// <summary>ALIGN_SIZE.</summary>
    public const uint AlignSize = 1u << AlignSizeLog2;

    /// <summary>sizeof(heap_t) of multi_heap.c on a 32-bit chip.</summary>
    public const uint HeapHeaderSize = 20;

    /// <summary>sizeof(control_t) of espressif/tlsf on a 32-bit chip (before the sl bitmaps and list heads).</summary>
    public const uint ControlHeaderSize = 56;

    /// <summary>block_header_overhead: the size word every used block carries (4 bytes per allocation).</summary>
    public const uint BlockHeaderOverhead = 4;

    /// <summary>block_start_offset: user data starts this far after the header (prev_phys + size).</summary>
    public const uint BlockStartOffset = 8;

    /// <summary>sizeof(block_header_t): prev_phys, size, next_free, prev_free.</summary>
    public const uint BlockHeaderSize = 16;

    /// <summary>block_size_min: a free block must hold next_free, prev_free and the next block's prev_phys.</summary>
    public const uint BlockSizeMin = 12;

    /// <summary>tlsf_pool_overhead(): the first block's size word and the zero-size sentinel's size word.</summary>
    public const uint PoolOverhead = 2 * BlockHeaderOverhead;

    /// <summary>The largest region this model accepts (keeps fl_index_max at 31 or below).</summary>
    public const uint MaxRegionSize = int.MaxValue;

    private TlsfConfiguration(uint tlsfBytes)
    {
        TlsfBytes = tlsfBytes;
        FlIndexMax = 32 - BitOperations.LeadingZeroCount(tlsfBytes);
        SlIndexCountLog2 = tlsfBytes <= 16 * 1024 ? 3 : tlsfBytes <= 256 * 1024 ? 4 : 5;
        FlIndexShift = SlIndexCountLog2 + AlignSizeLog2;
        SlIndexCount = 1 << SlIndexCountLog2;
        FlIndexCount = FlIndexMax - FlIndexShift + 1;
        SmallBlockSize = 1u << FlIndexShift;
    }

    /// <summary>The bytes handed to tlsf_create (region size minus the 20-byte multi_heap header).</summary>
    public uint TlsfBytes { get; }

    /// <summary>fl_index_max: bit length of <see cref="TlsfBytes"/>; no block reaches 2^FlIndexMax bytes.</summary>
    public int FlIndexMax { get; }

    /// <summary>sl_index_count_log2: 3, 4 or 5 by heap size.</summary>
    public int SlIndexCountLog2 { get; }

    /// <summary>sl_index_count: second-level lists per first level.</summary>
    public int SlIndexCount { get; }

    /// <summary>fl_index_shift = SL_LOG2 + 2.</summary>
    public int FlIndexShift { get; }

    /// <summary>fl_index_count = FL_MAX - FL_SHIFT + 1.</summary>
    public int FlIndexCount { get; }

    /// <summary>small_block_size = 1 &lt;&lt; FL_SHIFT (32, 64 or 128): smaller blocks all live in fl 0, one list per 4 bytes.</summary>
    public uint SmallBlockSize { get; }

    /// <summary>tlsf_block_size_max(): requests must align to less than this.</summary>
    public uint BlockSizeMax => 1u << FlIndexMax;

    /// <summary>control_t-&gt;size: the control structure with its sl bitmaps and list heads.</summary>
    public uint ControlSize => ControlHeaderSize + (4u * (uint)FlIndexCount) + (4u * (uint)FlIndexCount * (uint)SlIndexCount);

    /// <summary>The configuration of a heap over a region of <paramref name="regionSize"/> bytes (multi_heap header included).</summary>
    public static TlsfConfiguration ForRegion(uint regionSize) => new(regionSize - HeapHeaderSize);

    /// <summary>The configuration tlsf_create gives for <paramref name="tlsfBytes"/> bytes.</summary>
    public static TlsfConfiguration ForTlsfBytes(uint tlsfBytes) => new(tlsfBytes);

    /// <summary>The free bytes multi_heap reports for a fresh heap over <paramref name="regionSize"/> bytes with 4-byte alignment: size - 20 - control size.</summary>
    public static uint InitialFreeBytes(uint regionSize) => regionSize - HeapHeaderSize - ForRegion(regionSize).ControlSize;
}

// Per-heap TLSF parameters, metadata sizes and initial free bytes, against figures derived by hand
// from the ESP-IDF sources (not from the code under test):
//
//   multi_heap_register_impl (esp-idf components/heap/multi_heap.c): heap_t is 20 bytes on a
//   32-bit chip; TLSF gets bytes = size - 20; free_bytes = bytes - tlsf_size().
//   control_construct (espressif/tlsf tlsf.c): FL_MAX = 32 - clz(bytes) (bit length);
//   SL_LOG2 = 3 if bytes <= 16384, 4 if bytes <= 262144, else 5; FL_SHIFT = SL_LOG2 + 2;
//   SMALL_BLOCK = 1 << FL_SHIFT; FL_COUNT = FL_MAX - FL_SHIFT + 1; SL_COUNT = 1 << SL_LOG2;
//   tlsf_size = sizeof(control_t) + 4*FL_COUNT + 4*FL_COUNT*SL_COUNT, where control_t
//   (espressif/tlsf tlsf_common.h) = block_null 16 + six unsigned 24 + size_t 4 + fl_bitmap 4
//   + two pointers 8 = 56 bytes.
//   tlsf_add_pool: first block size = align_down(pool bytes - 8, 4); pool bytes = free_bytes.
//
// Worked examples:
//   4 KiB:   bytes 4076    -> FL_MAX 12, SL_LOG2 3, FL_SHIFT 5, FL_COUNT 8:  56 + 32 + 256   = 344;  free 4076 - 344 = 3732
//   200 KiB: bytes 204780  -> FL_MAX 18, SL_LOG2 4, FL_SHIFT 6, FL_COUNT 13: 56 + 52 + 832   = 940;  free 203840
//   4 MiB:   bytes 4194284 -> FL_MAX 22, SL_LOG2 5, FL_SHIFT 7, FL_COUNT 16: 56 + 64 + 2048  = 2168; free 4192116
using System.Runtime.CompilerServices;
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class TlsfConfigurationTests
{
    [Theory]
    //          region     FL_MAX SL_LOG2 SMALL FL_COUNT control  initial free
    [InlineData(4096u,     12,    3,      32u,  8,       344u,    3732u)]
    [InlineData(204800u,   18,    4,      64u,  13,      940u,    203840u)]
    [InlineData(4194304u,  22,    5,      128u, 16,      2168u,   4192116u)]
    [InlineData(15360u,    14,    3,      32u,  10,      416u,    14924u)]     // 15 KiB (host test pool): bytes 15340, 56+40+320
    [InlineData(261120u,   18,    4,      64u,  13,      940u,    260160u)]    // 255 KiB: bytes 261100
    [InlineData(327680u,   19,    5,      128u, 13,      1772u,   325888u)]    // 320 KiB: bytes 327660, 56+52+1664
    public void ControlSizeAndInitialFreeMatchEspIdf(uint regionSize, int flMax, int slLog2, uint smallBlock, int flCount, uint controlSize, uint initialFree)
    {
        var config = TlsfConfiguration.ForRegion(regionSize);
        Assert.Equal(flMax, config.FlIndexMax);
        Assert.Equal(slLog2, config.SlIndexCountLog2);
        Assert.Equal(smallBlock, config.SmallBlockSize);
        Assert.Equal(flCount, config.FlIndexCount);
        Assert.Equal(controlSize, config.ControlSize);
        Assert.Equal(initialFree, TlsfConfiguration.InitialFreeBytes(regionSize));

        using var heap = new TlsfTestHeap(regionSize);
        Assert.Equal((nuint)initialFree, heap.Heap.FreeBytes);
        Assert.Equal((nuint)initialFree, heap.Heap.MinimumFreeBytes);
        Assert.Equal(20u + controlSize, heap.Heap.MetadataBytes);

        // One free block of align_down(free - 8, 4) bytes whose data starts after the control structure and the size word.
        var info = heap.Heap.GetInfo();
        Assert.Equal((nuint)1, info.FreeBlocks);
        Assert.Equal((nuint)0, info.AllocatedBlocks);
        Assert.Equal((nuint)0, info.TotalAllocatedBytes);
        nuint firstSize = (initialFree - 8) & ~3u;
        var blocks = new List<(nuint Address, nuint Size, bool Used)>();
        heap.Heap.Walk((address, size, used) =>
        {
            blocks.Add((address, size, used));
            return true;
        });
        Assert.Equal([((nuint)(heap.Memory + 20 + controlSize + 4), firstSize, false)], blocks);
        heap.AssertIntact();
    }

    [Fact]
    public void InitialFreeForReportedRegionSizes()
    {
        // The figures the report quotes (alignment 4).
        Assert.Equal(3732u, TlsfConfiguration.InitialFreeBytes(4 * 1024));
        Assert.Equal(203840u, TlsfConfiguration.InitialFreeBytes(200 * 1024));
        Assert.Equal(4192116u, TlsfConfiguration.InitialFreeBytes(4 * 1024 * 1024));
    }

    [Theory]
    // The SL_LOG2 thresholds apply to bytes = region - 20: 16384 -> 3, 16388 -> 4; 262144 -> 4, 262148 -> 5.
    [InlineData(16404u, 3, 32u, 15, 11, 452u)]     // 56 + 44 + 11*8*4
    [InlineData(16408u, 4, 64u, 15, 10, 736u)]     // 56 + 40 + 10*16*4
    [InlineData(262164u, 4, 64u, 19, 14, 1008u)]   // 56 + 56 + 14*16*4
    [InlineData(262168u, 5, 128u, 19, 13, 1772u)]  // 56 + 52 + 13*32*4
    public void SecondLevelSizeSwitchesAt16And256KiB(uint regionSize, int slLog2, uint smallBlock, int flMax, int flCount, uint controlSize)
    {
        var config = TlsfConfiguration.ForRegion(regionSize);
        Assert.Equal(slLog2, config.SlIndexCountLog2);
        Assert.Equal(1 << slLog2, config.SlIndexCount);
        Assert.Equal(slLog2 + 2, config.FlIndexShift);
        Assert.Equal(smallBlock, config.SmallBlockSize);
        Assert.Equal(flMax, config.FlIndexMax);
        Assert.Equal(flCount, config.FlIndexCount);
        Assert.Equal(controlSize, config.ControlSize);

        using var heap = new TlsfTestHeap(regionSize);
        Assert.Equal((nuint)(regionSize - 20 - controlSize), heap.Heap.FreeBytes);
        heap.AssertIntact();
    }

    [Fact]
    public void StructuresHaveTheChipLayout()
    {
        Assert.Equal(16, sizeof(BlockHeader));
        Assert.Equal(56, sizeof(TlsfControl));
        Assert.Equal(20, sizeof(MultiHeapHeader));
        var header = default(BlockHeader);
        Assert.Equal(4, (int)Unsafe.ByteOffset(ref Unsafe.As<BlockHeader, byte>(ref header), ref Unsafe.As<uint, byte>(ref header.SizeWord)));
        Assert.Equal(8, (int)Unsafe.ByteOffset(ref Unsafe.As<BlockHeader, byte>(ref header), ref Unsafe.As<uint, byte>(ref header.NextFree)));
        var control = default(TlsfControl);
        Assert.Equal(44, (int)Unsafe.ByteOffset(ref Unsafe.As<TlsfControl, byte>(ref control), ref Unsafe.As<uint, byte>(ref control.FlBitmap)));
        Assert.Equal(52, (int)Unsafe.ByteOffset(ref Unsafe.As<TlsfControl, byte>(ref control), ref Unsafe.As<uint, byte>(ref control.Blocks)));
        Assert.Equal(16u, TlsfConfiguration.BlockHeaderSize);
        Assert.Equal(12u, TlsfConfiguration.BlockSizeMin);
        Assert.Equal(8u, TlsfConfiguration.PoolOverhead);
    }

    [Fact]
    public void MetadataIsWrittenIntoTheRegionAsOnTheChip()
    {
        using var heap = new TlsfTestHeap(4096);
        var words = (uint*)heap.Memory;

        // heap_t: lock, free_bytes, minimum_free_bytes, pool_size, heap_data (= region + 20).
        Assert.Equal(0u, words[0]);
        Assert.Equal(3732u, words[1]);
        Assert.Equal(3732u, words[2]);
        Assert.Equal(4076u, words[3]);
        Assert.Equal(20u, words[4]);

        // control_t after block_null: fl_index_count, fl_index_shift, fl_index_max, sl_index_count, sl_index_count_log2,
        // small_block_size, size; then fl_bitmap, sl_bitmap, blocks.
        var control = (uint*)(heap.Memory + 20);
        Assert.Equal([8u, 5u, 12u, 8u, 3u, 32u, 344u], new ReadOnlySpan<uint>(control + 4, 7).ToArray());
        Assert.Equal(20u + 56u, control[12]);
        Assert.Equal(20u + 56u + (4u * 8u), control[13]);

        // The one free block (3724 bytes) is in fl 11 - 4 = 7, sl (3724 >> 8) ^ 8 = 6.
        Assert.Equal(1u << 7, control[11]);
        var slBitmap = (uint*)(heap.Memory + control[12]);
        Assert.Equal(1u << 6, slBitmap[7]);
    }

    [Theory]
    [InlineData(4u)]
    [InlineData(8u)]
    [InlineData(16u)]
    public void TooSmallRegionsAreRefused(uint alignment)
    {
        var minimum = TlsfHeap.MinimumRegionSize(alignment);
        Assert.InRange(minimum, 100u, 400u);
        var memory = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(1024, 64);
        try
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfHeap(memory, minimum - 4, alignment));
            using var heap = new TlsfHeap(memory, 1024, alignment);
            Assert.Equal(0, heap.Check());
            Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfHeap(memory + 2, 512, alignment));
            Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfHeap(memory, 512, 32));
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(memory);
        }
    }
}

// Bad input on a chip layout: each gives ESP-IDF's result or a reported error, and the heap passes
// its integrity check afterwards with its statistics unchanged.
using System.Runtime.InteropServices;
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsChipBadInputTests
{
    [Theory]
    [InlineData(5ul << 20)]
    [InlineData(0x400001ul)]
    [InlineData(ulong.MaxValue)]
    [InlineData(ulong.MaxValue - 3)]
    [InlineData(ulong.MaxValue / 2)]
    public void Sizes_larger_than_any_region_or_near_the_limit_fail_with_the_callback(ulong size)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var before = Snapshot(f.Heap);

        Assert.True(f.Heap.Malloc((nuint)size, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc((nuint)size, MallocCaps.Bit32) == null);
        Assert.True(f.Heap.Calloc(1, (nuint)size, MallocCaps.Default) == null);
        Assert.True(f.Heap.AlignedAlloc(64, (nuint)size, MallocCaps.Default) == null);

        Assert.Equal(4, f.Failures.Calls.Count);
        AssertUnchanged(f, before);
    }

    [Theory]
    [InlineData(MallocCaps.Exec | MallocCaps.Bit8)]
    [InlineData(MallocCaps.Exec | MallocCaps.Dma)]
    [InlineData(MallocCaps.Invalid)]
    [InlineData(MallocCaps.Default | MallocCaps.Invalid)]
    [InlineData((MallocCaps)(1u << 30))]
    [InlineData(MallocCaps.Spiram | MallocCaps.Internal)]
    public void Impossible_caps_give_null_and_the_callback(MallocCaps caps)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var before = Snapshot(f.Heap);

        Assert.True(f.Heap.Malloc(64, caps) == null);

        Assert.Single(f.Failures.Calls);
        AssertUnchanged(f, before);
    }

    [Theory]
    [InlineData(0ul)]
    [InlineData(3ul)]
    [InlineData(12ul)]
    [InlineData(ulong.MaxValue)]
    public void A_bad_alignment_gives_null_without_callback(ulong alignment)
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var before = Snapshot(f.Heap);

        Assert.True(f.Heap.AlignedAlloc((nuint)alignment, 64, MallocCaps.Default) == null);

        Assert.Empty(f.Failures.Calls);
        AssertUnchanged(f, before);
    }

    [Fact]
    public void A_double_free_is_reported_and_ignored()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var keep = f.Heap.Malloc(100, MallocCaps.Default);
        var p = f.Heap.Malloc(100, MallocCaps.Default);
        f.Heap.Free(p);
        var before = Snapshot(f.Heap);

        f.Heap.Free(p);

        Assert.Equal(MemoryErrorKind.DoubleFree, Assert.Single(f.Heap.RecentErrors).Kind);
        Assert.Equal("DRAM", f.Heap.RecentErrors[0].RegionName);
        AssertUnchanged(f, before);
        f.Heap.Free(keep);
    }

    [Fact]
    public void A_pointer_inside_a_region_that_is_not_a_block_start_is_reported()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = (byte*)f.Heap.Malloc(100, MallocCaps.Default);
        var before = Snapshot(f.Heap);

        f.Heap.Free(p + 8);
        f.Heap.Free(p + 1);
        f.Heap.Free(p - 4); // The block's own TLSF header.

        Assert.Equal(3, f.Heap.ErrorCount);
        Assert.Equal(MemoryErrorKind.InteriorPointer, f.Heap.RecentErrors[0].Kind);
        Assert.Equal((nuint)p, f.Heap.RecentErrors[0].BlockAddress);
        Assert.Equal(MemoryErrorKind.InteriorPointer, f.Heap.RecentErrors[1].Kind);
        Assert.Equal(MemoryErrorKind.InvalidPointer, f.Heap.RecentErrors[2].Kind);
        AssertUnchanged(f, before);
        f.Heap.Free(p);
    }

    [Fact]
    public void A_pointer_outside_every_region_is_reported_with_ESP_IDFs_words()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var native = NativeMemory.Alloc(64);
        var before = Snapshot(f.Heap);
        try
        {
            f.Heap.Free(native);
            f.Heap.Free((void*)0x10);
            Assert.True(f.Heap.Realloc(native, 128, MallocCaps.Default) == null);
        }
        finally
        {
            NativeMemory.Free(native);
        }

        Assert.Equal(3, f.Heap.ErrorCount);
        Assert.All(f.Heap.RecentErrors, e => Assert.Equal(MemoryErrorKind.OutsideHeap, e.Kind));
        Assert.Contains("heap_caps_free() target pointer 0x10 is outside heap areas", f.Heap.RecentErrors[1].Message, StringComparison.Ordinal);
        Assert.Empty(f.Failures.Calls);
        AssertUnchanged(f, before);
    }

    [Fact]
    public void Realloc_of_a_freed_block_is_reported_and_changes_nothing()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = f.Heap.Malloc(100, MallocCaps.Default);
        f.Heap.Free(p);
        var before = Snapshot(f.Heap);

        Assert.True(f.Heap.Realloc(p, 200, MallocCaps.Default) == null);
        Assert.True(f.Heap.Realloc(p, 50, MallocCaps.Exec) == null); // The move path checks too.

        Assert.All(f.Heap.RecentErrors, e => Assert.Equal(MemoryErrorKind.ReallocOfFreedBlock, e.Kind));
        Assert.Equal(2, f.Heap.ErrorCount);
        Assert.Empty(f.Failures.Calls);
        AssertUnchanged(f, before);
    }

    [Fact]
    public void A_freed_block_coalesced_into_its_neighbour_is_still_not_freed_twice()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var a = f.Heap.Malloc(64, MallocCaps.Default);
        var b = f.Heap.Malloc(64, MallocCaps.Default);
        f.Heap.Free(b);
        f.Heap.Free(a); // a and b merge into one free block.
        var before = Snapshot(f.Heap);

        f.Heap.Free(b);

        Assert.Equal(1, f.Heap.ErrorCount);
        Assert.Contains(f.Heap.RecentErrors[0].Kind, new[] { MemoryErrorKind.DoubleFree, MemoryErrorKind.InvalidPointer });
        AssertUnchanged(f, before);
    }

    [Fact]
    public void A_block_whose_TLSF_header_was_overwritten_is_reported_as_corrupt_and_left_alone()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var before = (byte*)f.Heap.Malloc(32, MallocCaps.Default);
        var victim = (byte*)f.Heap.Malloc(32, MallocCaps.Default);
        var sizeWord = (uint*)(victim - 4);
        var saved = *sizeWord;

        *sizeWord = saved + 64; // An overrun of `before` reaching into victim's header.
        f.Heap.Free(victim);

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.CorruptBlock, error.Kind);
        Assert.Equal((nuint)victim, error.BlockAddress);
        Assert.Contains("allocator header was overwritten", error.Note, StringComparison.Ordinal);
        *sizeWord = saved; // Repaired: the block was left as it was, and frees normally.
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        f.Heap.Free(victim);
        f.Heap.Free(before);
        Assert.Equal(1, f.Heap.ErrorCount);
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }

    [Fact]
    public void GetAllocatedSize_of_bad_pointers_is_zero_and_harmless()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = (byte*)f.Heap.Malloc(100, MallocCaps.Default);
        var before = Snapshot(f.Heap);

        Assert.Equal(0u, f.Heap.GetAllocatedSize(p + 4));
        Assert.Equal(0u, f.Heap.GetAllocatedSize((void*)0x10));
        Assert.True(f.Heap.GetAllocatedSize(p) >= 100);

        AssertUnchanged(f, before);
        f.Heap.Free(p);
    }

    private static (nuint Free, nuint Allocated, nuint Blocks) Snapshot(HeapCaps heap)
    {
        var info = heap.GetInfo(MallocCaps.None);
        return (info.TotalFreeBytes, info.TotalAllocatedBytes, info.AllocatedBlocks);
    }

    private static void AssertUnchanged(ChipFixture f, (nuint Free, nuint Allocated, nuint Blocks) before)
    {
        Assert.Equal(before, Snapshot(f.Heap));
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }
}

// Aligned blocks under poisoning over TLSF, placed as ESP-IDF places them: multi_heap_aligned_alloc asks
// multi_heap_aligned_alloc_impl_offs (tlsf_memalign_offs) for size + POISON_OVERHEAD with the head as the
// offset, so the user bytes are aligned, the head lies right before them as in any block, and the gap in
// front goes back to the free lists. The block costs what a plain block of the same size does.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningAlignedTests
{
    public static TheoryData<string, PoisoningLevel, int> Cases()
    {
        var data = new TheoryData<string, PoisoningLevel, int>();
        foreach (var layout in new[] { "esp32", "esp32s3", "tlsf16" })
        {
            foreach (var level in new[] { PoisoningLevel.Light, PoisoningLevel.Comprehensive })
            {
                foreach (var alignment in new[] { 8, 16, 32, 64, 1024, 4096 })
                {
                    data.Add(layout, level, alignment);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void An_aligned_block_costs_what_a_plain_block_does(string layout, PoisoningLevel level, int alignment)
    {
        using var heap = Create(layout, level);
        var before = heap.GetFreeSize(Caps);
        var plain = (byte*)heap.Malloc(100, Caps);
        var plainCost = before - heap.GetFreeSize(Caps);
        var plainAllocated = heap.GetAllocatedSize(plain);
        heap.Free(plain);
        Assert.Equal(before, heap.GetFreeSize(Caps));

        var aligned = (byte*)heap.AlignedAlloc((nuint)alignment, 100, Caps);
        Assert.True(aligned is not null);
        Assert.Equal(0u, (nuint)aligned % (nuint)alignment);
        Assert.Equal(plainCost, before - heap.GetFreeSize(Caps)); // Before: up to the alignment more (1 132 bytes for 1024).
        Assert.Equal(plainAllocated, heap.GetAllocatedSize(aligned));
        Assert.True(heap.CheckIntegrityAll(print: false));

        heap.Free(aligned);
        Assert.Equal(before, heap.GetFreeSize(Caps));
        Assert.True(heap.CheckIntegrityAll(print: false)); // Comprehensive: the gap given back is free memory, filled and verified.
        Assert.Empty(heap.RecentErrors);
    }

    [Theory]
    [InlineData("esp32", 8)]
    [InlineData("tlsf16", 16)]
    public void The_head_lies_right_before_the_aligned_bytes_as_in_a_plain_block(string layout, int head)
    {
        using var heap = Create(layout, PoisoningLevel.Light);
        var p = (byte*)heap.AlignedAlloc(256, 41, Caps);

        PoisoningLayoutTests.AssertHeadAndTail(p, head, 41);
        heap.Free(p);
        Assert.Empty(heap.RecentErrors);
    }

    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void An_overrun_of_an_aligned_block_is_reported_on_free(PoisoningLevel level)
    {
        using var heap = Create("esp32", level);
        var p = (byte*)heap.AlignedAlloc(1024, 100, Caps);
        p[100] = 0x00;

        Assert.False(heap.CheckIntegrityAll(print: false));
        heap.Free(p);

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferOverflow, error.Kind);
        Assert.Equal((nuint)(p + 100), error.DamagedAddress);
    }

    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void An_underrun_of_an_aligned_block_reaching_the_head_canary_is_reported_on_free(PoisoningLevel level)
    {
        using var heap = Create("esp32", level);
        var p = (byte*)heap.AlignedAlloc(1024, 100, Caps);
        p[-5] = 0x00; // The head canary's high byte; 1 to 4 bytes before reach only the size, as on the chip.

        heap.Free(p);

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferUnderflow, error.Kind);
        Assert.Equal((nuint)(p - 5), error.DamagedAddress);
    }

    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void An_aligned_block_reallocated_keeps_its_contents_and_frees_cleanly(PoisoningLevel level)
    {
        using var heap = Create("esp32", level);
        var before = heap.GetFreeSize(Caps);
        var p = (byte*)heap.AlignedAlloc(512, 64, Caps);
        for (var i = 0; i < 64; i++)
        {
            p[i] = (byte)i;
        }

        var grown = (byte*)heap.Realloc(p, 5000, Caps);
        Assert.True(grown is not null);
        for (var i = 0; i < 64; i++)
        {
            Assert.Equal((byte)i, grown[i]);
        }

        var shrunk = (byte*)heap.Realloc(grown, 20, Caps);
        Assert.True(shrunk is not null);
        Assert.Equal(19, shrunk[19]);
        heap.Free(shrunk);

        Assert.Equal(before, heap.GetFreeSize(Caps));
        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Empty(heap.RecentErrors);
    }

    [Fact]
    public void Many_aligned_blocks_fit_where_the_gaps_used_to_fill_the_region()
    {
        // 100-byte blocks aligned to 1 KiB: with the gap kept in each block, a 32 KiB region held 28 of them; placed
        // after the head, the gaps between them are free and the region holds about as many as its size allows.
        var layout = HeapLayout.CreateBuilder("small").WithAlignment(4).AddRegion("DRAM", 32 * 1024, MallocCaps.Default | MallocCaps.Internal | MallocCaps.Bit8 | MallocCaps.Bit32).Build();
        using var heap = new HeapCaps(layout, new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        var blocks = new List<nint>();
        for (var i = 0; i < 200; i++)
        {
            var p = heap.AlignedAlloc(1024, 100, MallocCaps.Default);
            if (p is null)
            {
                break;
            }

            blocks.Add((nint)p);
        }

        Assert.InRange(blocks.Count, 30, 32); // One per kibibyte boundary; the heap's control block takes the first.
        Assert.True(heap.CheckIntegrityAll(print: false));

        // The gaps are usable: plain blocks fit between the aligned ones.
        var small = new List<nint>();
        for (var i = 0; i < 100; i++)
        {
            var p = heap.Malloc(200, MallocCaps.Default);
            if (p is null)
            {
                break;
            }

            small.Add((nint)p);
        }

        Assert.True(small.Count >= 60, $"{small.Count} blocks of 200 bytes fit in the gaps");
        foreach (var p in blocks.Concat(small))
        {
            heap.Free((void*)p);
        }

        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Empty(heap.RecentErrors);
    }

    private const MallocCaps Caps = MallocCaps.Default;

    private static HeapCaps Create(string layout, PoisoningLevel level)
    {
        var map = layout == "tlsf16"
            ? HeapLayout.CreateBuilder("tlsf16").WithAlignment(16).AddRegion("DRAM", 256 * 1024, MallocCaps.Default | MallocCaps.Internal | MallocCaps.Bit8 | MallocCaps.Bit32).Build()
            : HeapLayout.FromName(layout);
        return new HeapCaps(map, new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
    }
}

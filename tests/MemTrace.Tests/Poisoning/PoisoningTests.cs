// Poisoning on its own: fill patterns, canaries through reallocs, aligned blocks.
using System.Runtime.CompilerServices;
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningTests
{
    [Fact]
    public void Comprehensive_fills_new_blocks_with_0xCE_and_catches_a_write_after_free_on_reuse()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        var p = (byte*)heap.Malloc(64, MallocCaps.Bit8);
        Assert.True(new Span<byte>(p, 64).IndexOfAnyExcept((byte)0xCE) < 0);
        heap.Free(p);
        Assert.True(new Span<byte>(p, 64).IndexOfAnyExcept((byte)0xFE) < 0);

        p[20] = 0x00;
        var again = heap.Malloc(64, MallocCaps.Bit8); // Would hand out the same memory: the damage is seen first.

        Assert.True(again != p, "the damaged memory was handed out again");
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
        Assert.Equal((nuint)(p + 20), error.DamagedAddress);
        heap.Free(again);
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("esp32s3-psram8m")]
    [InlineData("host")]
    public void Comprehensive_realloc_leaves_the_grown_bytes_0xFE_as_ESP_IDF_does(string layout)
    {
        // multi_heap_realloc (SLOW poisoning) takes its new block with multi_heap_malloc_impl, which keeps the free
        // pattern, copies the old bytes and writes the canaries: the bytes past the old size read 0xFE, not 0xCE.
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        var p = (byte*)heap.Malloc(24, MallocCaps.Default);
        new Span<byte>(p, 24).Fill(0x11);

        var grown = (byte*)heap.Realloc(p, 300, MallocCaps.Default);

        Assert.True(grown is not null);
        Assert.True(new Span<byte>(grown, 24).IndexOfAnyExcept((byte)0x11) < 0);
        Assert.Equal(-1, new Span<byte>(grown + 24, 300 - 24).IndexOfAnyExcept((byte)0xFE));
        Assert.Equal(0xBAAD5678u, Unsafe.ReadUnaligned<uint>(grown + 300));

        var shrunk = (byte*)heap.Realloc(grown, 100, MallocCaps.Default); // Nothing grown: the bytes are the old ones.
        Assert.True(new Span<byte>(shrunk, 24).IndexOfAnyExcept((byte)0x11) < 0);
        Assert.Equal(-1, new Span<byte>(shrunk + 24, 100 - 24).IndexOfAnyExcept((byte)0xFE));
        var small = (byte*)heap.Malloc(8, MallocCaps.Default);
        Assert.Equal(0xCE, small[7]); // A malloc still fills 0xCE.
        heap.Free(small);
        heap.Free(shrunk);
        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Empty(heap.RecentErrors);
    }

    [Fact]
    public void Light_poisoning_realloc_checks_canaries_and_keeps_them_through_moves()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var p = (byte*)heap.Malloc(16, MallocCaps.Default);
        new Span<byte>(p, 16).Fill(7);

        var q = (byte*)heap.Realloc(p, 4000, MallocCaps.Default);
        Assert.True(new Span<byte>(q, 16).IndexOfAnyExcept((byte)7) < 0);
        Assert.Equal(0xBAAD5678u, Unsafe.ReadUnaligned<uint>(q + 4000));
        q[4000] = 0;

        Assert.True(heap.Realloc(q, 8000, MallocCaps.Default) == null);
        Assert.Equal(MemoryErrorKind.BufferOverflow, Assert.Single(heap.RecentErrors).Kind);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Poisoned_aligned_blocks_keep_their_alignment_and_canaries()
    {
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var p = (byte*)heap.AlignedAlloc(256, 100, MallocCaps.Default);
        var q = (byte*)heap.Malloc(100, MallocCaps.Default);

        Assert.Equal(0u, (nuint)p % 256);
        Assert.Equal(0u, (nuint)q % 16);
        Assert.True(heap.GetAllocatedSize(p) >= 100); // As ESP-IDF: the block less the poisoning, not the request.
        p[100] = 0; // The tail canary sits right after the requested bytes.
        heap.Free(p);
        heap.Free(q);
        Assert.Equal(MemoryErrorKind.BufferOverflow, Assert.Single(heap.RecentErrors).Kind);
    }

    [Theory]
    [InlineData("esp32", PoisoningLevel.Light)]
    [InlineData("esp32", PoisoningLevel.Comprehensive)]
    [InlineData("host", PoisoningLevel.Light)]
    [InlineData("host", PoisoningLevel.Comprehensive)]
    public void A_block_found_damaged_when_freed_is_set_aside_and_never_handed_out_again(string layout, PoisoningLevel level)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        var damaged = (byte*)heap.Malloc(40, MallocCaps.Default);
        damaged[40] = 0;
        heap.Free(damaged);
        var held = heap.GetInfo(MallocCaps.Default);

        var seen = new HashSet<nuint>();
        for (var i = 0; i < 2000; i++)
        {
            var p = heap.Malloc(40, MallocCaps.Default);
            seen.Add((nuint)p);
            heap.Free(p);
        }

        Assert.DoesNotContain((nuint)damaged, seen);
        Assert.Single(heap.RecentErrors);
        Assert.Equal(0u, held.AllocatedBlocks); // Not the user's any more.
        heap.Free(damaged); // Its owner gave it up: a double free.
        Assert.Equal(MemoryErrorKind.DoubleFree, heap.RecentErrors[1].Kind);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }
}

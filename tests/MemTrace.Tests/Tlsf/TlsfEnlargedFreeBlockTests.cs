// A free block's size word enlarged by an overrun (a bit flip of its second byte) so that the block seems to
// cover the live block after it. The heap must neither hand that memory out nor follow the bogus header that
// then lies inside the live block's data (found by heap-corruption fuzzing: a write far outside the region).
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class TlsfEnlargedFreeBlockTests
{
    [Fact]
    public void An_enlarged_free_block_is_not_handed_out_over_a_live_block()
    {
        using var h = new TlsfTestHeap(4096);
        var a = (byte*)h.Heap.Malloc(100);
        var hole = (byte*)h.Heap.Malloc(200);
        var b = (byte*)h.Heap.Malloc(300);
        var c = (byte*)h.Heap.Malloc(100);
        new Span<byte>(b, 300).Fill(0x7F); // b's data: looks like a free header with a huge size
        h.Heap.Free(hole, false, out _, out _);

        var sizeWord = (uint*)(hole - 4);
        var original = *sizeWord;
        *sizeWord = original + 0x100; // 204 -> 460: now runs 256 bytes into b
        Assert.NotEqual(0, h.Heap.Check());

        // Whatever malloc hands out must not overlap b, and growing it must not follow the bogus header inside b.
        var p = (byte*)h.Heap.Malloc(40);
        Assert.True(p == null || p + 40 <= b || p >= b + 300, "malloc handed out memory of a live block");
        if (p != null && p < b)
        {
            h.Heap.Realloc(p, 100, out var q, out _, out _);
            Assert.True(q == null || (byte*)q + 100 <= b || (byte*)q >= b + 300);
        }

        for (var i = 0; i < 300; i++)
        {
            Assert.Equal(0x7F, b[i]);
        }

        Assert.True(a != null && c != null);
    }

    [Theory]
    [InlineData(0x00100000u)]
    [InlineData(0x7FFFFFF0u)]
    [InlineData(0x00000010u)]
    public void An_overwritten_sentinel_is_not_followed_out_of_the_region(uint garbage)
    {
        using var h = new TlsfTestHeap(4096);
        var a = (byte*)h.Heap.Malloc(100);
        nuint lastAddress = 0, lastSize = 0;
        h.Heap.Walk((address, size, used) =>
        {
            lastAddress = address;
            lastSize = size;
            return true;
        });

        // The sentinel's size word follows the last block's data (an overrun of the last block, or a wild write).
        var sentinelSize = (uint*)(lastAddress + lastSize);
        Assert.True((byte*)sentinelSize + 4 <= h.End);
        var original = *sentinelSize;
        *sentinelSize = garbage;

        Assert.NotEqual(0, h.Heap.Check());
        var blocks = 0;
        h.Heap.Walk((_, _, _) => ++blocks < 1000);
        Assert.True(blocks < 1000);
        h.Heap.GetInfo();

        *sentinelSize = original;
        h.AssertIntact();
        Assert.True(a != null);
    }

    [Fact]
    public void A_live_blocks_damaged_size_is_never_reported_past_the_region()
    {
        // Live-block visitors (the poisoning checks, GetContainingBlockSize, bad-pointer reports) take the size from the
        // block's header: a damaged one must not send them past the pool.
        using var h = new TlsfTestHeap(4096);
        var a = (byte*)h.Heap.Malloc(100);
        var b = (byte*)h.Heap.Malloc(100);
        *(uint*)(b - 4) |= 0x7FFF0000; // b's size word, overwritten by an overrun of a.

        var sizes = new List<(nuint Address, nuint Size)>();
        h.Heap.ForEachLiveBlock((address, size, _) => sizes.Add((address, size)));

        Assert.Equal(2, sizes.Count);
        Assert.All(sizes, s => Assert.True((byte*)s.Address + s.Size <= h.End, $"block 0x{s.Address:x} reported with {s.Size} bytes"));
        Assert.NotEqual(0, h.Heap.Check());
        Assert.True(a != null);
    }
}

// The poison head and tail as ESP-IDF lays them out ({ head canary, size } before the block, the tail
// canary right after it), what each byte around a block catches, and MemTrace's additions: the
// 16-byte head of 16-aligned layouts and, on the process heap, the gap before aligned blocks are head
// canaries too.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningLayoutTests
{
    [Theory]
    [InlineData("esp32", 8)]
    [InlineData("host", 16)]
    public void The_head_is_canaries_then_the_size_and_the_tail_canary_follows_the_requested_bytes(string layout, int head)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var p = (byte*)heap.Malloc(41, MallocCaps.Bit8);

        AssertHeadAndTail(p, head, 41);
        heap.Free(p);
        Assert.Empty(heap.RecentErrors);
    }

    [Fact]
    public void On_a_16_aligned_layout_an_underrun_into_the_extra_head_is_caught()
    {
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var p = (byte*)heap.Malloc(40, MallocCaps.Default);
        p[-13] = 0x00; // 13 bytes before the block: past the canary ESP-IDF has, in the head's first 8 bytes.

        heap.Free(p);

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferUnderflow, error.Kind);
        Assert.Equal((nuint)(p - 13), error.DamagedAddress);
        Assert.Equal([0xAB, 0x34, 0x12, 0xBA, 0xAB, 0x34, 0x12, 0xBA, 0xAB], error.ExpectedBytes); // From the damaged byte to the size field.
        Assert.Equal([0x00, 0x34, 0x12, 0xBA, 0xAB, 0x34, 0x12, 0xBA, 0xAB], error.FoundBytes);
        Assert.Contains($"CORRUPT HEAP: Bad head at 0x{(nuint)(p - 16):x}. Expected 0xabba1234 got 0x00ba1234", error.Note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(256)]
    public void On_the_process_heap_the_gap_before_an_aligned_block_is_checked(int alignment)
    {
        // Over TLSF an aligned block has no gap (PoisoningAlignedTests); the process heap aligns the inner block itself.
        const string layout = "host";
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var p = (byte*)heap.AlignedAlloc((nuint)alignment, 100, MallocCaps.Default);
        Assert.Equal(0u, (nuint)p % (nuint)alignment);
        Assert.Equal(0xABBA1234u, *(uint*)(p - alignment));
        p[-alignment + 2] = 0x00;

        Assert.False(heap.CheckIntegrityAll(print: false));
        heap.Free(p);

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferUnderflow, error.Kind);
        Assert.Equal((nuint)(p - alignment + 2), error.DamagedAddress);
        Assert.Equal(0xBA, error.ExpectedBytes![0]);
        Assert.Equal(0x00, error.FoundBytes![0]);
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void The_byte_before_a_block_is_the_high_byte_of_its_size_as_on_the_chip(string layout)
    {
        // ESP-IDF's poison_head_t is { head_canary, alloc_size }: the byte just before the block is the size's high byte.
        // Writing 0x00 there changes nothing for a block under 16 MiB: no check can see it.
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        var quiet = (byte*)heap.Malloc(40, MallocCaps.Default);
        quiet[-1] = 0x00;
        Assert.True(heap.CheckIntegrityAll(print: false));
        heap.Free(quiet);
        Assert.Empty(heap.RecentErrors);

        // Any other value makes the size larger than the block: ESP-IDF's "Size at" check.
        var loud = (byte*)heap.Malloc(40, MallocCaps.Default);
        loud[-1] = 0xFF;
        heap.Free(loud);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.CorruptBlock, error.Kind);
        Assert.Equal((nuint)(loud - 1), error.DamagedAddress);
        Assert.Equal([0x00], error.ExpectedBytes); // The size was 40: where the tail canary is.
        Assert.Equal([0xFF], error.FoundBytes);
        Assert.Equal(40u, error.BlockSize);
        var room = layout == "host" ? 44 : 40; // The inner block's bytes less the head and the tail.
        Assert.Contains($"CORRUPT HEAP: Size at 0x{(nuint)(loud - 4):x} expected <=0x{room:x8} got 0xff000028", error.Note, StringComparison.Ordinal);

        // Five bytes before the block is the head canary.
        var far = (byte*)heap.Malloc(40, MallocCaps.Default);
        far[-5] = 0x00;
        heap.Free(far);
        Assert.Equal(MemoryErrorKind.BufferUnderflow, heap.RecentErrors[1].Kind);
        Assert.Equal((nuint)(far - 5), heap.RecentErrors[1].DamagedAddress);
    }

    [Theory]
    [InlineData("esp32", PoisoningLevel.Light)]
    [InlineData("esp32", PoisoningLevel.Comprehensive)]
    [InlineData("host", PoisoningLevel.Light)]
    [InlineData("host", PoisoningLevel.Comprehensive)]
    public void The_allocated_size_of_a_poisoned_block_is_ESP_IDFs_and_writing_all_of_it_breaks_the_tail_canary_as_on_the_chip(string layout, PoisoningLevel level)
    {
        // ESP-IDF's multi_heap_get_allocated_size returns the block less the 12 bytes of poisoning, at least the request
        // rounded up to 4 (its "test get allocated size" runs with poisoning on too), so it may exceed the request; the
        // tail canary sits right after the requested bytes, so writing the whole allocated size breaks it, on the chip too.
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        var p = (byte*)heap.Malloc(41, MallocCaps.Default);
        var allocated = heap.GetAllocatedSize(p);
        Assert.True(allocated >= 44, $"{allocated}");

        new Span<byte>(p, 41).Fill(0x5A);
        Assert.True(heap.CheckIntegrityAll(false));
        new Span<byte>(p, (int)allocated).Fill(0x5A);
        heap.Free(p);
        Assert.Contains(heap.RecentErrors, e => e.Kind == MemoryErrorKind.BufferOverflow);
    }

    /// <summary>A block of <paramref name="size"/> bytes at <paramref name="p"/>: head canaries, then the size, in the <paramref name="head"/> bytes before it; the tail canary right after it.</summary>
    internal static void AssertHeadAndTail(byte* p, int head, uint size)
    {
        for (var offset = -head; offset < -4; offset += 4)
        {
            Assert.Equal(0xABBA1234u, *(uint*)(p + offset));
        }

        Assert.Equal(size, *(uint*)(p - 4));
        Assert.Equal(new byte[] { 0x78, 0x56, 0xAD, 0xBA }, new ReadOnlySpan<byte>(p + size, 4).ToArray());
    }
}

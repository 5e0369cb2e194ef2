// LiveBlockTable: live and freed block starts, their sizes and tags, one slot per 16 region bytes.
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public class LiveBlockTableTests
{
    [Fact]
    public void States_sizes_tags_and_iteration()
    {
        using var table = new LiveBlockTable(4096);
        uint[] starts = [4, 24, 1012, 4092];
        foreach (var start in starts)
        {
            table.MarkLive(start, tag: start + 1, size: 12);
        }

        Assert.True(table.IsLive(4));
        Assert.False(table.IsLive(0));
        Assert.False(table.IsFreed(4));
        Assert.Equal(5u, table.GetTag(4));
        Assert.Equal(12u, table.GetSize(4));
        Assert.True(table.IsLiveWithSize(4, 12));
        Assert.False(table.IsLiveWithSize(4, 16));
        Assert.False(table.IsLiveWithSize(4, 12 | 0x8000_0000)); // An overwritten size with the top bit set.
        Assert.Equal((nuint)4, table.CountLive());

        table.SetSize(24, 40);
        table.SetTag(24, 7);
        Assert.True(table.IsLiveWithSize(24, 40));
        Assert.Equal(7u, table.GetTag(24));

        table.MarkFreed(24);
        Assert.False(table.IsLive(24));
        Assert.True(table.IsFreed(24));
        Assert.Equal(0u, table.GetTag(24));
        Assert.Equal((nuint)3, table.CountLive());

        // Handing the address out again clears the freed mark.
        table.MarkLive(24, tag: 0, size: 12);
        Assert.False(table.IsFreed(24));
        Assert.True(table.IsLive(24));

        var visited = new List<uint>();
        for (var offset = table.NextLive(0); offset != uint.MaxValue; offset = table.NextLive(offset + 4))
        {
            visited.Add(offset);
        }

        Assert.Equal(starts, visited);
        Assert.Equal(uint.MaxValue, table.NextLive(4096));
        Assert.Equal(1012u, table.NextLive(28));
        Assert.Equal(1012u, table.NextLive(1012));
        Assert.Equal(4092u, table.NextLive(1016));
    }

    [Fact]
    public void A_pointer_inside_the_slot_of_a_start_is_neither_live_nor_freed()
    {
        using var table = new LiveBlockTable(4096);
        table.MarkLive(36, tag: 9, size: 100); // Slot 2, position 1.
        foreach (var other in new uint[] { 32, 40, 44 })
        {
            Assert.False(table.IsLive(other));
            Assert.False(table.IsFreed(other));
            Assert.False(table.IsLiveWithSize(other, 100));
        }

        table.MarkFreed(36);
        Assert.True(table.IsFreed(36));
        foreach (var other in new uint[] { 32, 40, 44 })
        {
            Assert.False(table.IsFreed(other));
        }

        // Another start in the same slot leaves the freed start freed: a second free of it is still a double free.
        table.MarkLive(44, tag: 1, size: 12);
        Assert.True(table.IsFreed(36));
        Assert.False(table.IsFreed(44));
        table.MarkFreed(44);
        Assert.True(table.IsFreed(36));
        Assert.True(table.IsFreed(44));
    }

    [Fact]
    public void The_largest_sizes_keep_their_bits()
    {
        using var table = new LiveBlockTable(1u << 20);
        const uint size = 0x7FFF_FFFC; // The largest multiple of 4 below 2^31.
        table.MarkLive(12, tag: uint.MaxValue, size: size);
        Assert.True(table.IsLiveWithSize(12, size));
        Assert.Equal(size, table.GetSize(12));
        Assert.Equal(uint.MaxValue, table.GetTag(12));
        Assert.Equal(12u, table.NextLive(0));
    }
}

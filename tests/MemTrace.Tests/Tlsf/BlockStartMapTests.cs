// BlockStartMap: live and freed block starts per granule, and the iteration helpers.
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public class BlockStartMapTests
{
    [Theory]
    [InlineData(4u)]
    [InlineData(16u)]
    public void StatesAndIteration(uint granule)
    {
        using var map = new BlockStartMap(4096, granule);
        uint[] starts = [granule, 2 * granule, 252 * granule, 4096 - granule];
        foreach (var start in starts)
        {
            map.MarkLive(start);
        }

        Assert.True(map.IsLive(granule));
        Assert.False(map.IsLive(0));
        Assert.False(map.IsFreed(granule));
        Assert.Equal((nuint)4, map.CountLive());

        map.MarkFreed(2 * granule);
        Assert.False(map.IsLive(2 * granule));
        Assert.True(map.IsFreed(2 * granule));
        Assert.Equal((nuint)3, map.CountLive());

        // Handing the address out again clears the freed mark.
        map.MarkLive(2 * granule);
        Assert.False(map.IsFreed(2 * granule));

        var visited = new List<uint>();
        map.ForEachLive(visited.Add);
        Assert.Equal(starts, visited);

        visited.Clear();
        for (var offset = map.NextLive(0); offset != uint.MaxValue; offset = map.NextLive(offset + granule))
        {
            visited.Add(offset);
        }

        Assert.Equal(starts, visited);
        Assert.Equal(uint.MaxValue, map.NextLive(4096));
        Assert.Equal(252 * granule, map.NextLive((3 * granule) + 1));
    }
}

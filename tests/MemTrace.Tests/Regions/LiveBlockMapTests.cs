using MemTrace.Regions;
using Xunit;

namespace MemTrace.Tests.Regions;

public class LiveBlockMapTests
{
    [Fact]
    public void A_marked_address_is_live_and_its_claim_succeeds_once()
    {
        using var map = new LiveBlockMap();
        var address = unchecked((nuint)0x7f00_1234_5670);

        Assert.True(map.MarkLive(address));

        Assert.Equal(BlockState.Live, map.Get(address));
        Assert.Equal(BlockState.Live, map.TryClaim(address));
        Assert.Equal(BlockState.Freed, map.TryClaim(address));
        Assert.Equal(BlockState.Freed, map.Get(address));
    }

    [Fact]
    public void Unmarked_neighbours_and_unseen_areas_are_not_blocks()
    {
        using var map = new LiveBlockMap();
        map.MarkLive(0x5000_0000);

        Assert.Equal(BlockState.NotABlock, map.Get(0x5000_0010));
        Assert.Equal(BlockState.NotABlock, map.TryClaim(0x5000_0010));
        Assert.Equal(BlockState.NotABlock, map.TryClaim(unchecked((nuint)0x6000_0000_0000)));
        Assert.Equal(BlockState.NotABlock, map.Get(0x10));
    }

    [Fact]
    public void Far_addresses_above_2_to_the_48_work_through_the_slow_path()
    {
        using var map = new LiveBlockMap();
        var far = unchecked((nuint)0x00ff_0000_0000_1230);

        Assert.True(map.MarkLive(far));

        Assert.Equal(BlockState.Live, map.Get(far));
        Assert.Equal(BlockState.Live, map.TryClaim(far));
        Assert.Equal(BlockState.Freed, map.TryClaim(far));
    }

    [Fact]
    public void ForEachLive_visits_exactly_the_live_addresses_across_leaves()
    {
        using var map = new LiveBlockMap();
        nuint[] live = [0x1000, 0x1010, 0x2000_0000, unchecked((nuint)0x7fff_ffff_fff0), unchecked((nuint)0x0001_0000_0000_0000)];
        foreach (var address in live)
        {
            map.MarkLive(address);
        }

        map.MarkLive(0x3000);
        map.TryClaim(0x3000);

        var seen = new List<nuint>();
        map.ForEachLive(seen.Add);

        Assert.Equal(live.Order(), seen.Order());
    }

    [Fact]
    public void Racing_claims_have_one_winner()
    {
        using var map = new LiveBlockMap();
        for (nuint i = 0; i < 10_000; i++)
        {
            map.MarkLive(0x4000_0000 + (i * 16));
        }

        var wins = new int[2];
        Parallel.For(0, 2, t =>
        {
            for (nuint i = 0; i < 10_000; i++)
            {
                if (map.TryClaim(0x4000_0000 + (i * 16)) == BlockState.Live)
                {
                    Interlocked.Increment(ref wins[t]);
                }
            }
        });

        Assert.Equal(10_000, wins[0] + wins[1]);
    }
}

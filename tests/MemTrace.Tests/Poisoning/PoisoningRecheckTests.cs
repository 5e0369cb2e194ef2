// An integrity check looks again, over a few waits, at a block that seems damaged before reporting it (another thread's
// new block is live a moment before its canaries are written); damage it has reported before is confirmed at once, so
// that a program going on after a report does not pay the waits in every periodic check.
using MemTrace.Regions;
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningRecheckTests
{
    [Fact]
    public void New_damage_is_looked_at_again_before_it_is_reported_and_known_damage_is_not()
    {
        using var region = new PoisoningRegion(new HostRegion("host", MallocCaps.Default, MallocCaps.None, MallocCaps.None), PoisoningLevel.Light, quarantine: null, alignment: 16);
        var intact = (byte*)region.Allocate(32, 16, zero: false, tag: 0);
        Assert.True(region.CheckIntegrity(output: null));
        Assert.Equal(0, region.RecheckWaits); // Nothing seemed damaged: no wait.

        var damaged = (byte*)region.Allocate(32, 16, zero: false, tag: 0);
        damaged[32] = 0; // One byte past the block: the tail canary.

        Assert.False(region.CheckIntegrity(output: null));
        var waits = region.RecheckWaits;
        Assert.True(waits > 0);
        var report = Assert.Single(region.TakePendingCorruptions());
        Assert.Equal((nuint)damaged, report.Address);

        Assert.False(region.CheckIntegrity(output: null));
        Assert.Equal(waits, region.RecheckWaits); // Reported before: confirmed without waiting.
        Assert.Empty(region.TakePendingCorruptions()); // And reported once.

        damaged[32] = 0x78; // Repaired.
        region.Free(intact, clearIfTagged: false, out _, inspector: null);
        Assert.Equal(BlockState.Live, region.Free(damaged, clearIfTagged: false, out _, inspector: null));
    }
}

// An integrity check tells a block another thread is still building (live in the inner region, canaries not yet
// written) from a damaged one exactly: it waits for the allocations, reallocs and frees in progress to end and looks
// again, however long the building thread is held up; damage found while none is in progress is reported without
// waiting, and only once.
using MemTrace.Regions;
using Xunit;

namespace MemTrace.Tests.Poisoning;

[Collection(HandoverCollection.Name)]
public unsafe class PoisoningRecheckTests
{
    [Fact]
    public void Damage_found_while_no_block_is_being_built_is_reported_without_waiting_and_only_once()
    {
        using var region = new PoisoningRegion(new HostRegion("host", MallocCaps.Default, MallocCaps.None, MallocCaps.None), PoisoningLevel.Light, quarantine: null, alignment: 16);
        var intact = (byte*)region.Allocate(32, 16, zero: false, tag: 0);
        Assert.True(region.CheckIntegrity(output: null));

        var damaged = (byte*)region.Allocate(32, 16, zero: false, tag: 0);
        damaged[32] = 0; // One byte past the block: the tail canary.

        Assert.False(region.CheckIntegrity(output: null));
        Assert.Equal(0, region.HandoverWaits);
        var report = Assert.Single(region.TakePendingCorruptions());
        Assert.Equal((nuint)damaged, report.Address);

        Assert.False(region.CheckIntegrity(output: null));
        Assert.Empty(region.TakePendingCorruptions()); // Reported once.

        damaged[32] = 0x78; // Repaired.
        region.Free(intact, clearIfTagged: false, out _, inspector: null);
        Assert.Equal(BlockState.Live, region.Free(damaged, clearIfTagged: false, out _, inspector: null));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void A_block_whose_builder_is_held_up_after_taking_it_is_not_reported(bool tlsf, bool recycled)
    {
        // recycled: the building thread first allocates and frees a block of the same size, so that the held-up block
        // is likely the same memory, with that block's canaries still in it.
        // The inner region stalls the allocating thread for 300 ms right after handing out the block: live, no canaries.
        Region real = tlsf
            ? new TlsfRegion("RAM", MallocCaps.Default, MallocCaps.None, MallocCaps.None, 64 << 10, 4)
            : new HostRegion("host", MallocCaps.Default, MallocCaps.None, MallocCaps.None);
        using var stalling = new StallingRegion(real);
        using var region = new PoisoningRegion(stalling, PoisoningLevel.Light, quarantine: null, alignment: tlsf ? 4u : 16u);

        var sound = CheckWhileABlockIsHeldUp(region, stalling, heldUpMilliseconds: 300, out var built, recycled);

        Assert.True(sound);
        Assert.Empty(region.TakePendingCorruptions());
        Assert.True(region.HandoverWaits > 0);
        Assert.True(region.CheckIntegrity(output: null));
        Assert.Equal(BlockState.Live, region.Free(built, clearIfTagged: false, out _, inspector: null));
    }

    [Fact]
    public void Real_damage_is_reported_even_while_another_block_is_being_built()
    {
        using var stalling = new StallingRegion(new HostRegion("host", MallocCaps.Default, MallocCaps.None, MallocCaps.None));
        using var region = new PoisoningRegion(stalling, PoisoningLevel.Light, quarantine: null, alignment: 16);
        stalling.Stall = false;
        var damaged = (byte*)region.Allocate(32, 16, zero: false, tag: 0);
        damaged[-8] ^= 0xFF; // The head canary.
        stalling.Stall = true;

        var sound = CheckWhileABlockIsHeldUp(region, stalling, heldUpMilliseconds: 100, out var built);

        Assert.False(sound);
        var report = Assert.Single(region.TakePendingCorruptions());
        Assert.Equal((nuint)damaged, report.Address);
        Assert.Equal(BlockState.Live, region.Free(built, clearIfTagged: false, out _, inspector: null));
    }

    /// <summary>
    /// Runs an integrity check while another thread's allocation of 48 bytes is held up inside the inner region (the
    /// block live there, its canaries not yet written) for <paramref name="heldUpMilliseconds"/>.
    /// </summary>
    private static bool CheckWhileABlockIsHeldUp(PoisoningRegion region, StallingRegion stalling, int heldUpMilliseconds, out byte* built, bool recycled = false)
    {
        nint block = 0;
        var stall = stalling.Stall;
        stalling.Stall = !recycled;
        var builder = new Thread(() =>
        {
            if (recycled)
            {
                region.Free(region.Allocate(48, 4, zero: false, tag: 0), clearIfTagged: false, out _, inspector: null);
                stalling.Stall = stall;
            }

            block = (nint)region.Allocate(48, 4, zero: false, tag: 0);
        });
        builder.Start();
        Assert.True(stalling.Handed.Wait(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        using var goOn = new Timer(_ => stalling.Release.Set(), null, heldUpMilliseconds, Timeout.Infinite);

        var sound = region.CheckIntegrity(output: null);
        builder.Join();
        built = (byte*)block;
        return sound;
    }

    /// <summary>A region that, while <see cref="Stall"/> is on, hands out a block and then holds the caller until released.</summary>
    private sealed class StallingRegion(Region inner) : Region(inner.Name, inner.Caps0, inner.Caps1, inner.Caps2)
    {
        public ManualResetEventSlim Handed { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public volatile bool Stall = true;

        public override bool IsUnbounded => inner.IsUnbounded;

        public override nuint Start => inner.Start;

        public override nuint End => inner.End;

        public override nuint TotalSize => inner.TotalSize;

        public override nuint FreeBytes => inner.FreeBytes;

        public override nuint MinimumFreeBytes => inner.MinimumFreeBytes;

        public override nuint LargestFreeBlock => inner.LargestFreeBlock;

        public override bool HeldBlocksStayLive => inner.HeldBlocksStayLive;

        public override void* Allocate(nuint size, nuint alignment, bool zero, uint tag)
        {
            var block = inner.Allocate(size, alignment, zero, tag);
            if (Stall)
            {
                // What a block holds before its canaries are written is whatever the memory held: make it no canary
                // for sure. Recycled memory (the host's malloc hands a freed block of the same size straight back)
                // can still hold an earlier block's canaries, and then the check has nothing to wait for.
                if (block is not null)
                {
                    new Span<byte>(block, (int)size).Fill(0x5A);
                }

                Handed.Set();
                Release.Wait();
            }

            return block;
        }

        public override void* Reallocate(void* ptr, nuint size, out BlockState state, out BlockInfo old) => inner.Reallocate(ptr, size, out state, out old);

        public override BlockState Free(void* ptr, bool clearIfTagged, out BlockInfo block, IBlockInspector? inspector) => inner.Free(ptr, clearIfTagged, out block, inspector);

        public override void ReleaseHeld(void* ptr) => inner.ReleaseHeld(ptr);

        public override BlockState Query(void* ptr, out BlockInfo block) => inner.Query(ptr, out block);

        public override void SetTag(void* ptr, uint tag) => inner.SetTag(ptr, tag);

        public override bool ClearTag(void* ptr, uint tag) => inner.ClearTag(ptr, tag);

        public override HeapInfo GetInfo() => inner.GetInfo();

        public override void ForEachLiveBlock(Action<nuint, nuint, uint> visitor) => inner.ForEachLiveBlock(visitor);

        public override void InspectLiveBlocks(Action<nuint, nuint, uint> visitor) => inner.InspectLiveBlocks(visitor);

        public override void Walk(RegionWalkVisitor visitor) => inner.Walk(visitor);

        public override bool CheckIntegrity(TextWriter? output) => inner.CheckIntegrity(output);

        public override nuint SwapMinimumFree() => inner.SwapMinimumFree();

        public override void RestoreMinimumFree(nuint snapshot) => inner.RestoreMinimumFree(snapshot);

        public override void Dispose()
        {
            inner.Dispose();
            Handed.Dispose();
            Release.Dispose();
        }
    }
}

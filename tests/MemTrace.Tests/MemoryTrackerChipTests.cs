// The tracker works unchanged over chip layouts: records, bad frees inside TLSF regions,
// failures when internal RAM runs out, and concurrent use.
using System.Collections.Concurrent;
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerChipTests
{
    [Fact]
    public void Records_and_frees_blocks_in_every_region()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });

        tracker.Malloc(out byte* dram, 100, MallocCaps.Bit8);
        tracker.Malloc(out byte* iram, 100, MallocCaps.Exec);
        tracker.Calloc(out byte* psram, 10, 100, MallocCaps.Spiram);

        Assert.Equal(["dram", "iram", "psram"], tracker.GetAllocations().Select(r => r.VariableName));
        Assert.Equal("DRAM", f.RegionOf(dram));
        Assert.Equal("IRAM", f.RegionOf(iram));
        Assert.Equal("SPIRAM", f.RegionOf(psram));
        tracker.Free(ref dram);
        tracker.Free(ref iram);
        tracker.Free(ref psram);
        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Free_zeroes_the_block_in_emulated_RAM()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* secret, 64, MallocCaps.Default);
        new Span<byte>(secret, 64).Fill(0x42);
        var address = secret;

        tracker.Free(ref secret);

        // Emulated RAM stays mapped, so the freed bytes can be read. TLSF writes its free-list links
        // over the first 8 and the next block's prev_phys over the last 4.
        Assert.True(new Span<byte>(address + 8, 52).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void Running_out_of_internal_RAM_is_logged_with_the_heap_state()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var output = new StringWriter();
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = output });
        var blocks = new List<nint>();

        while (tracker.Malloc(out byte* chunk, 16 * 1024, MallocCaps.Internal | MallocCaps.Bit8))
        {
            blocks.Add((nint)chunk);
        }

        var failure = Assert.Single(tracker.FailedAllocations);
        Assert.Equal("chunk", failure.VariableName);
        Assert.Contains("Heap summary for capabilities 0x00000804:", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(blocks.Count, tracker.LiveBlocks);
        foreach (var block in blocks)
        {
            var p = (void*)block;
            tracker.Free(ref p);
        }
    }

    [Fact]
    public void A_double_free_in_a_TLSF_region_names_both_sites()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* frame, 256, MallocCaps.Dma);
        var copy = frame;
        tracker.Free(ref frame);

        tracker.Free(ref copy);

        var error = Assert.Single(f.Heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.DoubleFree, error.Kind);
        Assert.Equal("frame", error.Block!.VariableName);
        Assert.Equal("frame", error.FreedAt!.Value.VariableName);
        Assert.Equal("copy", error.DetectedAt!.Value.VariableName);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Concurrent_tracked_use_of_a_chip_heap_stays_consistent()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });
        var handOff = new ConcurrentQueue<nint>();

        Parallel.For(0, 2, t =>
        {
            var random = new Random(t);
            var mine = new List<nint>();
            for (var i = 0; i < 50_000; i++)
            {
                if (mine.Count < 64 && random.Next(2) == 0)
                {
                    var p = tracker.Malloc((nuint)random.Next(1, 2000), t == 0 ? MallocCaps.Internal : MallocCaps.Default);
                    if (p != null)
                    {
                        mine.Add((nint)p);
                    }
                }
                else if (mine.Count > 0)
                {
                    var last = mine[^1];
                    mine.RemoveAt(mine.Count - 1);
                    if (random.Next(4) == 0)
                    {
                        handOff.Enqueue(last);
                    }
                    else
                    {
                        var p = (void*)last;
                        tracker.Free(ref p);
                    }
                }

                if (handOff.TryDequeue(out var theirs))
                {
                    var p = (void*)theirs;
                    tracker.Free(ref p);
                }
            }

            foreach (var block in mine)
            {
                var p = (void*)block;
                tracker.Free(ref p);
            }
        });

        while (handOff.TryDequeue(out var left))
        {
            var p = (void*)left;
            tracker.Free(ref p);
        }

        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Equal(0, f.Heap.ErrorCount);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }
}

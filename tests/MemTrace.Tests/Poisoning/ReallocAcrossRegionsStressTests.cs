// Stress of reallocation across regions with poisoning and a quarantine, on several threads at once, with a tracker:
// random Malloc/Calloc/Realloc (growing, shrinking, to 0, between internal memory, PSRAM and a region added at run
// time)/ReallocPrefer/AlignedAlloc/Free, each thread on blocks of its own, and misuse mixed in (realloc and free of
// interior pointers of live blocks). After each round, with every thread stopped: contents survived, no two blocks
// overlap, the integrity check passes, every misuse was reported once and nothing else, the tracker's live blocks and
// bytes are the test's, and each region's allocated figures differ from the test's blocks by a constant (the heap's own
// descriptors). At the end, everything freed and the quarantines emptied, every region is back to its initial free size.
//
// Seeded: MEMTRACE_STRESS_SEED picks the seed, MEMTRACE_STRESS_ROUNDS the rounds (a longer run); a failure prints both.
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class ReallocAcrossRegionsStressTests
{
    private const int Threads = 3;
    private const int SlotsPerThread = 10;
    private const int OpsPerRound = 150;
    private const int RuntimeRegionSize = 48 * 1024;

    // Each region has a capability no other has, so that GetInfo of it isolates that region.
    private const MallocCaps DramCaps = MallocCaps.Internal;
    private const MallocCaps PsramCaps = MallocCaps.Spiram;
    private const MallocCaps RuntimeCaps = MallocCaps.Rtcram;
    private static readonly MallocCaps[] s_regionCaps = [DramCaps, PsramCaps, RuntimeCaps];

    private static readonly MallocCaps[] s_requestCaps =
    [
        MallocCaps.Default, MallocCaps.Internal, MallocCaps.Spiram, MallocCaps.Rtcram, MallocCaps.Bit8, MallocCaps.Internal | MallocCaps.Bit8,
        MallocCaps.Spiram | MallocCaps.Bit8, MallocCaps.Dma, MallocCaps.Bit32,
    ];

    private static HeapLayout Layout() => HeapLayout.CreateBuilder("stress").WithAlignment(4)
        .AddRegion("DRAM", 40 * 1024, MallocCaps.Bit8 | MallocCaps.Default | MallocCaps.Internal, MallocCaps.Dma | MallocCaps.Bit32)
        .AddRegion("SPIRAM", 96 * 1024, MallocCaps.Spiram | MallocCaps.Default, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32, addedAtRuntime: true)
        .WithCacheLines(internalCacheLine: 0, externalCacheLine: 32)
        .Build();

    [Theory]
    [InlineData(PoisoningLevel.Light, 1)]
    [InlineData(PoisoningLevel.Comprehensive, 2)]
    [InlineData(PoisoningLevel.None, 3)]
    public void Threads_reallocating_across_regions_with_a_quarantine_keep_every_figure(PoisoningLevel level, int defaultSeed)
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("MEMTRACE_STRESS_SEED"), out var s) ? s : defaultSeed;
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("MEMTRACE_STRESS_ROUNDS"), out var r) ? r : 12;
        var round = 0;
        try
        {
            Run(level, seed, rounds, ref round);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"Seed {seed} (MEMTRACE_STRESS_SEED), round {round}: {e.Message}", e);
        }
    }

    private static void Run(PoisoningLevel level, int seed, int rounds, ref int round)
    {
        var options = new HeapCapsOptions { Poisoning = level, Quarantine = new QuarantineOptions { MaxBytes = 6 * 1024, MaxBlocks = 12 }, ErrorOutput = null };
        using var memory = new OwnedMemory(RuntimeRegionSize);
        using var heap = new HeapCaps(Layout(), options);
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var initialFree = s_regionCaps.Take(2).Select(heap.GetFreeSize).ToArray();

        // What adding the region costs internal memory and what it starts with, measured on a twin heap.
        nuint descriptorCost, runtimeInitialFree, perBlock;
        using (var twinMemory = new OwnedMemory(RuntimeRegionSize))
        using (var twin = new HeapCaps(Layout(), options))
        {
            var before = twin.GetFreeSize(DramCaps);
            Assert.Equal(HeapCapsResult.Ok, twin.AddRegionWithCaps([RuntimeCaps, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32 | MallocCaps.Default], twinMemory.Start, twinMemory.End));
            descriptorCost = before - twin.GetFreeSize(DramCaps);
            runtimeInitialFree = twin.GetFreeSize(RuntimeCaps);
            perBlock = descriptorCost - twin.GetInfo(DramCaps).TotalAllocatedBytes; // Header, canaries.
        }

        var blocks = new List<Block>[Threads];
        for (var t = 0; t < Threads; t++)
        {
            blocks[t] = [.. Enumerable.Repeat(default(Block), SlotsPerThread)];
        }

        var expectedErrors = 0L;
        var added = 0;
        var delta = new (long Blocks, long Bytes)?[s_regionCaps.Length];
        for (round = 0; round < rounds; round++)
        {
            var thisRound = round;
            var failures = new Exception?[Threads];
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                try
                {
                    var random = new Random((seed * 7919) + (thisRound * 131) + t);
                    if (thisRound == 1 && t == 0)
                    {
                        // The region arrives while the other threads allocate, reallocate and free.
                        var result = heap.AddRegionWithCaps([RuntimeCaps, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32 | MallocCaps.Default], memory.Start, memory.End);
                        Assert.Equal(HeapCapsResult.Ok, result);
                        Volatile.Write(ref added, 1);
                    }

                    for (var i = 0; i < OpsPerRound; i++)
                    {
                        Interlocked.Add(ref expectedErrors, Step(heap, tracker, blocks[t], random, (byte)((t * 64) + (i % 61) + 1)));
                    }
                }
                catch (Exception e)
                {
                    failures[t] = e;
                }
            })).ToList();
            threads.ForEach(static th => th.Start());
            threads.ForEach(static th => th.Join());
            foreach (var failure in failures)
            {
                if (failure is not null)
                {
                    throw new InvalidOperationException(failure.Message, failure);
                }
            }

            if (round == 1)
            {
                delta[0] = null; // The new region's descriptor is one more block in internal memory.
            }

            Check(heap, tracker, blocks, Interlocked.Read(ref expectedErrors), delta);
        }

        // Free everything; a request each region finds too large for it, but not larger than the region, empties its
        // quarantine (each block verified) and still fails (a request larger than the region leaves the quarantine as is).
        foreach (var list in blocks)
        {
            for (var i = 0; i < list.Count; i++)
            {
                heap.Free((void*)list[i].Pointer);
                list[i] = default;
            }
        }

        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Equal(0, tracker.LiveBytes);
        foreach (var caps in s_regionCaps)
        {
            Assert.True(heap.Malloc(heap.GetTotalSize(caps) - 64, caps) == null);
        }

        // Internal memory holds the region's descriptor only: placed elsewhere than on the twin, it may have taken a
        // remainder too small to split.
        var dram = heap.GetInfo(DramCaps);
        Assert.Equal((nuint)1, dram.AllocatedBlocks);
        Assert.Equal(initialFree[0] - dram.TotalAllocatedBytes - perBlock, heap.GetFreeSize(DramCaps));
        Assert.Equal(initialFree[1], heap.GetFreeSize(PsramCaps));
        Assert.Equal(runtimeInitialFree, heap.GetFreeSize(RuntimeCaps));
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.Equal(Interlocked.Read(ref expectedErrors), heap.ErrorCount);
    }

    /// <summary>One random operation on the thread's own blocks; returns the errors it expects the heap to report.</summary>
    private static int Step(HeapCaps heap, MemoryTracker tracker, List<Block> mine, Random random, byte fill)
    {
        var slot = random.Next(mine.Count);
        var block = mine[slot];
        var caps = s_requestCaps[random.Next(s_requestCaps.Length)];
        var size = (nuint)(random.Next(100) switch
        {
            < 55 => random.Next(1, 64),
            < 90 => random.Next(64, 1024),
            _ => random.Next(1024, 8 * 1024),
        });
        var kind = random.Next(100);
        if (block.Pointer != 0)
        {
            Verify(block);
        }

        if (kind < 4 && block.Pointer != 0 && block.Size >= 8)
        {
            // Misuse: realloc of an interior pointer. Reported, nothing changes.
            var p = (void*)(block.Pointer + 4);
            Assert.False(tracker.Realloc(ref p, size, caps));
            Assert.True(p == (void*)(block.Pointer + 4));
            Verify(block);
            return 1;
        }

        if (kind < 6 && block.Pointer != 0 && block.Size >= 8)
        {
            // Misuse: free of an interior pointer.
            heap.Free((void*)(block.Pointer + 4));
            Verify(block);
            return 1;
        }

        if (kind < 40)
        {
            // Realloc (tracked or on the heap, sometimes with preferences), null pointer included.
            void* p = (void*)block.Pointer;
            var newPointer = (byte*)(random.Next(3) switch
            {
                0 => tracker.Realloc(p, size, caps),
                1 => heap.ReallocPrefer(p, size, caps, MallocCaps.Default),
                _ => heap.Realloc(p, size, caps),
            });
            if (newPointer is null)
            {
                if (block.Pointer != 0)
                {
                    // Failed: the old block is intact and still ours.
                    Assert.True(heap.GetAllocatedSize((void*)block.Pointer) >= block.Size, "a failed realloc lost the block");
                    Verify(block);
                }

                return 0;
            }

            var kept = Math.Min(size, block.Size);
            for (nuint i = 0; i < kept; i++)
            {
                Assert.True(newPointer[i] == block.Fill, $"realloc from {block.Size} to {size} bytes lost byte {i}");
            }

            NativeMemory.Fill(newPointer, size, block.Pointer != 0 ? block.Fill : fill);
            mine[slot] = new Block((nuint)newPointer, size, block.Pointer != 0 ? block.Fill : fill);
            return 0;
        }

        if (kind < 44 && block.Pointer != 0)
        {
            // Realloc to 0: frees.
            Assert.True(heap.Realloc((void*)block.Pointer, 0, caps) == null);
            mine[slot] = default;
            return 0;
        }

        if (block.Pointer != 0)
        {
            if (random.Next(2) == 0)
            {
                heap.Free((void*)block.Pointer);
            }
            else
            {
                var p = (void*)block.Pointer;
                tracker.Free(ref p);
            }

            mine[slot] = default;
            return 0;
        }

        var alignment = (nuint)1 << random.Next(3, 8);
        var fresh = (byte*)(kind switch
        {
            < 60 => tracker.Calloc(1, size, caps),
            < 75 => heap.AlignedAlloc(alignment, size, caps),
            _ => tracker.Malloc(size, caps),
        });
        if (fresh is null)
        {
            return 0;
        }

        if (kind is >= 60 and < 75)
        {
            Assert.Equal((nuint)0, (nuint)fresh % alignment);
        }

        NativeMemory.Fill(fresh, size, fill);
        mine[slot] = new Block((nuint)fresh, size, fill);
        return 0;
    }

    private static void Verify(Block block)
    {
        var bytes = (byte*)block.Pointer;
        for (nuint i = 0; i < block.Size; i++)
        {
            if (bytes[i] != block.Fill)
            {
                Assert.Fail($"block 0x{block.Pointer:x} of {block.Size} bytes changed at byte {i}: 0x{bytes[i]:x2}, expected 0x{block.Fill:x2}");
            }
        }
    }

    private static void Check(HeapCaps heap, MemoryTracker tracker, List<Block>[] blocks, long expectedErrors, (long Blocks, long Bytes)?[] delta)
    {
        var all = blocks.SelectMany(static b => b).Where(static b => b.Pointer != 0).OrderBy(static b => b.Pointer).ToList();
        foreach (var block in all)
        {
            Verify(block);
        }

        for (var i = 1; i < all.Count; i++)
        {
            Assert.True(all[i - 1].Pointer + all[i - 1].Size <= all[i].Pointer, $"blocks 0x{all[i - 1].Pointer:x} and 0x{all[i].Pointer:x} overlap");
        }

        Assert.True(heap.CheckIntegrityAll(false), "integrity check failed");
        Assert.Equal(expectedErrors, heap.ErrorCount);
        Assert.Equal(all.Count, tracker.LiveBlocks);
        Assert.Equal(all.Sum(static b => (long)b.Size), tracker.LiveBytes);
        var records = tracker.GetAllocations();
        Assert.Equal(all.Select(static b => (b.Pointer, b.Size)), records.Select(static r => ((nuint)r.Address, r.Size)).OrderBy(static r => r.Item1));

        var numbered = heap.DescribeNumberedRegions();
        for (var r = 0; r < s_regionCaps.Length; r++)
        {
            var info = heap.GetInfo(s_regionCaps[r]);
            var mineHere = all.Where(b => (numbered[heap.RegionNumberOf((void*)b.Pointer)].Caps & s_regionCaps[r]) != 0).ToList();
            var now = ((long)info.AllocatedBlocks - mineHere.Count, (long)info.TotalAllocatedBytes - mineHere.Sum(b => (long)heap.GetAllocatedSize((void*)b.Pointer)));
            if (r == 2 && info.AllocatedBlocks == 0 && info.TotalFreeBytes == 0)
            {
                continue; // Not added yet.
            }

            delta[r] ??= now;
            Assert.True(delta[r] == now, $"region {s_regionCaps[r]}: allocated blocks and bytes beyond the test's {now}, before {delta[r]}");
        }
    }

    private readonly record struct Block(nuint Pointer, nuint Size, byte Fill);
}

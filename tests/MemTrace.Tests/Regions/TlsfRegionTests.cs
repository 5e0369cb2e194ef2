// TlsfRegion against the Region contract (Region.cs): construction over own and caller memory,
// every member's documented behaviour, bad pointers, concurrency, disposal; plus region-level
// ports of ESP-IDF device tests (test_walker.c, test_allocator_timings.c, the minimum-free
// monitoring and metadata cases of test_malloc_caps.c).
using System.Runtime.InteropServices;
using MemTrace.Regions;
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Regions;

public unsafe class TlsfRegionTests
{
    private const MallocCaps Caps0 = MallocCaps.Bit8 | MallocCaps.Default;
    private const MallocCaps Caps1 = MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32;

    [Fact]
    public void OwnMemoryRegionReportsChipFigures()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 4096);
        Assert.Equal("DRAM", region.Name);
        Assert.Equal(Caps0 | Caps1, region.AllCaps);
        Assert.False(region.IsUnbounded);
        Assert.Equal((nuint)4096, region.TotalSize);
        Assert.Equal(region.Start + 4096, region.End);
        Assert.Equal((nuint)0, region.Start % 64);
        Assert.Equal((nuint)3732, region.FreeBytes);
        Assert.Equal((nuint)3732, region.MinimumFreeBytes);
        Assert.Equal((nuint)3584, region.LargestFreeBlock);
        Assert.Equal(new HeapInfo(3732, 0, 3584, 3732, 0, 1, 1), region.GetInfo());
        Assert.True(region.CheckIntegrity(null));
    }

    [Fact]
    public void CallerMemoryIsUsedInPlaceAndNotFreed()
    {
        const int size = 8192;
        var memory = (byte*)NativeMemory.AlignedAlloc(size, 16);
        try
        {
            new Span<byte>(memory, size).Fill(0xCC);
            using (var region = new TlsfRegion("RTC", MallocCaps.Rtcram, MallocCaps.None, MallocCaps.None, memory, size))
            {
                Assert.Equal((nuint)memory, region.Start);
                Assert.Equal((nuint)(memory + size), region.End);

                // The heap header is written into the caller's block: free_bytes is its second word.
                Assert.Equal((uint)region.FreeBytes, ((uint*)memory)[1]);

                var p = (byte*)region.Allocate(100, 4, zero: true, tag: 0);
                Assert.True(p >= memory && p + 100 <= memory + size);
                Assert.True(new Span<byte>(p, 100).IndexOfAnyExcept((byte)0) < 0);
            }

            // Still ours after Dispose: writable, and a new region can be built over it.
            new Span<byte>(memory, size).Clear();
            using var again = new TlsfRegion("RTC", MallocCaps.Rtcram, MallocCaps.None, MallocCaps.None, memory, size, minimumStartsAtZero: true);
            Assert.Equal((nuint)0, again.MinimumFreeBytes);
            Assert.Equal((nuint)0, again.GetInfo().MinimumFreeBytes);
            Assert.True(again.CheckIntegrity(null));
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    [Fact]
    public void BadConstructionArgumentsThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfRegion("x", MallocCaps.Default, 0, 0, 4096, alignment: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfRegion("x", MallocCaps.Default, 0, 0, 4096, alignment: 32));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfRegion("x", MallocCaps.Default, 0, 0, 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfRegion("x", MallocCaps.Default, 0, 0, (nuint)int.MaxValue + 1));
        var memory = stackalloc byte[1024];
        Assert.Throws<ArgumentOutOfRangeException>(() => new TlsfRegion("x", MallocCaps.Default, 0, 0, memory + 1, 512));
    }

    [Fact]
    public void AllocateUsesMallocOrMemalignByAlignmentAndStoresTheTag()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 65536);
        var plain = region.Allocate(33, 4, false, 11);
        Assert.Equal(BlockState.Live, region.Query(plain, out var info));
        Assert.Equal(new BlockInfo(36, 11), info); // malloc keeps the class-rounded size

        for (nuint alignment = 8; alignment <= 4096; alignment <<= 1)
        {
            var p = region.Allocate(33, alignment, false, (uint)alignment);
            Assert.True(p != null);
            Assert.Equal((nuint)0, (nuint)p % alignment);
            Assert.Equal(BlockState.Live, region.Query(p, out info));
            Assert.Equal(new BlockInfo(36, (uint)alignment), info); // memalign keeps the request adjusted to 4
        }

        Assert.True(region.Allocate(0, 4, false, 0) == null);
        Assert.True(region.Allocate(100, 24, false, 0) == null);
        Assert.True(region.Allocate(1 << 20, 4, false, 0) == null);
        Assert.True(region.CheckIntegrity(null));
    }

    [Fact]
    public void ReallocateReportsEveryState()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 4096);
        var a = (byte*)region.Allocate(64, 4, false, 5);
        var b = region.Allocate(32, 4, false, 6);
        new Span<byte>(a, 64).Fill(0x42);

        // Moves (b follows a): contents and tag follow, the old address becomes Freed.
        var moved = (byte*)region.Reallocate(a, 300, out var state, out var old);
        Assert.Equal(BlockState.Live, state);
        Assert.Equal(new BlockInfo(64, 5), old);
        Assert.True(moved != null && moved != a);
        Assert.True(new Span<byte>(moved, 64).IndexOfAnyExcept((byte)0x42) < 0);
        Assert.Equal(BlockState.Live, region.Query(moved, out var info));
        Assert.Equal(5u, info.Tag);
        Assert.Equal(BlockState.Freed, region.Query(a, out _));

        // Cannot: null with Live, block intact.
        var free = region.FreeBytes;
        Assert.True(region.Reallocate(moved, 5000, out state, out old) == null);
        Assert.Equal(BlockState.Live, state);
        Assert.Equal(5u, old.Tag);
        Assert.Equal(free, region.FreeBytes);
        Assert.True(new Span<byte>(moved, 64).IndexOfAnyExcept((byte)0x42) < 0);

        // Shrinks in place.
        Assert.True(region.Reallocate(moved, 40, out state, out _) == moved);
        Assert.Equal(BlockState.Live, state);

        // Not live blocks.
        Assert.True(region.Reallocate(a, 10, out state, out old) == null);
        Assert.Equal(BlockState.Freed, state);
        Assert.Equal(default, old);
        Assert.True(region.Reallocate((byte*)b + 4, 10, out state, out _) == null);
        Assert.Equal(BlockState.NotABlock, state);
        Assert.True(region.Reallocate((void*)(region.End + 64), 10, out state, out _) == null);
        Assert.Equal(BlockState.Outside, state);
        Assert.True(region.CheckIntegrity(null));
    }

    [Fact]
    public void FreeReportsEveryStateAndClearsTaggedBlocksOnRequest()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 4096);
        var tagged = (byte*)region.Allocate(64, 4, false, 9);
        var untagged = (byte*)region.Allocate(64, 4, false, 0);
        var guard = region.Allocate(64, 4, false, 0);
        new Span<byte>(tagged, 64).Fill(0x77);
        new Span<byte>(untagged, 64).Fill(0x77);

        Assert.Equal(BlockState.NotABlock, region.Free(tagged + 8, true, out var block));
        Assert.Equal(default, block);
        Assert.Equal(BlockState.NotABlock, region.Free(tagged + 2, true, out _));
        Assert.Equal(BlockState.Outside, region.Free((void*)(region.Start - 8), true, out _));

        Assert.Equal(BlockState.Live, region.Free(tagged, clearIfTagged: true, out block));
        Assert.Equal(new BlockInfo(64, 9), block);
        Assert.True(new Span<byte>(tagged + 8, 52).IndexOfAnyExcept((byte)0) < 0); // zeroed (past the free-list links)
        Assert.Equal(BlockState.Live, region.Free(untagged, clearIfTagged: true, out block));
        Assert.Equal(0u, block.Tag);
        Assert.True(new Span<byte>(untagged + 8, 52).IndexOfAnyExcept((byte)0x77) < 0); // untagged: left alone

        var free = region.FreeBytes;
        Assert.Equal(BlockState.Freed, region.Free(tagged, true, out _));
        Assert.Equal(free, region.FreeBytes);
        Assert.True(guard != null);
        Assert.True(region.CheckIntegrity(null));
    }

    [Fact]
    public void SetTagAndForEachLiveBlock()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 16384);
        var pointers = new List<nint>();
        for (var i = 0; i < 10; i++)
        {
            pointers.Add((nint)region.Allocate((nuint)(20 + (i * 10)), 4, false, 0));
        }

        region.Free((void*)pointers[3], false, out _);
        pointers.RemoveAt(3);
        for (var i = 0; i < pointers.Count; i++)
        {
            region.SetTag((void*)pointers[i], (uint)(100 + i));
        }

        region.SetTag((byte*)pointers[0] + 4, 1); // not a block: ignored
        var seen = new List<(nuint Address, nuint Size, uint Tag)>();
        region.ForEachLiveBlock((address, size, tag) => seen.Add((address, size, tag)));
        Assert.Equal(pointers.Count, seen.Count);
        for (var i = 0; i < seen.Count; i++)
        {
            Assert.Equal((nuint)pointers[i], seen[i].Address); // address order
            Assert.Equal((uint)(100 + i), seen[i].Tag);
            region.Query((void*)pointers[i], out var info);
            Assert.Equal(info.UsableSize, seen[i].Size);
        }
    }

    [Fact]
    public void A_walker_may_ask_the_heap_for_its_free_figures_as_on_the_chip()
    {
        // ESP-IDF's walker runs under the heap's recursive lock, so heap_caps_get_free_size and friends work inside
        // it. The figures are read under the region's lock (Dispose frees the memory holding them); a visitor already
        // holds it and reads them directly.
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        var block = heap.Malloc(1000, MallocCaps.Internal);
        var free = heap.GetFreeSize(MallocCaps.Internal);
        var minimum = heap.GetMinimumFreeSize(MallocCaps.Internal);
        var largest = heap.GetLargestFreeBlock(MallocCaps.Internal);
        var calls = 0;
        heap.Walk(MallocCaps.Internal, (_, _) =>
        {
            calls++;
            Assert.Equal(free, heap.GetFreeSize(MallocCaps.Internal));
            Assert.Equal(minimum, heap.GetMinimumFreeSize(MallocCaps.Internal));
            Assert.Equal(largest, heap.GetLargestFreeBlock(MallocCaps.Internal));
            return true;
        });

        Assert.True(calls > 0);
        heap.Free(block);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void A_disposed_region_reports_no_free_bytes()
    {
        var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 16384);
        Assert.NotEqual(0u, region.FreeBytes);
        region.Dispose();
        Assert.Equal(0u, region.FreeBytes);
        Assert.Equal(0u, region.MinimumFreeBytes);
        Assert.Equal(0u, region.LargestFreeBlock);
    }

    [Fact]
    public void A_visitor_that_reenters_its_region_gets_LockRecursionException_and_the_lock_is_released()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 16384);
        var block = region.Allocate(64, 4, false, 0);
        Assert.Throws<LockRecursionException>(() => region.ForEachLiveBlock((_, _, _) => region.Allocate(16, 4, false, 0)));
        Assert.Throws<LockRecursionException>(() => region.Walk((_, _, _) =>
        {
            region.Free(block, false, out _);
            return true;
        }));

        // Both visitors left the lock free and the heap intact: the block is still live and can be freed.
        Assert.Equal(BlockState.Live, region.Free(block, false, out _));
        Assert.True(region.CheckIntegrity(null));

        // Another thread that waits for the lock while a visitor runs is not mistaken for a re-entry: it gets the lock after.
        Assert.True(region.Allocate(48, 4, false, 0) is not null);
        Thread? waiter = null;
        var allocated = false;
        region.ForEachLiveBlock((_, _, _) =>
        {
            waiter = new Thread(() => allocated = region.Allocate(32, 4, false, 0) is not null);
            waiter.Start();
            Thread.Sleep(50);
        });
        Assert.True(waiter!.Join(TimeSpan.FromSeconds(10)));
        Assert.True(allocated);
    }

    [Fact]
    public void Heap_walker()
    {
        // test_walker.c "heap walker": the tagged 16-byte block is found, used, with its size.
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 8192);
        region.Allocate(100, 4, false, 0);
        var ptr = (uint*)region.Allocate(16, 4, false, 0);
        *ptr = 0x9876BAAB;

        var found = false;
        var blocks = 0;
        region.Walk((address, size, used) =>
        {
            blocks++;
            Assert.True(address >= region.Start && address + size <= region.End);
            if (*(uint*)address == 0x9876BAAB)
            {
                Assert.Equal((nuint)16, size);
                Assert.True(used);
                found = true;
            }

            return true;
        });
        Assert.True(found);
        Assert.Equal((int)region.GetInfo().TotalBlocks, blocks);
    }

    [Fact]
    public void Heap_walker_corrupted_heap_detection()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 8192);
        var ptr = (uint*)region.Allocate(16, 4, false, 0);
        var original = ptr[-1];
        ptr[-1] = 0xFF000000;
        *ptr = 0x9876BAAB;

        // As ESP-IDF's walker: the corrupt block (the region's first) is passed on with the size its header holds,
        // which runs past the region's end; the walker recognises it and returns false.
        var corrupted = false;
        var reported = new List<(nuint Address, nuint Size)>();
        region.Walk((address, size, _) =>
        {
            reported.Add((address, size));
            if (region.End - address < size)
            {
                corrupted = true;
                return false;
            }

            return true;
        });
        Assert.True(corrupted);
        Assert.Equal([((nuint)ptr, (nuint)0xFF000000)], reported);

        // A walker that carries on after it is not led out of the region: the walk ends at the corrupt block.
        reported.Clear();
        region.Walk((address, size, _) =>
        {
            reported.Add((address, size));
            return true;
        });
        Assert.Equal([((nuint)ptr, (nuint)0xFF000000)], reported);

        // The internal walk for visitors that read blocks stops before it.
        reported.Clear();
        region.WalkSoundBlocks((address, size, _) =>
        {
            reported.Add((address, size));
            return true;
        });
        Assert.Empty(reported);

        using var report = new StringWriter();
        Assert.False(region.CheckIntegrity(report));
        Assert.Contains("block size out of range", report.ToString(), StringComparison.Ordinal);
        Assert.Equal(BlockState.DamagedHeader, region.Free(ptr, false, out _)); // refused, untouched

        ptr[-1] = original;
        Assert.True(region.CheckIntegrity(null));
        Assert.Equal(BlockState.Live, region.Free(ptr, false, out _));
    }

    [Fact]
    public void Heap_caps_minimum_free_bytes_monitoring()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 16384);
        region.Free(region.Allocate(2000, 4, false, 0), false, out _);
        var global = region.MinimumFreeBytes;

        // start: the local minimum begins at the current free size.
        var snapshot = region.SwapMinimumFree();
        Assert.Equal(global, snapshot);
        var local = region.MinimumFreeBytes;
        Assert.True(local >= global);
        Assert.Equal(region.FreeBytes, local);

        region.Free(region.Allocate(400, 4, false, 0), false, out _);
        Assert.True(local - region.MinimumFreeBytes >= 400);
        local = region.MinimumFreeBytes;

        // stop: the lifetime minimum is the lower of the two.
        region.RestoreMinimumFree(snapshot);
        Assert.Equal(Math.Min(local, snapshot), region.MinimumFreeBytes);
        Assert.True(region.MinimumFreeBytes <= local);
    }

    [Fact]
    public void Heap_caps_metadata_test()
    {
        // test_malloc_caps.c "heap_caps metadata test": allocating largest_free_block succeeds and the stats drop.
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 204800);
        region.Allocate(1000, 4, false, 0);
        var before = region.GetInfo();
        var p = region.Allocate(before.LargestFreeBlock, 4, false, 0);
        Assert.True(p != null);
        var during = region.GetInfo();
        Assert.True(during.TotalFreeBytes < before.TotalFreeBytes);
        Assert.True(during.LargestFreeBlock < before.LargestFreeBlock);
        Assert.True(during.MinimumFreeBytes < before.MinimumFreeBytes);
        region.Free(p, false, out _);
        var after = region.GetInfo();
        Assert.Equal(before.TotalFreeBytes, after.TotalFreeBytes);
        Assert.Equal(before.LargestFreeBlock, after.LargestFreeBlock);
        Assert.True(region.Allocate(before.LargestFreeBlock + 4, 4, false, 0) == null);
    }

    [Fact]
    public void Heap_many_random_allocations_timings()
    {
        // test_allocator_timings.c: 5000 random malloc/free/realloc on 128 slots, contents and integrity
        // verified throughout; realloc as heap_caps_realloc (null -> malloc, 0 -> free).
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 200 * 1024);
        var initial = region.FreeBytes;
        var p = new nint[128];
        var s = new nuint[128];
        var random = new Random(1234);
        for (var i = 0; i < 5000; i++)
        {
            var n = random.Next(128);
            if (i % 4 == 0)
            {
                var newSize = (nuint)random.Next(1024);
                void* newP;
                if (p[n] == 0)
                {
                    newP = region.Allocate(newSize, 4, false, 0);
                }
                else if (newSize == 0)
                {
                    Assert.Equal(BlockState.Live, region.Free((void*)p[n], false, out _));
                    newP = null;
                }
                else
                {
                    newP = region.Reallocate((void*)p[n], newSize, out var state, out _);
                    Assert.Equal(BlockState.Live, state);
                }

                Assert.True(region.CheckIntegrity(null));
                if (newSize == 0 || newP != null)
                {
                    p[n] = (nint)newP;
                    s[n] = newSize;
                    if (newSize > 0)
                    {
                        new Span<byte>(newP, (int)newSize).Fill((byte)n);
                    }
                }

                continue;
            }

            if (p[n] != 0)
            {
                Assert.True(new Span<byte>((void*)p[n], (int)s[n]).IndexOfAnyExcept((byte)n) < 0);
                Assert.True(region.CheckIntegrity(null));
                Assert.Equal(BlockState.Live, region.Free((void*)p[n], false, out _));
                p[n] = 0;
                Assert.True(region.CheckIntegrity(null));
            }

            s[n] = (nuint)random.Next(1024);
            p[n] = (nint)region.Allocate(s[n], 4, false, 0);
            Assert.True(region.CheckIntegrity(null));
            if (p[n] != 0)
            {
                new Span<byte>((void*)p[n], (int)s[n]).Fill((byte)n);
            }
        }

        foreach (var ptr in p)
        {
            if (ptr != 0)
            {
                region.Free((void*)ptr, false, out _);
            }

            Assert.True(region.CheckIntegrity(null));
        }

        Assert.Equal(initial, region.FreeBytes);
    }

    [Theory]
    [InlineData(8u)]
    [InlineData(16u)]
    public void AlignedRegionsKeepEveryPlainBlockAligned(uint alignment)
    {
        using var region = new TlsfRegion("PC", MallocCaps.Default, 0, 0, 65536, alignment);
        var random = new Random((int)alignment);
        var live = new List<nint>();
        for (var i = 0; i < 3000; i++)
        {
            if (live.Count > 0 && random.Next(3) == 0)
            {
                var index = random.Next(live.Count);
                var moved = region.Reallocate((void*)live[index], (nuint)random.Next(1, 700), out _, out _);
                if (moved != null)
                {
                    Assert.Equal((nuint)0, (nuint)moved % alignment);
                    live[index] = (nint)moved;
                }
            }
            else if (live.Count > 0 && random.Next(2) == 0)
            {
                var index = random.Next(live.Count);
                region.Free((void*)live[index], false, out _);
                live.RemoveAt(index);
            }
            else
            {
                var p = region.Allocate((nuint)random.Next(1, 700), random.Next(4) == 0 ? (nuint)64 : 4, false, 0);
                if (p != null)
                {
                    Assert.Equal((nuint)0, (nuint)p % alignment);
                    live.Add((nint)p);
                }
            }
        }

        // Every block, used or free, starts on the boundary and has size = A - 4 (mod A).
        region.Walk((address, size, _) =>
        {
            Assert.Equal((nuint)0, address % alignment);
            Assert.Equal((nuint)(alignment - 4), size % alignment);
            return true;
        });
        Assert.True(region.CheckIntegrity(null));
    }

    [Fact]
    public void ConcurrentAllocationsAndFreesKeepTheHeapIntact()
    {
        using var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 256 * 1024);
        var initial = region.FreeBytes;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            try
            {
                Churn(t);
            }
            catch (Exception e)
            {
                errors.Enqueue(e); // an exception escaping a thread would end the test process
            }
        })).ToList();
        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());

        Assert.Empty(errors);
        Assert.True(region.CheckIntegrity(null));
        Assert.Equal(initial, region.FreeBytes);

        void Churn(int t)
        {
            var random = new Random(t);
            var mine = new List<nint>();
            for (var i = 0; i < 20000; i++)
            {
                if (mine.Count > 0 && random.Next(2) == 0)
                {
                    var index = random.Next(mine.Count);
                    var p = (byte*)mine[index];
                    Assert.Equal((byte)t, p[0]);
                    Assert.Equal(BlockState.Live, region.Free(p, false, out _));
                    mine.RemoveAt(index);
                }
                else
                {
                    var p = (byte*)region.Allocate((nuint)random.Next(1, 500), 4, false, (uint)t + 1);
                    if (p != null)
                    {
                        p[0] = (byte)t;
                        mine.Add((nint)p);
                    }
                }
            }

            foreach (var p in mine)
            {
                region.Free((void*)p, false, out _);
            }
        }
    }

    [Fact]
    public void DisposedRegionRefusesEverythingWithoutCrashing()
    {
        var region = new TlsfRegion("DRAM", Caps0, Caps1, MallocCaps.None, 4096);
        var p = region.Allocate(64, 4, false, 1);
        region.Dispose();
        region.Dispose();
        Assert.True(region.Allocate(64, 4, false, 0) == null);
        Assert.Equal(BlockState.NotABlock, region.Free(p, false, out _));
        Assert.True(region.Reallocate(p, 10, out var state, out _) == null);
        Assert.Equal(BlockState.NotABlock, state);
        Assert.Equal(BlockState.NotABlock, region.Query(p, out _));
        region.SetTag(p, 3);
        Assert.False(region.CheckIntegrity(null));
        Assert.Equal(default, region.GetInfo());
        Assert.Equal((nuint)0, region.FreeBytes);
        Assert.Equal((nuint)0, region.LargestFreeBlock);
    }

    [Fact]
    public void SixteenByteAlignmentOverCallerMemoryThatIsOnlyWordAligned()
    {
        const int size = 16384;
        var block = (byte*)NativeMemory.AlignedAlloc(size + 16, 16);
        try
        {
            var memory = block + 4; // 4-byte aligned, not 16
            using var region = new TlsfRegion("PC", MallocCaps.Default, 0, 0, memory, size, alignment: 16);
            var tlsfOnly = TlsfConfiguration.InitialFreeBytes(size);
            Assert.InRange(tlsfOnly - region.FreeBytes, 0u, 12u); // the pool start is padded to the boundary
            Assert.Equal((nuint)size, region.FreeBytes + region.Heap.MetadataBytes);
            for (var i = 1; i < 200; i++)
            {
                var p = region.Allocate((nuint)(i % 40) + 1, 16, false, 0);
                Assert.True(p != null);
                Assert.Equal((nuint)0, (nuint)p % 16);
            }

            Assert.True(region.CheckIntegrity(null));
        }
        finally
        {
            NativeMemory.AlignedFree(block);
        }
    }
}

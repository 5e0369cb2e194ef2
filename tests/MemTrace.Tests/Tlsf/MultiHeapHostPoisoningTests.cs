// ESP-IDF's CI also runs the host multi_heap tests (components/heap/test_multi_heap_host/main/test_multi_heap.cpp)
// with MULTI_HEAP_POISONING and MULTI_HEAP_POISONING_SLOW, i.e. light and comprehensive poisoning. These are those
// cases at the HeapCaps level, on one region the size of the originals' heaps, for each poisoning level.
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class MultiHeapHostPoisoningTests
{
    private const uint SmallHeap = 4 * 1024;

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_get_info_function(PoisoningLevel poisoning)
    {
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        var before = heap.GetInfo(MallocCaps.None);
        Assert.Equal(0u, before.AllocatedBlocks);
        Assert.Equal(0u, before.TotalAllocatedBytes);
        Assert.Equal(before.TotalFreeBytes, before.MinimumFreeBytes);

        var x = heap.Malloc(32, MallocCaps.Default);
        var after = heap.GetInfo(MallocCaps.None);
        Assert.Equal(1u, after.AllocatedBlocks);
        Assert.Equal(32u, after.TotalAllocatedBytes);
        Assert.True(after.MinimumFreeBytes < before.MinimumFreeBytes);
        Assert.True(after.MinimumFreeBytes > 0);

        heap.Free(x);
        var freed = heap.GetInfo(MallocCaps.None);
        Assert.Equal(0u, freed.AllocatedBlocks);
        Assert.Equal(0u, freed.TotalAllocatedBytes);
        Assert.Equal(before.TotalFreeBytes, freed.TotalFreeBytes);
        Assert.Equal(after.MinimumFreeBytes, freed.MinimumFreeBytes);
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_realloc(PoisoningLevel poisoning)
    {
        // Under comprehensive poisoning realloc is malloc-copy-free (ESP-IDF: MULTI_HEAP_POISONING_SLOW): the C test keeps
        // only its first part there (the moved block lands after 'b'), and skips the in-place cases.
        const uint pattern = 0xABABDADA;
        using var fx = Fixture(SmallHeap, poisoning);
        var heap = fx.Heap;

        var a = (uint*)heap.Malloc(64, MallocCaps.Default);
        var b = (uint*)heap.Malloc(32, MallocCaps.Default);
        Assert.True(a != null);
        Assert.True(b != null);
        Assert.True(b > a); // 'b' takes the block after 'a'

        *a = pattern;
        var c = (uint*)heap.Realloc(a, 72, MallocCaps.Default);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.True(c != null);
        Assert.True(c > b); // 'a' moves, 'c' takes the block after 'b'
        Assert.Equal(pattern, *c);
        if (poisoning == PoisoningLevel.Comprehensive)
        {
            Assert.Equal(0, heap.ErrorCount);
            return;
        }

        var d = (uint*)heap.Realloc(c, 36, MallocCaps.Default);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.True(c == d); // 'c' block should be shrunk in place
        Assert.Equal(pattern, *d);

        var e = (uint*)heap.Malloc(60, MallocCaps.Default);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.True(a == e); // 'e' takes the block formerly occupied by 'a'

        heap.Free(d);
        var f = (uint*)heap.Realloc(b, 64, MallocCaps.Default);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.True(f == b); // 'b' is extended in place, over space formerly occupied by 'd'

        Assert.True(heap.Realloc(e, SmallHeap + 1, MallocCaps.Default) == null); // TOO_MUCH
        heap.Free(f);

        var g = (uint*)heap.Realloc(e, 128, MallocCaps.Default);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.True(e == g); // 'g' extends 'e' in place, into the space formerly held by 'f'
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    public void MultiHeap_defrag_realloc(PoisoningLevel poisoning)
    {
        // Not under comprehensive poisoning: test_multi_heap.cpp has this case #ifndef MULTI_HEAP_POISONING_SLOW, where
        // realloc is malloc-copy-free.
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        var info = heap.GetInfo(MallocCaps.None);
        Assert.Equal(0u, info.AllocatedBlocks);
        Assert.Equal(1u, info.FreeBlocks);

        var p0 = heap.Malloc(128, MallocCaps.Default);
        var p1 = heap.Malloc(32, MallocCaps.Default);
        Assert.True(heap.Realloc(p0, 64, MallocCaps.Default) == p0);
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.True(heap.Realloc(p0, 32, MallocCaps.Default) == p0);
        Assert.True(heap.CheckIntegrityAll(false));

        var info2 = heap.GetInfo(MallocCaps.None);
        Assert.Equal(2u, info2.AllocatedBlocks);
        Assert.Equal(2u, info2.FreeBlocks);

        heap.Free(p0);
        heap.Free(p1);
        info2 = heap.GetInfo(MallocCaps.None);
        Assert.Equal(0u, info2.AllocatedBlocks);
        Assert.Equal(1u, info2.FreeBlocks);
        Assert.Equal(info.TotalFreeBytes, info2.TotalFreeBytes);
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_minimum_size_allocations(PoisoningLevel poisoning)
    {
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        var p = new List<nint>();
        var beforeFree = heap.GetFreeSize(MallocCaps.None);

        for (var i = 0; i < SmallHeap / 4; i++)
        {
            var q = heap.Malloc(1, MallocCaps.Default);
            if (q == null)
            {
                break;
            }

            p.Add((nint)q);
        }

        Assert.True(p.Count < SmallHeap / 4); // ran out of heap before running out of pointers
        Assert.True(heap.GetFreeSize(MallocCaps.None) < beforeFree);
        Assert.True(heap.CheckIntegrityAll(false));

        var random = new Random(5);
        foreach (var q in p.OrderBy(_ => random.Next()))
        {
            heap.Free((void*)q); // in random order
            Assert.True(heap.CheckIntegrityAll(false));
        }

        Assert.Equal(beforeFree, heap.GetFreeSize(MallocCaps.None));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_aligned_allocations(PoisoningLevel poisoning)
    {
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        var oldSize = heap.GetFreeSize(MallocCaps.None);
        const nuint leakage = 1024;

        for (nuint alignment = 0; alignment <= 256; alignment++)
        {
            var buf = (byte*)heap.AlignedAlloc(alignment, alignment + 137, MallocCaps.Default);
            if ((alignment & (alignment - 1)) != 0 || alignment == 0)
            {
                Assert.True(buf == null, $"alignment {alignment}");
                continue;
            }

            Assert.True(buf != null, $"alignment {alignment}");
            Assert.Equal(0u, (nuint)buf & (alignment - 1));
            new Span<byte>(buf, (int)(alignment + 137)).Fill(0xA5);
            Assert.True(heap.CheckIntegrityAll(false), $"alignment {alignment}");
            heap.Free(buf);
        }

        // TLSF must not allocate less than required, or it writes into the previous block (ESP-IDF !16296).
        var buf1 = (byte*)heap.AlignedAlloc(4, 50, MallocCaps.Default);
        var buf2 = (byte*)heap.AlignedAlloc(4, 50, MallocCaps.Default);
        heap.Free(buf1);
        buf1 = (byte*)heap.AlignedAlloc(4, (nuint)(buf2 - buf1), MallocCaps.Default);
        heap.Free(buf2);
        Assert.True(heap.CheckIntegrityAll(false));

        Assert.True(oldSize - heap.GetFreeSize(MallocCaps.None) <= leakage);
        heap.Free(buf1);
        Assert.Equal(oldSize, heap.GetFreeSize(MallocCaps.None));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None, 15u, 1)]
    [InlineData(PoisoningLevel.Light, 15u, 1)]
    [InlineData(PoisoningLevel.Comprehensive, 15u, 1)]
    [InlineData(PoisoningLevel.None, 255u, 2)]
    [InlineData(PoisoningLevel.Light, 255u, 2)]
    [InlineData(PoisoningLevel.Comprehensive, 255u, 2)]
    public void MultiHeap_many_random_allocations(PoisoningLevel poisoning, uint poolKiB, int seed)
    {
        // The original's 15 and 255 KiB pools (its 4095 and 8191 KiB pools run unpoisoned in MultiHeapHostTests).
        using var f = Fixture(poolKiB * 1024, poisoning);
        var heap = f.Heap;
        const int numPointers = 64;
        const int iterations = 5000;
        var p = new nint[numPointers];
        var s = new nuint[numPointers];
        var random = new Random(seed);
        var initialFree = heap.GetFreeSize(MallocCaps.None);

        for (var i = 0; i < iterations; i++)
        {
            var n = random.Next(numPointers);
            if (i % 4 == 0)
            {
                // 1 in 4 iterations, realloc the buffer instead of malloc/free.
                var newSize = (nuint)random.Next(1023) + 1;
                MultiHeapHostTests.VerifyFill((byte*)p[n], s[n], (byte)n);
                var newP = heap.Realloc((void*)p[n], newSize, MallocCaps.Default);
                Assert.True(heap.CheckIntegrityAll(false));
                if (newP != null)
                {
                    p[n] = (nint)newP;
                    s[n] = newSize;
                    new Span<byte>(newP, (int)newSize).Fill((byte)n);
                }

                continue;
            }

            if (p[n] != 0)
            {
                MultiHeapHostTests.VerifyFill((byte*)p[n], s[n], (byte)n);
                heap.Free((void*)p[n]);
                p[n] = 0;
                Assert.True(heap.CheckIntegrityAll(false));
            }

            s[n] = (nuint)random.Next(1024);
            var fresh = heap.Malloc(s[n], MallocCaps.Default);
            if (fresh != null)
            {
                p[n] = (nint)fresh;
                new Span<byte>(fresh, (int)s[n]).Fill((byte)n);
            }

            Assert.True(heap.CheckIntegrityAll(false));
        }

        for (var i = 0; i < numPointers; i++)
        {
            heap.Free((void*)p[i]);
        }

        Assert.True(heap.CheckIntegrityAll(false));
        Assert.Equal(initialFree, heap.GetFreeSize(MallocCaps.None));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_simple_allocations(PoisoningLevel poisoning)
    {
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        var testAllocSize = (heap.GetFreeSize(MallocCaps.None) + 4) / 2;

        var buf = (byte*)heap.Malloc(testAllocSize, MallocCaps.Default);
        Assert.True(buf != null);
        Assert.Equal("DRAM", f.RegionOf(buf));
        Assert.True(heap.GetAllocatedSize(buf) >= testAllocSize);
        new Span<byte>(buf, (int)testAllocSize).Fill(0xEE);

        Assert.True(heap.Malloc(testAllocSize, MallocCaps.Default) == null);
        heap.Free(buf);

        // Now there should be space for another allocation.
        buf = (byte*)heap.Malloc(testAllocSize, MallocCaps.Default);
        Assert.True(buf != null);
        heap.Free(buf);

        Assert.True(heap.GetFreeSize(MallocCaps.None) > heap.GetMinimumFreeSize(MallocCaps.None));
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_fragmentation(PoisoningLevel poisoning)
    {
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        const nuint allocSize = 500;
        var p = new nint[4];
        for (var i = 0; i < 4; i++)
        {
            Assert.True(heap.CheckIntegrityAll(false));
            p[i] = (nint)heap.Malloc(allocSize, MallocCaps.Default);
            Assert.True(p[i] != 0);
        }

        Assert.True(heap.Malloc(allocSize * 5, MallocCaps.Default) == null); // no room to allocate 5 * alloc_size now

        heap.Free((void*)p[0]);
        heap.Free((void*)p[1]);
        heap.Free((void*)p[3]);
        heap.Free(heap.Malloc(allocSize * 3, MallocCaps.Default));
        heap.Free((void*)p[2]);
        heap.Free(heap.Malloc(allocSize * 2, MallocCaps.Default));

        Assert.True(heap.CheckIntegrityAll(false));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_defrag(PoisoningLevel poisoning)
    {
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        Assert.True(heap.CheckIntegrityAll(false));
        var info = heap.GetInfo(MallocCaps.None);
        Assert.Equal(0u, info.AllocatedBlocks);
        Assert.Equal(1u, info.FreeBlocks);

        var p0 = heap.Malloc(128, MallocCaps.Default);
        Assert.True(p0 != null);
        Assert.True(heap.CheckIntegrityAll(false));
        var p1 = heap.Malloc(32, MallocCaps.Default);
        Assert.True(p1 != null);
        Assert.True(heap.CheckIntegrityAll(false));

        heap.Free(p0);
        var p2 = heap.Malloc(64, MallocCaps.Default);
        Assert.True(p2 == p0);
        Assert.True(heap.CheckIntegrityAll(false));

        heap.Free(p2);
        var p3 = heap.Malloc(32, MallocCaps.Default);
        Assert.True(p3 == p0);
        Assert.True(heap.CheckIntegrityAll(false));

        var info2 = heap.GetInfo(MallocCaps.None);
        Assert.Equal(2u, info2.AllocatedBlocks);
        Assert.Equal(2u, info2.FreeBlocks);

        heap.Free(p0);
        heap.Free(p1);
        info2 = heap.GetInfo(MallocCaps.None);
        Assert.Equal(0u, info2.AllocatedBlocks);
        Assert.Equal(1u, info2.FreeBlocks);
        Assert.Equal(info.TotalFreeBytes, info2.TotalFreeBytes);
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_allocation_overhead(PoisoningLevel poisoning)
    {
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        const nuint allocSize = 256;
        var freeBytes1 = heap.GetFreeSize(MallocCaps.None);

        var x = heap.Malloc(allocSize, MallocCaps.Default);
        var freeBytes2 = heap.GetFreeSize(MallocCaps.None);

        Assert.True(freeBytes1 > freeBytes2);
        Assert.True(freeBytes1 - freeBytes2 > allocSize);
        heap.Free(x);
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void MultiHeap_poisoning_detection(PoisoningLevel poisoning)
    {
        // The fresh heap's one free block; the C test corrupts each byte of it past the block's free-list links
        // (next_free, prev_free: 8 bytes) up to the next block's prev_phys_block word (the last 4 bytes), one at a time.
        using var f = Fixture(SmallHeap, poisoning);
        var heap = f.Heap;
        var blocks = new List<HeapWalkBlock>();
        heap.WalkAll((_, block) =>
        {
            blocks.Add(block);
            return true;
        });
        var free = Assert.Single(blocks);
        Assert.False(free.Used);
        var first = (byte*)free.Address + 8;
        var effectiveFreeSize = (int)free.Size - 4 - 8;
        var random = new Random(7);

        for (var i = 0; i < effectiveFreeSize; i++)
        {
            var original = first[i];
            first[i] ^= (byte)(random.Next(255) | 1);

            var ok = heap.CheckIntegrityAll(print: true, TextWriter.Null);
            first[i] = original;

            // Only comprehensive poisoning checks the free pattern.
            Assert.True(ok == (poisoning != PoisoningLevel.Comprehensive), $"byte {i} of {effectiveFreeSize}");
            Assert.True(heap.CheckIntegrityAll(print: true, TextWriter.Null), $"byte {i} restored");
        }
    }

    private static ChipFixture Fixture(uint regionSize, PoisoningLevel poisoning) => new(
        HeapLayout.CreateBuilder("multi_heap").WithAlignment(4)
            .AddRegion("DRAM", regionSize, MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Bit32).Build(),
        new HeapCapsOptions { Poisoning = poisoning, ErrorOutput = null });
}

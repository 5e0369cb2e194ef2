// TlsfHeap behaviour: class rounding kept by the block, splitting, multi_heap statistics, the
// largest free block (the largest request guaranteed to succeed), memalign, tags, realloc edges.
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class TlsfHeapTests
{
    [Theory]
    // 4 KiB heap (SL_LOG2 3): below 32 exact in 4s; [32,64) steps of 4; [64,128) 8; [128,256) 16; [256,512) 32.
    [InlineData(4096u, 1u, 12u)]
    [InlineData(4096u, 13u, 16u)]
    [InlineData(4096u, 33u, 36u)]
    [InlineData(4096u, 65u, 72u)]
    [InlineData(4096u, 129u, 144u)]
    [InlineData(4096u, 500u, 512u)]
    // 200 KiB heap (SL_LOG2 4): [512,1024) steps of 32.
    [InlineData(204800u, 513u, 544u)]
    // 4 MiB heap (SL_LOG2 5): [512,1024) steps of 16; below 128 exact in 4s.
    [InlineData(4194304u, 1000u, 1008u)]
    [InlineData(4194304u, 127u, 128u)]
    public void MallocKeepsTheClassRoundedSize(uint regionSize, uint request, uint kept)
    {
        using var heap = new TlsfTestHeap(regionSize);
        var before = heap.Heap.FreeBytes;
        var p = heap.Heap.Malloc(request);
        Assert.True(p != null);
        Assert.Equal((nuint)kept, heap.Heap.GetAllocatedSize(p));
        Assert.Equal(before - kept - 4, heap.Heap.FreeBytes);
        Assert.Equal((nuint)kept, heap.Heap.GetInfo().TotalAllocatedBytes);
        heap.AssertIntact();
    }

    [Fact]
    public void TheRemainderIsSplitOffAsAFreeBlock()
    {
        using var heap = new TlsfTestHeap(4096);
        var p = heap.Heap.Malloc(500);
        var blocks = Walk(heap.Heap);
        Assert.Equal([((nuint)p, (nuint)512, true), ((nuint)p + 516, (nuint)(3724 - 516), false)], blocks);
    }

    [Fact]
    public void ARemainderTooSmallForABlockStaysInTheBlock()
    {
        using var heap = new TlsfTestHeap(4096);
        var p = heap.Heap.Malloc(60);
        var q = heap.Heap.Malloc(12);
        Assert.Equal(TlsfPointer.Live, heap.Heap.Free(p, false, out _, out _));

        // The 60-byte hole is the lowest non-empty list at or above 48's class; 60 - 48 < 16 cannot hold a block.
        var r = heap.Heap.Malloc(48);
        Assert.True(r == p);
        Assert.Equal((nuint)60, heap.Heap.GetAllocatedSize(r));
        Assert.True(q != null);
        heap.AssertIntact();
    }

    [Fact]
    public void StatisticsFollowMultiHeap()
    {
        using var heap = new TlsfTestHeap(4096);
        var initial = heap.Heap.FreeBytes;
        var a = heap.Heap.Malloc(100); // 104
        var b = heap.Heap.Malloc(200); // 208
        Assert.Equal(initial - 108 - 212, heap.Heap.FreeBytes);
        Assert.Equal(heap.Heap.FreeBytes, heap.Heap.MinimumFreeBytes);
        var low = heap.Heap.FreeBytes;

        heap.Heap.Free(a, false, out var freedSize, out _);
        Assert.Equal((nuint)104, freedSize);
        Assert.Equal(low + 108, heap.Heap.FreeBytes);
        Assert.Equal(low, heap.Heap.MinimumFreeBytes);

        var info = heap.Heap.GetInfo();
        Assert.Equal((nuint)208, info.TotalAllocatedBytes);
        Assert.Equal((nuint)1, info.AllocatedBlocks);
        Assert.Equal((nuint)2, info.FreeBlocks);
        Assert.Equal((nuint)3, info.TotalBlocks);

        // free + allocated + 4 per used block + metadata = region size.
        Assert.Equal(heap.Size, info.TotalFreeBytes + info.TotalAllocatedBytes + (4 * info.AllocatedBlocks) + heap.Heap.MetadataBytes);

        // realloc: free += old - new; the watermark follows.
        Assert.Equal(TlsfPointer.Live, heap.Heap.Realloc(b, 1000, out var c, out var oldSize, out _));
        Assert.Equal((nuint)208, oldSize);
        var cSize = heap.Heap.GetAllocatedSize(c);
        Assert.Equal(low + 108 + 208 - cSize, heap.Heap.FreeBytes);
        Assert.Equal(Math.Min(low, heap.Heap.FreeBytes), heap.Heap.MinimumFreeBytes);
        heap.Heap.Free(c, false, out _, out _);
        Assert.Equal(initial, heap.Heap.FreeBytes);
        heap.AssertIntact();
    }

    [Fact]
    public void MinimumFreeCanStartAtZeroAndBeResetAndRestored()
    {
        using (var late = new TlsfTestHeap(4096, minimumStartsAtZero: true))
        {
            Assert.Equal((nuint)0, late.Heap.MinimumFreeBytes);
            late.Heap.Free(late.Heap.Malloc(64), false, out _, out _);
            Assert.Equal((nuint)0, late.Heap.MinimumFreeBytes);
            late.AssertIntact();
        }

        using var heap = new TlsfTestHeap(4096);
        var p = heap.Heap.Malloc(400);
        heap.Heap.Free(p, false, out _, out _);
        var lifetime = heap.Heap.MinimumFreeBytes;
        Assert.True(lifetime < heap.Heap.FreeBytes);

        Assert.Equal(lifetime, heap.Heap.ResetMinimumFree());
        Assert.Equal(heap.Heap.FreeBytes, heap.Heap.MinimumFreeBytes);
        var q = heap.Heap.Malloc(100);
        var local = heap.Heap.MinimumFreeBytes;
        heap.Heap.Free(q, false, out _, out _);
        heap.Heap.RestoreMinimumFree(lifetime);
        Assert.Equal(Math.Min(local, lifetime), heap.Heap.MinimumFreeBytes);
        heap.Heap.RestoreMinimumFree(heap.Heap.FreeBytes + 100);
        Assert.Equal(Math.Min(local, lifetime), heap.Heap.MinimumFreeBytes);
    }

    [Theory]
    [InlineData(4096u, 3584u)]         // first block 3724, class [3584, 3840)
    [InlineData(204800u, 196608u)]     // first block 203832 in [196608, 204800) (steps of 8192)
    [InlineData(4194304u, 4128768u)]   // first block 4192108 in [4128768, 4194304) (steps of 65536)
    public void LargestFreeBlockOfAFreshHeapIsAllocatableAndTight(uint regionSize, uint largest)
    {
        using var heap = new TlsfTestHeap(regionSize);
        Assert.Equal((nuint)largest, heap.Heap.LargestFreeBlock);
        Assert.Equal((nuint)largest, heap.Heap.GetInfo().LargestFreeBlock);
        Assert.True(heap.Heap.Malloc(largest + 4) == null);
        var p = heap.Heap.Malloc(largest);
        Assert.True(p != null);
        heap.AssertIntact();
    }

    [Theory]
    [InlineData(4096u, 4u, 1)]
    [InlineData(4096u, 4u, 2)]
    [InlineData(65536u, 4u, 3)]
    [InlineData(300000u, 4u, 4)]
    [InlineData(65536u, 8u, 5)]
    [InlineData(65536u, 16u, 6)]
    [InlineData(300000u, 16u, 7)]
    public void LargestFreeBlockOfAFragmentedHeapIsAllocatableAndTight(uint regionSize, uint alignment, int seed)
    {
        using var heap = new TlsfTestHeap(regionSize, alignment);
        var random = new Random(seed);
        var live = new List<nint>();
        for (var round = 0; round < 200; round++)
        {
            for (var i = 0; i < 10; i++)
            {
                var p = heap.Heap.Malloc((nuint)random.Next(1, (int)(regionSize / 40)));
                if (p != null)
                {
                    live.Add((nint)p);
                }
            }

            for (var i = 0; i < 7 && live.Count > 0; i++)
            {
                var index = random.Next(live.Count);
                heap.Heap.Free((void*)live[index], false, out _, out _);
                live.RemoveAt(index);
            }

            var largest = heap.Heap.LargestFreeBlock;
            Assert.Equal(largest, heap.Heap.GetInfo().LargestFreeBlock);
            if (largest == 0)
            {
                Assert.True(heap.Heap.Malloc(1) == null);
                continue;
            }

            Assert.True(heap.Heap.Malloc(largest + alignment) == null, $"malloc(largest + {alignment}) succeeded, largest {largest}");
            var q = heap.Heap.Malloc(largest);
            Assert.True(q != null, $"malloc(largest = {largest}) failed in round {round}");
            Assert.True(heap.Heap.GetAllocatedSize(q) >= largest);
            heap.Heap.Free(q, false, out _, out _);
        }

        heap.AssertIntact();
    }

    [Fact]
    public void MemalignAlignsAndFreesTheLeadingGap()
    {
        using var heap = new TlsfTestHeap(65536);
        var initial = heap.Heap.FreeBytes;
        for (nuint alignment = 1; alignment <= 4096; alignment <<= 1)
        {
            var p = heap.Heap.Memalign(alignment, 100);
            Assert.True(p != null);
            Assert.Equal((nuint)0, (nuint)p % alignment);
            Assert.True(heap.Heap.GetAllocatedSize(p) >= 100);

            // tlsf_memalign trims to the adjusted request, not to the class.
            Assert.Equal((nuint)100, heap.Heap.GetAllocatedSize(p));
            heap.AssertIntact();
            var info = heap.Heap.GetInfo();
            Assert.Equal((nuint)1, info.AllocatedBlocks);
            Assert.Equal(initial - 104, info.TotalFreeBytes);
            heap.Heap.Free(p, false, out _, out _);
            Assert.Equal(initial, heap.Heap.FreeBytes);
        }

        Assert.True(heap.Heap.Memalign(0, 100) == null);
        Assert.True(heap.Heap.Memalign(24, 100) == null);
        Assert.True(heap.Heap.Memalign(1u << 30, 100) == null);
        heap.AssertIntact();
    }

    [Fact]
    public void TagsFollowBlocksThroughReallocAndAreClearedOnFree()
    {
        using var heap = new TlsfTestHeap(4096);
        var a = heap.Heap.Malloc(64, tag: 7);
        var b = heap.Heap.Malloc(32, tag: 8);
        Assert.Equal(7u, heap.Heap.GetTag(a));
        heap.Heap.SetTag(a, 9);
        Assert.Equal(9u, heap.Heap.GetTag(a));

        // a cannot grow in place (b follows it): it moves and its tag goes with it.
        Assert.Equal(TlsfPointer.Live, heap.Heap.Realloc(a, 200, out var moved, out _, out var tag));
        Assert.Equal(9u, tag);
        Assert.True(moved != a);
        Assert.Equal(9u, heap.Heap.GetTag(moved));
        Assert.Equal(0u, heap.Heap.GetTag(a));
        Assert.Equal(TlsfPointer.Freed, heap.Heap.Query(a, out _, out _));

        Assert.Equal(TlsfPointer.Live, heap.Heap.Free(b, clearIfTagged: false, out _, out var freedTag));
        Assert.Equal(8u, freedTag);
        Assert.Equal(0u, heap.Heap.GetTag(b));
        heap.AssertIntact();
    }

    [Fact]
    public void FreeClearsTaggedBlocksOnlyWhenAsked()
    {
        using var heap = new TlsfTestHeap(4096);
        var tagged = (byte*)heap.Heap.Malloc(64, tag: 1);
        var plain = (byte*)heap.Heap.Malloc(64);
        var keep = (byte*)heap.Heap.Malloc(64, tag: 2);
        new Span<byte>(tagged, 64).Fill(0xAB);
        new Span<byte>(plain, 64).Fill(0xAB);
        new Span<byte>(keep, 64).Fill(0xAB);

        heap.Heap.Free(tagged, clearIfTagged: true, out _, out _);
        heap.Heap.Free(plain, clearIfTagged: true, out _, out _);
        heap.Heap.Free(keep, clearIfTagged: false, out _, out _);

        // The first 8 data bytes of a free block hold its list links; the rest show what free did.
        Assert.True(new Span<byte>(tagged + 8, 52).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(new Span<byte>(plain + 8, 52).IndexOfAnyExcept((byte)0xAB) < 0);
        Assert.True(new Span<byte>(keep + 8, 52).IndexOfAnyExcept((byte)0xAB) < 0);
    }

    [Fact]
    public void FailedReallocLeavesTheBlockIntact()
    {
        using var heap = new TlsfTestHeap(4096);
        var a = (byte*)heap.Heap.Malloc(100, tag: 5);
        var b = heap.Heap.Malloc(100);
        new Span<byte>(a, 100).Fill(0x5A);
        var free = heap.Heap.FreeBytes;

        foreach (var size in new nuint[] { 3600, 4096, 1u << 20, nuint.MaxValue, 0 })
        {
            Assert.Equal(TlsfPointer.Live, heap.Heap.Realloc(a, size, out var result, out var oldSize, out var tag));
            Assert.True(result == null);
            Assert.Equal((nuint)104, oldSize);
            Assert.Equal(5u, tag);
            Assert.Equal(free, heap.Heap.FreeBytes);
            Assert.True(new Span<byte>(a, 100).IndexOfAnyExcept((byte)0x5A) < 0);
            Assert.Equal(TlsfPointer.Live, heap.Heap.Query(a, out _, out _));
        }

        Assert.True(b != null);
        heap.AssertIntact();
    }

    [Fact]
    public void ZeroAndOversizedRequestsFail()
    {
        using var heap = new TlsfTestHeap(4096);
        Assert.True(heap.Heap.Malloc(0) == null);
        Assert.True(heap.Heap.Malloc(4096) == null); // block_size_max = 1 << 12
        Assert.True(heap.Heap.Malloc(nuint.MaxValue) == null);
        Assert.True(heap.Heap.Memalign(16, nuint.MaxValue - 8) == null);
        Assert.Equal(TlsfConfiguration.InitialFreeBytes(4096), (uint)heap.Heap.FreeBytes);
        heap.AssertIntact();
    }

    internal static List<(nuint Address, nuint Size, bool Used)> Walk(TlsfHeap heap)
    {
        var blocks = new List<(nuint, nuint, bool)>();
        heap.Walk((address, size, used) =>
        {
            blocks.Add((address, size, used));
            return true;
        });
        return blocks;
    }
}

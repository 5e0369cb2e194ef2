// Ports of ESP-IDF's test_walker.c (components/heap/test_apps/heap_tests/main) on a TlsfHeap, plus
// the guarantee the region contract adds: a corrupt size word stops the walk before the corrupt
// block is reported, so nothing outside the pool is ever read or handed to the visitor.
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class TlsfWalkerTests
{
    private const uint PassCode = 0x9876BAAB;
    private const nuint AllocSize = 16;

    [Fact]
    public void Heap_walker()
    {
        using var h = new TlsfTestHeap(8192);
        var others = new[] { (nint)h.Heap.Malloc(40), (nint)h.Heap.Malloc(100) };
        var ptr = (uint*)h.Heap.Malloc(AllocSize);
        Assert.True(ptr != null);
        *ptr = PassCode;
        h.Heap.Free((void*)others[0], false, out _, out _);

        var found = false;
        var count = 0;
        h.Heap.Walk((block, size, used) =>
        {
            count++;
            Assert.True(h.Contains((void*)block, size));
            if (*(uint*)block == PassCode)
            {
                // No poisoning and no task tracking: the block is exactly the request.
                Assert.Equal(AllocSize, size);
                Assert.True(used);
                found = true;
            }

            return true;
        });

        Assert.True(found);
        Assert.Equal((int)h.Heap.GetInfo().TotalBlocks, count);
    }

    [Fact]
    public void Heap_walker_corrupted_heap_detection()
    {
        using var h = new TlsfTestHeap(8192);
        var first = h.Heap.Malloc(64);
        var ptr = (uint*)h.Heap.Malloc(AllocSize);
        var after = h.Heap.Malloc(64);
        Assert.True(first != null && after != null);

        // Corrupt the size field of the block's header with a size bigger than the heap itself.
        var original = ptr[-1];
        ptr[-1] = 0xFF000000;
        *ptr = PassCode;

        var visited = new List<nuint>();
        h.Heap.Walk((block, size, used) =>
        {
            Assert.True(h.Contains((void*)block, size), "the walk reported a block outside the pool");
            visited.Add(block);
            return true;
        });

        // The walk stopped before the corrupt block: only the block in front of it was reported.
        Assert.Equal([(nuint)first], visited);
        Assert.NotEqual(0, h.Heap.Check());
        var info = h.Heap.GetInfo(); // must not crash either
        Assert.Equal((nuint)1, info.TotalBlocks);

        ptr[-1] = original;
        h.AssertIntact();
        visited.Clear();
        h.Heap.Walk((block, _, _) =>
        {
            visited.Add(block);
            return true;
        });
        Assert.Equal(4, visited.Count);
    }

    [Fact]
    public void WalkStopsWhenTheVisitorSaysSo()
    {
        using var h = new TlsfTestHeap(8192);
        for (var i = 0; i < 10; i++)
        {
            h.Heap.Malloc(32);
        }

        var count = 0;
        h.Heap.Walk((_, _, _) => ++count < 3);
        Assert.Equal(3, count);
    }
}

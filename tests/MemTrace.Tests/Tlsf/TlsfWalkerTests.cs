// Ports of ESP-IDF's test_walker.c (components/heap/test_apps/heap_tests/main) on a TlsfHeap, plus
// the guarantee the region contract adds: a corrupt size word is reported to the walker as ESP-IDF
// reports it (the walker tells it by a size that runs past the heap), and the walk ends there, so
// nothing outside the pool is ever read, whatever the walker returns.
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

        // ESP-IDF's walker: a block whose size runs past the heap's end is the corruption; it returns false.
        var corrupted = false;
        var visited = new List<(nuint Block, nuint Size, bool Used)>();
        h.Heap.Walk((block, size, used) =>
        {
            visited.Add((block, size, used));
            if ((nuint)h.End - block < size)
            {
                corrupted = true;
                return false;
            }

            Assert.True(h.Contains((void*)block, size), "a sound block outside the pool");
            return true;
        });
        Assert.True(corrupted);
        Assert.Equal([((nuint)first, (nuint)64, true), ((nuint)ptr, (nuint)0xFF000000, true)], visited);

        // A walker that returns true for it is not led outside the pool: the walk ends at the corrupt block.
        visited.Clear();
        h.Heap.Walk((block, size, used) =>
        {
            visited.Add((block, size, used));
            return true;
        });
        Assert.Equal([(nuint)first, (nuint)ptr], visited.Select(static v => v.Block));

        // Walks for visitors that read blocks stop before it.
        visited.Clear();
        h.Heap.Walk(
            (block, size, used) =>
            {
                visited.Add((block, size, used));
                return true;
            },
            reportCorruptBlock: false);
        Assert.Equal([(nuint)first], visited.Select(static v => v.Block));
        Assert.NotEqual(0, h.Heap.Check());
        var info = h.Heap.GetInfo(); // must not crash either
        Assert.Equal((nuint)1, info.TotalBlocks);

        ptr[-1] = original;
        h.AssertIntact();
        visited.Clear();
        h.Heap.Walk((block, size, used) =>
        {
            visited.Add((block, size, used));
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

// Ports of ESP-IDF's host multi_heap tests (components/heap/test_multi_heap_host/main/
// test_multi_heap.cpp), one test per TEST_CASE, named after it. They run on 4 KiB heaps as the
// originals do (a fresh heap per test here, where some originals share one static heap), with the
// originals' REQUIREs plus the figures the chip layout fixes (noted where added).
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class MultiHeapHostTests
{
    private const uint SmallHeap = 4 * 1024;

    [Fact]
    public void MultiHeap_simple_allocations()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        var testAllocSize = (heap.FreeBytes + 4) / 2;

        var buf = (byte*)heap.Malloc(testAllocSize);
        Assert.True(buf != null);
        Assert.True(h.Contains(buf, testAllocSize));
        Assert.True(heap.GetAllocatedSize(buf) >= testAllocSize);
        new Span<byte>(buf, (int)testAllocSize).Fill(0xEE);

        Assert.True(heap.Malloc(testAllocSize) == null);
        heap.Free(buf, false, out _, out _);

        // Now there should be space for another allocation.
        buf = (byte*)heap.Malloc(testAllocSize);
        Assert.True(buf != null);
        heap.Free(buf, false, out _, out _);

        Assert.True(heap.FreeBytes > heap.MinimumFreeBytes);
        h.AssertIntact();
    }

    [Fact]
    public void MultiHeap_fragmentation()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        var initial = heap.FreeBytes;
        const nuint allocSize = 500;

        var p = new void*[4];
        for (var i = 0; i < 4; i++)
        {
            h.AssertIntact();
            p[i] = heap.Malloc(allocSize);
            Assert.True(p[i] != null);
        }

        Assert.True(heap.Malloc(allocSize * 5) == null); // no room to allocate 5 * alloc_size now

        heap.Free(p[0], false, out _, out _);
        heap.Free(p[1], false, out _, out _);
        heap.Free(p[3], false, out _, out _);

        var big = heap.Malloc(allocSize * 3);
        heap.Free(big, false, out _, out _);
        heap.Free(p[2], false, out _, out _);

        big = heap.Malloc(allocSize * 2);
        Assert.True(big != null); // added: the heap is empty again
        heap.Free(big, false, out _, out _);

        // Added: everything coalesced back into one block.
        Assert.Equal(initial, heap.FreeBytes);
        Assert.Equal((nuint)1, heap.GetInfo().FreeBlocks);
        h.AssertIntact();
    }

    [Fact]
    public void MultiHeap_defrag()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        var p = new void*[4];

        h.AssertIntact();
        var info = heap.GetInfo();
        Assert.Equal((nuint)0, info.AllocatedBlocks);
        Assert.Equal((nuint)1, info.FreeBlocks);

        p[0] = heap.Malloc(128);
        Assert.True(p[0] != null);
        h.AssertIntact();
        p[1] = heap.Malloc(32);
        Assert.True(p[1] != null);
        h.AssertIntact();

        heap.Free(p[0], false, out _, out _);
        p[2] = heap.Malloc(64);
        Assert.True(p[2] == p[0]);
        h.AssertIntact();

        heap.Free(p[2], false, out _, out _);
        p[3] = heap.Malloc(32);
        Assert.True(p[3] == p[0]);
        h.AssertIntact();

        var info2 = heap.GetInfo();
        Assert.Equal((nuint)2, info2.AllocatedBlocks);
        Assert.Equal((nuint)2, info2.FreeBlocks);

        heap.Free(p[0], false, out _, out _);
        heap.Free(p[1], false, out _, out _);
        info2 = heap.GetInfo();
        Assert.Equal((nuint)0, info2.AllocatedBlocks);
        Assert.Equal((nuint)1, info2.FreeBlocks);
        Assert.Equal(info.TotalFreeBytes, info2.TotalFreeBytes);
    }

    [Fact]
    public void MultiHeap_defrag_realloc()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        var p = new void*[4];

        h.AssertIntact();
        var info = heap.GetInfo();
        Assert.Equal((nuint)0, info.AllocatedBlocks);
        Assert.Equal((nuint)1, info.FreeBlocks);

        p[0] = heap.Malloc(128);
        p[1] = heap.Malloc(32);
        h.AssertIntact();

        heap.Realloc(p[0], 64, out p[2], out _, out _);
        Assert.True(p[2] == p[0]);
        h.AssertIntact();

        heap.Realloc(p[2], 32, out p[3], out _, out _);
        Assert.True(p[3] == p[0]);
        h.AssertIntact();

        var info2 = heap.GetInfo();
        Assert.Equal((nuint)2, info2.AllocatedBlocks);
        Assert.Equal((nuint)2, info2.FreeBlocks);

        heap.Free(p[0], false, out _, out _);
        heap.Free(p[1], false, out _, out _);
        info2 = heap.GetInfo();
        Assert.Equal((nuint)0, info2.AllocatedBlocks);
        Assert.Equal((nuint)1, info2.FreeBlocks);
        Assert.Equal(info.TotalFreeBytes, info2.TotalFreeBytes);
    }

    [Theory]
    [InlineData(15u, 1)]
    [InlineData(255u, 2)]
    [InlineData(4095u, 3)]
    [InlineData(8191u, 4)]
    public void MultiHeap_many_random_allocations(uint poolKiB, int seed)
    {
        var heapSize = poolKiB * 1024;
        using var h = new TlsfTestHeap(heapSize);
        var heap = h.Heap;
        const int numPointers = 64;
        const int iterations = 5000;
        var p = new nint[numPointers];
        var s = new nuint[numPointers];
        var random = new Random(seed);
        var initialFree = heap.FreeBytes;

        for (var i = 0; i < iterations; i++)
        {
            var n = random.Next(numPointers);
            if (i % 4 == 0)
            {
                // 1 in 4 iterations, realloc the buffer instead of malloc/free.
                var newSize = (nuint)random.Next(1023) + 1;
                void* newP;
                if (p[n] == 0)
                {
                    newP = heap.Malloc(newSize);
                }
                else
                {
                    VerifyFill((byte*)p[n], s[n], (byte)n);
                    Assert.Equal(TlsfPointer.Live, heap.Realloc((void*)p[n], newSize, out newP, out _, out _));
                }

                h.AssertIntact();
                if (newP != null)
                {
                    p[n] = (nint)newP;
                    s[n] = newSize;
                    Assert.True(h.Contains(newP, newSize));
                    new Span<byte>(newP, (int)newSize).Fill((byte)n);
                }

                continue;
            }

            if (p[n] != 0)
            {
                VerifyFill((byte*)p[n], s[n], (byte)n);
                h.AssertIntact();
                Assert.Equal(TlsfPointer.Live, heap.Free((void*)p[n], false, out _, out _));
                p[n] = 0;
                h.AssertIntact();
            }

            s[n] = (nuint)random.Next(1024);
            var fresh = heap.Malloc(s[n]);
            if (fresh != null)
            {
                p[n] = (nint)fresh;
                Assert.True(h.Contains(fresh, s[n]));
                new Span<byte>(fresh, (int)s[n]).Fill((byte)n);
            }

            h.AssertIntact();
        }

        for (var i = 0; i < numPointers; i++)
        {
            if (p[i] != 0)
            {
                heap.Free((void*)p[i], false, out _, out _);
            }

            h.AssertIntact();
        }

        Assert.Equal(initialFree, heap.FreeBytes);
    }

    [Fact]
    public void MultiHeap_get_info_function()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        var before = heap.GetInfo();
        Assert.Equal((nuint)0, before.AllocatedBlocks);
        Assert.Equal((nuint)0, before.TotalAllocatedBytes);
        Assert.Equal(before.TotalFreeBytes, before.MinimumFreeBytes);

        var x = heap.Malloc(32);
        var after = heap.GetInfo();
        Assert.Equal((nuint)1, after.AllocatedBlocks);
        Assert.Equal((nuint)32, after.TotalAllocatedBytes);
        Assert.True(after.MinimumFreeBytes < before.MinimumFreeBytes);
        Assert.True(after.MinimumFreeBytes > 0);

        heap.Free(x, false, out _, out _);
        var freed = heap.GetInfo();
        Assert.Equal((nuint)0, freed.AllocatedBlocks);
        Assert.Equal((nuint)0, freed.TotalAllocatedBytes);
        Assert.Equal(before.TotalFreeBytes, freed.TotalFreeBytes);
        Assert.Equal(after.MinimumFreeBytes, freed.MinimumFreeBytes);
    }

    [Fact]
    public void MultiHeap_minimum_size_allocations()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        var p = new nint[SmallHeap / 4]; // sizeof(void*) on the chip
        var beforeFree = heap.FreeBytes;

        int i;
        for (i = 0; i < p.Length; i++)
        {
            // TLSF minimum block size is 12 bytes (+ 4 bytes of size word).
            p[i] = (nint)heap.Malloc(1);
            if (p[i] == 0)
            {
                break;
            }
        }

        Assert.True(i < p.Length); // ran out of heap before running out of pointers

        // Added: the 3724-byte first block holds exactly (3724 + 4) / 16 = 233 blocks of 12 + 4 bytes,
        // and free_bytes keeps only the sentinel's 4 bytes.
        Assert.Equal(233, i);
        Assert.Equal((nuint)4, heap.FreeBytes);
        Assert.True(heap.FreeBytes < beforeFree);
        h.AssertIntact();

        // Free in random order.
        var random = new Random(5);
        var remaining = i;
        while (remaining > 0)
        {
            var j = random.Next(i);
            if (p[j] == 0)
            {
                continue;
            }

            heap.Free((void*)p[j], false, out _, out _);
            p[j] = 0;
            remaining--;
            h.AssertIntact();
        }

        Assert.Equal(beforeFree, heap.FreeBytes);
    }

    [Fact]
    public void MultiHeap_realloc()
    {
        const uint pattern = 0xABABDADA;
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;

        var a = (uint*)heap.Malloc(64);
        var b = (uint*)heap.Malloc(32);
        Assert.True(a != null);
        Assert.True(b != null);
        Assert.True(b > a); // 'b' takes the block after 'a'

        *a = pattern;
        heap.Realloc(a, 72, out var cPtr, out _, out _);
        var c = (uint*)cPtr;
        h.AssertIntact();
        Assert.True(c != null);
        Assert.True(c > b); // 'a' moves, 'c' takes the block after 'b'
        Assert.Equal(pattern, *c);

        heap.Realloc(c, 36, out var dPtr, out _, out _);
        var d = (uint*)dPtr;
        h.AssertIntact();
        Assert.True(c == d); // 'c' block should be shrunk in place
        Assert.Equal(pattern, *d);

        // The biggest allocation possible to fill exactly the block 'a' left free.
        var e = (uint*)heap.Malloc(60);
        h.AssertIntact();
        Assert.True(a == e); // 'e' takes the block formerly occupied by 'a'

        heap.Free(d, false, out _, out _);
        heap.Realloc(b, 64, out var fPtr, out _, out _);
        var f = (uint*)fPtr;
        h.AssertIntact();
        Assert.True(f == b); // 'b' is extended in place, over space formerly occupied by 'd'

        // Not enough contiguous space left in the heap (TOO_MUCH = HEAP_SIZE + 1).
        Assert.Equal(TlsfPointer.Live, heap.Realloc(e, SmallHeap + 1, out var g, out _, out _));
        Assert.True(g == null);

        heap.Free(f, false, out _, out _);

        // Try again.
        heap.Realloc(e, 128, out g, out _, out _);
        h.AssertIntact();
        Assert.True(e == g); // 'g' extends 'e' in place, into the space formerly held by 'f'
    }

    [Fact]
    public void MultiHeap_aligned_allocations()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        var oldSize = heap.FreeBytes;
        const nuint leakage = 1024;

        for (nuint alignment = 0; alignment <= 256; alignment++)
        {
            // An odd size to test alignment in strange layouts.
            var buf = (byte*)heap.Memalign(alignment, alignment + 137);
            if ((alignment & (alignment - 1)) != 0 || alignment == 0)
            {
                Assert.True(buf == null);
            }
            else
            {
                Assert.True(buf != null);
                Assert.True(h.Contains(buf, alignment + 137));
                Assert.Equal((nuint)0, (nuint)buf & (alignment - 1));
                new Span<byte>(buf, (int)(alignment + 137)).Fill(0xA5);
                h.AssertIntact(); // added
                heap.Free(buf, false, out _, out _);
            }
        }

        // TLSF must not allocate less than required, or it writes into the previous block (ESP-IDF !16296).
        const nuint size = 50;
        var buf1 = (byte*)heap.Memalign(4, size);
        var buf2 = (byte*)heap.Memalign(4, size);
        heap.Free(buf1, false, out _, out _);
        buf1 = (byte*)heap.Memalign(4, (nuint)(buf2 - buf1));
        heap.Free(buf2, false, out _, out _);
        h.AssertIntact(); // added

        Assert.True(oldSize - heap.FreeBytes <= leakage);
        heap.Free(buf1, false, out _, out _);
        Assert.Equal(oldSize, heap.FreeBytes); // added: nothing leaked once all is freed
    }

    [Fact]
    public void MultiHeap_allocation_overhead()
    {
        using var h = new TlsfTestHeap(SmallHeap);
        var heap = h.Heap;
        const nuint allocSize = 256;
        var freeBytes1 = heap.FreeBytes;

        var x = heap.Malloc(allocSize);
        var freeBytes2 = heap.FreeBytes;
        Assert.True(freeBytes1 > freeBytes2);
        Assert.True(freeBytes1 - freeBytes2 > allocSize);
        Assert.Equal(allocSize + 4, freeBytes1 - freeBytes2); // added: the overhead is the 4-byte size word

        heap.Free(x, false, out _, out _);
    }

    [Fact]
    public void MultiHeap_poisoning_detection()
    {
        // Without poisoning (this heap), corrupting the data of the free block is not a heap corruption:
        // the check must keep passing, and keep passing after the byte is restored.
        using var h = new TlsfTestHeap(SmallHeap);
        var controlSize = TlsfConfiguration.ForRegion(SmallHeap).ControlSize;

        // Offset of the first free data byte past the free block's links: heap_t + control + header - overhead.
        var freeMemoryOffset = 20 + controlSize + TlsfConfiguration.BlockHeaderSize - TlsfConfiguration.BlockHeaderOverhead;
        var blockSize = (uint)(((BlockHeader*)(h.Memory + freeMemoryOffset - TlsfConfiguration.BlockHeaderSize))->Size);
        var effectiveFreeSize = blockSize - TlsfConfiguration.BlockHeaderOverhead - 8;
        var random = new Random(11);
        for (uint i = 0; i < effectiveFreeSize; i += 7)
        {
            var affected = h.Memory + freeMemoryOffset + i;
            var original = *affected;
            *affected ^= (byte)(random.Next(255) | 1);
            Assert.Equal(0, h.Heap.Check());
            *affected = original;
            Assert.Equal(0, h.Heap.Check());
        }
    }

    /// <summary>Asserts that the <paramref name="size"/> bytes at <paramref name="p"/> (nothing when null) all still hold <paramref name="value"/>.</summary>
    internal static void VerifyFill(byte* p, nuint size, byte value)
    {
        if (p != null && size > 0)
        {
            Assert.True(new Span<byte>(p, (int)size).IndexOfAnyExcept(value) < 0, "contents changed");
        }
    }
}

// The live-block table under random churn: every start that was freed and is not live again stays "freed" (a second
// free is a double free) however blocks are allocated, aligned, resized, freed and coalesced around it, for every
// plain-allocation alignment and for regions whose start is only 4- or 8-aligned. A slot holds one start; the freed
// starts are a bitmap apart, so a start landing in a freed start's 16 bytes must not make it forgotten.
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class LiveBlockTableChurnTests
{
    [Theory]
    [InlineData(4u, 0u)]
    [InlineData(8u, 0u)]
    [InlineData(16u, 0u)]
    [InlineData(4u, 4u)]
    [InlineData(8u, 4u)]
    [InlineData(16u, 4u)]
    [InlineData(16u, 8u)]
    public void Freed_starts_stay_freed_and_other_addresses_stay_no_block_through_random_churn(uint alignment, uint baseOffset)
    {
        for (var seed = 0; seed < 12; seed++)
        {
            var random = new Random(seed);
            using var h = new TlsfTestHeap(16384, alignment, baseOffset: baseOffset);
            var heap = h.Heap;
            var live = new List<nint>();
            var freed = new List<nint>();
            for (var step = 0; step < 2000; step++)
            {
                var op = random.Next(10);
                if (op < 4)
                {
                    var size = (nuint)random.Next(1, 200);
                    var p = random.Next(4) == 0 ? heap.Memalign((nuint)1 << random.Next(2, 7), size) : heap.Malloc(size);
                    if (p != null)
                    {
                        live.Add((nint)p);
                        freed.Remove((nint)p);
                    }
                }
                else if (op < 7 && live.Count > 0)
                {
                    var i = random.Next(live.Count);
                    var p = live[i];
                    Assert.Equal(TlsfPointer.Live, heap.Free((void*)p, false, out _, out _));
                    live.RemoveAt(i);
                    freed.Add(p);
                }
                else if (op < 8 && live.Count > 0)
                {
                    var i = random.Next(live.Count);
                    var p = live[i];
                    Assert.Equal(TlsfPointer.Live, heap.Realloc((void*)p, (nuint)random.Next(1, 300), out var moved, out _, out _));
                    if (moved != null && (nint)moved != p)
                    {
                        live[i] = (nint)moved;
                        freed.Add(p);
                        freed.Remove((nint)moved);
                    }
                }
                else if (freed.Count > 0)
                {
                    // A freed start, now free memory or inside a larger live block: freed, by every entry point, untouched.
                    var p = (void*)freed[random.Next(freed.Count)];
                    var free = heap.FreeBytes;
                    Assert.True(heap.Query(p, out _, out _) == TlsfPointer.Freed, $"seed {seed}, step {step}: a freed start is {heap.Query(p, out _, out _)}");
                    Assert.Equal(TlsfPointer.Freed, heap.Free(p, false, out _, out _));
                    Assert.Equal(TlsfPointer.Freed, heap.Realloc(p, 10, out var result, out _, out _));
                    Assert.True(result == null);
                    Assert.Equal(free, heap.FreeBytes);
                }

                foreach (var p in live.Take(3))
                {
                    Assert.Equal(TlsfPointer.NotABlock, heap.Query((byte*)p + 1, out _, out _));
                    if (!freed.Contains(p + 4))
                    {
                        Assert.Equal(TlsfPointer.NotABlock, heap.Query((byte*)p + 4, out _, out _));
                    }
                }

                if (step % 250 == 0)
                {
                    h.AssertIntact();
                }
            }

            h.AssertIntact();
            Assert.Equal((nuint)live.Count, heap.LiveBlockCount);
        }
    }
}

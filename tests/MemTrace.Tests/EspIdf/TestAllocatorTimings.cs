// Port of ESP-IDF's test_allocator_timings.c, "Heap many random allocations timings"
// (components/heap/test_apps/heap_tests/main; built without poisoning, as there): 5000 iterations
// on 128 slots. Every fourth iteration reallocs a random slot to rand() % 1024 bytes with
// heap_caps_realloc(..., MALLOC_CAP_DEFAULT) (size 0 frees it); the others verify the slot's
// contents, free it and heap_caps_malloc(rand() % 1024, MALLOC_CAP_DEFAULT) in its place. Slot n is
// always filled with the byte n; the integrity of the DEFAULT heaps is checked around every
// operation, and the cycle counts the C test logs are not measured here. Also checked, beyond the C
// test: a realloc keeps the common prefix, and a failed realloc leaves the block intact.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestAllocatorTimings
{
    private const int NumPointers = 128;
    private const int Iterations = 5000;

    [Theory]
    [InlineData("esp32")]
    [InlineData("esp32-psram4m")]
    [InlineData("esp32s3")]
    public void Heap_many_random_allocations_timings(string layoutName)
    {
        using var f = new ChipFixture(HeapLayout.FromName(layoutName));
        var heap = f.Heap;
        var random = new Random(Iterations); // rand() with a fixed seed: every run draws the same sequence.
        var p = new nint[NumPointers];
        var s = new nuint[NumPointers];

        for (var i = 0; i < Iterations; i++)
        {
            var n = random.Next(NumPointers);

            if (i % 4 == 0)
            {
                // 1 in 4 iterations, realloc the buffer instead of using malloc/free.
                var newSize = (nuint)random.Next(1024);
                var newP = (byte*)heap.Realloc((void*)p[n], newSize, MallocCaps.Default);
                Assert.True(heap.CheckIntegrity(MallocCaps.Default, print: false), $"integrity after realloc at iteration {i}");
                if (newSize == 0 || newP != null)
                {
                    if (newP != null && p[n] != 0)
                    {
                        Verify(newP, Math.Min(newSize, s[n]), (byte)n, i);
                    }

                    p[n] = (nint)newP;
                    s[n] = newSize;
                    new Span<byte>(newP, (int)newSize).Fill((byte)n);
                }
                else if (p[n] != 0)
                {
                    Verify((byte*)p[n], s[n], (byte)n, i); // A failed realloc leaves the block as it was.
                }

                continue;
            }

            if (p[n] != 0)
            {
                Verify((byte*)p[n], s[n], (byte)n, i);
                Assert.True(heap.CheckIntegrity(MallocCaps.Default, print: false), $"integrity before free at iteration {i}");
                heap.Free((void*)p[n]);
                Assert.True(heap.CheckIntegrity(MallocCaps.Default, print: false), $"integrity after freeing at iteration {i}");
            }

            s[n] = (nuint)random.Next(1024);
            p[n] = (nint)heap.Malloc(s[n], MallocCaps.Default);
            Assert.True(heap.CheckIntegrity(MallocCaps.Default, print: false), $"integrity after malloc of {s[n]} bytes at iteration {i}");
            if (p[n] != 0)
            {
                new Span<byte>((void*)p[n], (int)s[n]).Fill((byte)n);
            }
        }

        for (var i = 0; i < NumPointers; i++)
        {
            heap.Free((void*)p[i]);
            Assert.True(heap.CheckIntegrity(MallocCaps.Default, print: false), $"integrity after freeing slot {i} in the cleanup");
        }

        Assert.True(heap.CheckIntegrity(MallocCaps.Default, print: false));
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Empty(f.Failures.Calls); // 128 blocks under 1 KiB always fit: no request failed.
        Assert.Equal(0, heap.ErrorCount);
    }

    private static void Verify(byte* p, nuint size, byte fill, int iteration) =>
        Assert.True(new Span<byte>(p, (int)size).IndexOfAnyExcept(fill) < 0, $"contents changed at iteration {iteration}");
}

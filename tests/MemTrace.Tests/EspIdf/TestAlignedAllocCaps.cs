// Ports of ESP-IDF's test_aligned_alloc_caps.c.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestAlignedAllocCaps
{
    [Fact]
    public void Capabilities_aligned_allocator_test()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        for (nuint alignment = 0; alignment <= 1024; alignment++)
        {
            var buf = (byte*)f.Heap.AlignedAlloc(alignment, alignment + 137, MallocCaps.Default);
            if (!IsPowerOfTwo(alignment))
            {
                Assert.True(buf == null, $"alignment {alignment}");
                continue;
            }

            Assert.True(buf != null, $"alignment {alignment}");
            Assert.Equal(0u, (nuint)buf & (alignment - 1));
            new Span<byte>(buf, (int)(alignment + 137)).Fill(0xA5);
            f.Heap.Free(buf);
        }

        for (nuint alignment = 0; alignment <= 512 * 1024; alignment = alignment < 4096 ? alignment + 1 : alignment * 2)
        {
            var buf = (byte*)f.Heap.AlignedAlloc(alignment, 10 * 1024, MallocCaps.Spiram);
            if (!IsPowerOfTwo(alignment))
            {
                Assert.True(buf == null);
                continue;
            }

            Assert.True(buf != null, $"PSRAM alignment {alignment}");
            Assert.True(f.InPsram(buf));
            Assert.Equal(0u, (nuint)buf & (alignment - 1));
            new Span<byte>(buf, 10 * 1024).Fill(0xA5);
            f.Heap.Free(buf);
        }

        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        Assert.Empty(f.Failures.Calls);
    }

    [Fact]
    public void Capabilities_aligned_calloc_test()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        for (nuint alignment = 0; alignment <= 1024; alignment++)
        {
            var buf = (byte*)f.Heap.AlignedCalloc(alignment, 1, alignment + 137, MallocCaps.Default);
            if (!IsPowerOfTwo(alignment))
            {
                Assert.True(buf == null);
                continue;
            }

            Assert.True(buf != null);
            Assert.Equal(0u, (nuint)buf & (alignment - 1));
            Assert.True(new Span<byte>(buf, (int)(alignment + 137)).IndexOfAnyExcept((byte)0) < 0);
            new Span<byte>(buf, (int)(alignment + 137)).Fill(0xA5);
            f.Heap.Free(buf);
        }

        var ones = (byte*)f.Heap.AlignedCalloc(1024, 1, 1024, MallocCaps.Default);
        Assert.True(new Span<byte>(ones, 1024).IndexOfAnyExcept((byte)0) < 0);
        f.Heap.Free(ones);
        var bytes = (byte*)f.Heap.AlignedCalloc(1024, 1024, 1, MallocCaps.Default);
        Assert.True(new Span<byte>(bytes, 1024).IndexOfAnyExcept((byte)0) < 0);
        f.Heap.Free(bytes);

        // From a non-permitted area (ESP-IDF's loop leaves alignment at 1025, not a power of two).
        Assert.True(f.Heap.AlignedCalloc(1025, 1, 1025 + 137, MallocCaps.Bit32) == null);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Aligned_alloc_0_should_return_a_NULL_pointer()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.True(f.Heap.AlignedAlloc(32, 0, MallocCaps.Default) == null);
        Assert.Empty(f.Failures.Calls);
    }

    private static bool IsPowerOfTwo(nuint value) => value != 0 && (value & (value - 1)) == 0;
}

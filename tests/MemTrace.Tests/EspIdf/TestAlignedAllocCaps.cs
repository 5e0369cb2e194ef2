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

        // Alloc from a non-permitted area (ESP-IDF v4.x's version of this case; the loop leaves alignment at 1025).
        Assert.True(f.Heap.AlignedAlloc(1025, 1025 + 137, MallocCaps.Exec | MallocCaps.Bit32) == null);

        for (nuint alignment = 0; alignment <= 512 * 1024; alignment++)
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

    [Theory]
    [InlineData(0, PoisoningLevel.None)]
    [InlineData(4, PoisoningLevel.None)]
    [InlineData(4, PoisoningLevel.Comprehensive)]
    public void Capabilities_aligned_allocator_test_memalign(int psramMiB, PoisoningLevel poisoning)
    {
        // test_aligned_alloc_caps.c's default-cap loop goes through memalign, alignments 0..1024 with alignment + 137
        // bytes; it then carries on one alignment at a time (alignments++, not doubling) for 10 KiB buffers. Here both
        // go through memalign, every alignment up to 512 KiB: non-powers of two give NULL, powers of two an aligned buffer
        // (with PSRAM, where every power of two fits).
        using var f = new ChipFixture(HeapLayout.Esp32(psramMiB), new HeapCapsOptions { Poisoning = poisoning, ErrorOutput = null });
        var powersAllocated = 0;
        for (nuint alignment = 0; alignment <= 512 * 1024; alignment++)
        {
            var size = alignment <= 1024 ? alignment + 137 : 10 * 1024;
            var buf = (byte*)f.Heap.AlignedAllocDefault(alignment, size);
            if (!IsPowerOfTwo(alignment))
            {
                Assert.True(buf == null, $"alignment {alignment}");
                continue;
            }

            if (buf == null)
            {
                Assert.True(psramMiB == 0 && alignment > 1024, $"alignment {alignment}"); // Only internal RAM can run out.
                continue;
            }

            Assert.Equal(0u, (nuint)buf & (alignment - 1));
            new Span<byte>(buf, (int)size).Fill(0xA5);
            f.Heap.Free(buf);
            powersAllocated++;
        }

        Assert.True(powersAllocated >= 11); // 1..1024 at least; all 20 with PSRAM.
        Assert.True(psramMiB == 0 || powersAllocated == 20);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        Assert.Equal(0, f.Heap.ErrorCount);
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

        // From external memory (CONFIG_SPIRAM), every alignment up to 512 KiB, 10 KiB each.
        for (nuint alignment = 0; alignment <= 512 * 1024; alignment++)
        {
            var buf = (byte*)f.Heap.AlignedCalloc(alignment, 1, 10 * 1024, MallocCaps.Spiram);
            if (!IsPowerOfTwo(alignment))
            {
                Assert.True(buf == null, $"PSRAM alignment {alignment}");
                continue;
            }

            Assert.True(buf != null, $"PSRAM alignment {alignment}");
            Assert.True(f.InPsram(buf));
            Assert.Equal(0u, (nuint)buf & (alignment - 1));
            Assert.True(new Span<byte>(buf, 10 * 1024).IndexOfAnyExcept((byte)0) < 0);
            new Span<byte>(buf, 10 * 1024).Fill(0xA5);
            f.Heap.Free(buf);
        }

        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        Assert.Empty(f.Failures.Calls);
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

// Fuzz of aligned blocks under poisoning over TLSF (tlsf_memalign_offs with the head as offset): random AlignedAlloc
// (alignments 4 .. 8192) / Malloc / Realloc / Free on esp32, esp32s3 and a 16-aligned TLSF layout, Light and
// Comprehensive, with and without a quarantine. After every step: the block is aligned, GetAllocatedSize covers it,
// every live block keeps its contents, CheckIntegrityAll passes and nothing is reported; without a quarantine,
// freeing everything restores the free size. Fixed seeds (System.Random): reproducible.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningAlignedFuzzTests
{
    private const MallocCaps Caps = MallocCaps.Default;
    private const int Slots = 32;

    [Theory]
    [InlineData("esp32", PoisoningLevel.Light, false, 1)]
    [InlineData("esp32", PoisoningLevel.Comprehensive, true, 2)]
    [InlineData("esp32s3", PoisoningLevel.Comprehensive, false, 3)]
    [InlineData("esp32s3", PoisoningLevel.Light, true, 4)]
    [InlineData("tlsf16", PoisoningLevel.Light, false, 5)]
    [InlineData("tlsf16", PoisoningLevel.Comprehensive, true, 6)]
    public void Random_aligned_blocks_keep_the_heap_sound(string layout, PoisoningLevel level, bool quarantine, int seed)
    {
        var map = layout == "tlsf16"
            ? HeapLayout.CreateBuilder("tlsf16").WithAlignment(16).AddRegion("DRAM", 256 * 1024, MallocCaps.Default | MallocCaps.Internal | MallocCaps.Bit8 | MallocCaps.Bit32).Build()
            : HeapLayout.FromName(layout);
        var options = new HeapCapsOptions
        {
            Poisoning = level,
            Quarantine = quarantine ? new QuarantineOptions { MaxBlocks = 16, MaxBytes = 32 * 1024 } : null,
            ErrorOutput = null,
        };
        using var heap = new HeapCaps(map, options);
        var before = heap.GetFreeSize(Caps);
        var random = new Random(seed);
        var ptrs = new nint[Slots];
        var sizes = new nuint[Slots];
        var fills = new byte[Slots];
        var counts = new int[4];
        for (var step = 0; step < 2000; step++)
        {
            var slot = random.Next(Slots);
            var roll = random.Next(100);
            var size = (nuint)(random.Next(4) == 0 ? random.Next(1, 16384) : random.Next(1, 512));
            if (roll < 45 || ptrs[slot] == 0)
            {
                Free(heap, ptrs, sizes, fills, slot);
                var alignment = (nuint)1 << random.Next(2, 14);
                var plain = roll % 5 == 0;
                var p = (byte*)(plain ? heap.Malloc(size, Caps) : heap.AlignedAlloc(alignment, size, Caps));
                if (p != null)
                {
                    counts[plain ? 1 : 0]++;
                    Assert.Equal((nuint)0, (nuint)p % (plain ? 4 : alignment));
                    Assert.True(heap.GetAllocatedSize(p) >= size, $"step {step}: allocated size {heap.GetAllocatedSize(p)} < {size}");
                    ptrs[slot] = (nint)p;
                    sizes[slot] = size;
                    fills[slot] = (byte)(step * 13 + 1);
                    new Span<byte>(p, (int)size).Fill(fills[slot]);
                }
            }
            else if (roll < 70)
            {
                Verify(ptrs, sizes, fills, slot);
                var p = (byte*)heap.Realloc((void*)ptrs[slot], size, Caps);
                if (p != null)
                {
                    counts[2]++;
                    var kept = (int)Math.Min(size, sizes[slot]);
                    Assert.True(new Span<byte>(p, kept).IndexOfAnyExcept(fills[slot]) < 0, $"step {step}: realloc lost contents");
                    ptrs[slot] = (nint)p;
                    sizes[slot] = size;
                    new Span<byte>(p, (int)size).Fill(fills[slot]);
                }
            }
            else
            {
                counts[3]++;
                Free(heap, ptrs, sizes, fills, slot);
            }

            for (var i = 0; i < Slots; i++)
            {
                Verify(ptrs, sizes, fills, i);
            }

            Assert.True(heap.CheckIntegrityAll(print: false), $"step {step}: integrity check failed");
            Assert.Empty(heap.RecentErrors);
        }

        for (var i = 0; i < Slots; i++)
        {
            Free(heap, ptrs, sizes, fills, i);
        }

        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Empty(heap.RecentErrors);
        if (!quarantine)
        {
            Assert.Equal(before, heap.GetFreeSize(Caps));
        }

        Assert.True(counts[0] > 500, $"only {counts[0]} aligned blocks");
    }

    private static void Verify(nint[] ptrs, nuint[] sizes, byte[] fills, int slot)
    {
        if (ptrs[slot] != 0)
        {
            Assert.True(new Span<byte>((void*)ptrs[slot], (int)sizes[slot]).IndexOfAnyExcept(fills[slot]) < 0, "contents changed");
        }
    }

    private static void Free(HeapCaps heap, nint[] ptrs, nuint[] sizes, byte[] fills, int slot)
    {
        if (ptrs[slot] != 0)
        {
            Verify(ptrs, sizes, fills, slot);
            heap.Free((void*)ptrs[slot]);
            ptrs[slot] = 0;
        }
    }
}

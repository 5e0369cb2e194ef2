// Fuzz of TlsfHeap.MemalignAfterHead (ESP-IDF's tlsf_memalign_offs): random malloc / memalign / memalign-after-head /
// realloc / free sequences on heaps of alignment 4 and 16, 4 KiB .. 1 MiB, alignments 4 .. 8192, offsets 8 and 16.
// After every step: (ptr + offset rounded to the heap's alignment, as tlsf_memalign_offs rounds it) is a multiple of
// the alignment (and ptr + offset itself when the offset is a multiple of the heap's alignment), blocks stay in the
// region and never overlap, contents survive, the integrity check passes, free + used + overhead == region; freeing
// everything restores the initial free size and a single free block. Fixed seeds (System.Random; the region is
// 8 KiB-aligned, so placements do not depend on where the runtime put it): reproducible.
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class TlsfMemalignOffsFuzzTests
{
    private const int Slots = 48;
    private const int OpsPerSample = 400;

    private static readonly uint[] s_regionSizes = [4096, 16384, 65536, 262144, 1 << 20];

    [Theory]
    [InlineData(4u, 0u, 11)]
    [InlineData(4u, 4u, 12)]
    [InlineData(16u, 0u, 13)]
    public void Random_aligned_after_head_operations_keep_the_heap_sound(uint alignment, uint baseOffset, int seed)
    {
        const int samples = 60;
        long calls = 0;
        var counts = new long[5];
        for (var sample = 0; sample < samples; sample++)
        {
            // One generator per sample: a failure names the sample, and its seed replays it alone.
            var random = new Random(seed * 1000 + sample);
            var regionSize = s_regionSizes[random.Next(s_regionSizes.Length)];
            var ops = new Op[OpsPerSample];
            for (var i = 0; i < ops.Length; i++)
            {
                ops[i] = NextOp(random);
            }

            try
            {
                calls += Run(regionSize, alignment, baseOffset, ops, counts);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new Xunit.Sdk.XunitException($"sample {sample} (Random seed {seed * 1000 + sample}), region {regionSize} B: {e.Message}\nops: {string.Join(' ', ops)}");
            }
        }

        Assert.Equal((long)samples * OpsPerSample, calls);
        Assert.True(counts[(int)Kind.AfterHead] > 4000, $"only {counts[(int)Kind.AfterHead]} memalign-after-head successes");
    }

    // Mostly small requests, some medium, a few large: enough to fill, fragment and empty the heaps.
    private static Op NextOp(Random random)
    {
        var roll = random.Next(100);
        var size = roll switch
        {
            < 55 => (uint)random.Next(1, 65),
            < 85 => (uint)random.Next(65, 1025),
            < 97 => (uint)random.Next(1025, 8193),
            _ => (uint)random.Next(8193, 65537),
        };
        return new Op(ToKind(random.Next(100)), random.Next(Slots), size, random.Next(2, 14), random.Next(2) == 0 ? 8u : 16u);
    }

    [Theory]
    [InlineData(4u, 4096u)]
    [InlineData(4u, 1u << 20)]
    [InlineData(16u, 4096u)]
    [InlineData(16u, 1u << 20)]
    public void Misuse_gives_null_and_leaves_the_heap_intact(uint alignment, uint regionSize)
    {
        using var t = new TlsfTestHeap(regionSize, alignment);
        var heap = t.Heap;
        var free = heap.FreeBytes;
        var max = (nuint)heap.Configuration.BlockSizeMax;
        var keep = heap.Malloc(40); // Something live, so a stray write would show.
        var afterKeep = heap.FreeBytes;
        nuint[] badAlignments = [0, 3, 12, 24, 100, 4097, max, max * 2, nuint.MaxValue];
        foreach (var a in badAlignments)
        {
            Assert.True(heap.MemalignAfterHead(a, 100, 8) == null, $"alignment {a}");
        }

        // The offset must lie inside the block.
        Assert.True(heap.MemalignAfterHead(64, 8, 8) == null);
        Assert.True(heap.MemalignAfterHead(64, 8, 16) == null);
        Assert.True(heap.MemalignAfterHead(64, 0, 0) == null);
        Assert.True(heap.MemalignAfterHead(64, 16, nuint.MaxValue) == null);

        // Sizes near and past block_size_max, the region's size, and beyond 32 bits.
        nuint[] hugeSizes = [max - 64, max - 1, max, max + 1, regionSize, regionSize - 16, uint.MaxValue, unchecked((nuint)uint.MaxValue + 17), unchecked(nuint.MaxValue - 8192), nuint.MaxValue];
        foreach (var size in hugeSizes)
        {
            foreach (var a in new nuint[] { 4, 16, 64, 4096, max / 2 })
            {
                Assert.True(heap.MemalignAfterHead(a, size, 8) == null, $"size {size} alignment {a}");
                Assert.True(heap.MemalignAfterHead(a, size, 16) == null, $"size {size} alignment {a}");
            }
        }

        Assert.Equal(afterKeep, heap.FreeBytes);
        t.AssertIntact();

        // The largest block that fits, aligned after a head: as large as possible, then nothing more.
        var largest = heap.LargestFreeBlock;
        var p = (byte*)heap.MemalignAfterHead(64, largest - 64 - 16, 16);
        Assert.True(p != null, $"largest {largest}");
        Assert.Equal((nuint)0, ((nuint)p + 16) % 64);
        t.AssertIntact();
        heap.Free(p, false, out _, out _);
        heap.Free(keep, false, out _, out _);
        Assert.Equal(free, heap.FreeBytes);
        Assert.Equal((nuint)1, heap.GetInfo().FreeBlocks);
        t.AssertIntact();
    }

    private static long Run(uint regionSize, uint alignment, uint baseOffset, Op[] ops, long[] counts)
    {
        using var t = new TlsfTestHeap(regionSize, alignment, baseAlignment: 8192, baseOffset: baseOffset);
        var heap = t.Heap;
        var initialFree = heap.FreeBytes;
        var model = new Block[Slots];
        long calls = 0;
        for (var step = 0; step < ops.Length; step++)
        {
            var op = ops[step];
            ref var slot = ref model[op.Slot];
            calls++;
            switch (op.Kind)
            {
                case Kind.Malloc:
                case Kind.Memalign:
                case Kind.AfterHead:
                {
                    FreeSlot(heap, ref slot);
                    var a = (nuint)1 << op.AlignShift;
                    byte* p = op.Kind switch
                    {
                        Kind.Malloc => (byte*)heap.Malloc(op.Size, (uint)step + 1),
                        Kind.Memalign => (byte*)heap.Memalign(a, op.Size, (uint)step + 1),
                        _ => (byte*)heap.MemalignAfterHead(a, op.Size + op.Offset, op.Offset, (uint)step + 1),
                    };
                    var size = op.Kind == Kind.AfterHead ? op.Size + op.Offset : op.Size;
                    if (p == null)
                    {
                        break;
                    }

                    counts[(int)op.Kind]++;
                    if (op.Kind == Kind.Memalign)
                    {
                        Assert.Equal((nuint)0, (nuint)p % a);
                    }
                    else if (op.Kind == Kind.AfterHead)
                    {
                        var rounded = (op.Offset + alignment - 1) & ~(alignment - 1);
                        Assert.True(((nuint)p + rounded) % a == 0, $"step {step}: {(nuint)p:x} + {rounded} not {a}-aligned ({op})");
                        if (op.Offset % alignment == 0)
                        {
                            Assert.Equal((nuint)0, ((nuint)p + op.Offset) % a);
                        }
                    }

                    Assert.Equal((nuint)0, (nuint)p % alignment);
                    slot = new Block((nint)p, size, (byte)(step * 7 + 1), (uint)step + 1);
                    CheckPlacement(t, model, op.Slot);
                    new Span<byte>(p, (int)size).Fill(slot.Fill);
                    break;
                }

                case Kind.Realloc when slot.Pointer != 0:
                {
                    VerifyContents(slot);
                    Assert.Equal(TlsfPointer.Live, heap.Realloc((void*)slot.Pointer, op.Size, out var result, out _, out var tag));
                    Assert.Equal(slot.Tag, tag);
                    if (result == null)
                    {
                        VerifyContents(slot);
                        break;
                    }

                    counts[(int)Kind.Realloc]++;
                    var kept = Math.Min(slot.Size, op.Size);
                    Assert.True(new Span<byte>(result, (int)kept).IndexOfAnyExcept(slot.Fill) < 0, "realloc lost contents");
                    slot = slot with { Pointer = (nint)result, Size = op.Size };
                    CheckPlacement(t, model, op.Slot);
                    new Span<byte>(result, (int)op.Size).Fill(slot.Fill);
                    break;
                }

                default:
                    if (slot.Pointer != 0)
                    {
                        counts[(int)Kind.Free]++;
                    }

                    FreeSlot(heap, ref slot);
                    break;
            }

            var report = t.CheckReport();
            Assert.True(report.Length == 0, $"step {step} ({op}): {report}");
            nuint used = 0;
            foreach (var block in model)
            {
                if (block.Pointer != 0)
                {
                    Assert.Equal(TlsfPointer.Live, heap.Query((void*)block.Pointer, out var usable, out var tag));
                    Assert.Equal(block.Tag, tag);
                    used += usable + 4;
                }
            }

            Assert.Equal((nuint)regionSize, heap.FreeBytes + used + heap.MetadataBytes);
        }

        for (var i = 0; i < Slots; i++)
        {
            FreeSlot(heap, ref model[i]);
        }

        Assert.Equal(initialFree, heap.FreeBytes);
        Assert.Equal((nuint)1, heap.GetInfo().FreeBlocks);
        t.AssertIntact();
        return calls;
    }

    private static void FreeSlot(TlsfHeap heap, ref Block slot)
    {
        if (slot.Pointer == 0)
        {
            return;
        }

        VerifyContents(slot);
        Assert.Equal(TlsfPointer.Live, heap.Free((void*)slot.Pointer, false, out _, out var tag));
        Assert.Equal(slot.Tag, tag);
        slot = default;
    }

    private static void CheckPlacement(TlsfTestHeap t, Block[] model, int index)
    {
        var block = model[index];
        Assert.Equal(TlsfPointer.Live, t.Heap.Query((void*)block.Pointer, out var usable, out _));
        Assert.True(usable >= block.Size, "block smaller than requested");
        var start = (nuint)block.Pointer;
        var end = start + usable;
        Assert.True(t.Contains((void*)start, usable), "block outside the region");
        for (var i = 0; i < model.Length; i++)
        {
            var other = model[i];
            if (i == index || other.Pointer == 0)
            {
                continue;
            }

            t.Heap.Query((void*)other.Pointer, out var otherUsable, out _);
            var otherStart = (nuint)other.Pointer;
            Assert.True(end + 4 <= otherStart || otherStart + otherUsable + 4 <= start, $"blocks overlap: {start:x}+{usable} and {otherStart:x}+{otherUsable}");
        }
    }

    private static void VerifyContents(Block block)
    {
        if (block.Pointer != 0)
        {
            Assert.True(new Span<byte>((void*)block.Pointer, (int)block.Size).IndexOfAnyExcept(block.Fill) < 0, "contents changed");
        }
    }

    private static Kind ToKind(int roll) => roll switch
    {
        < 15 => Kind.Malloc,
        < 25 => Kind.Memalign,
        < 55 => Kind.AfterHead,
        < 70 => Kind.Realloc,
        _ => Kind.Free,
    };

    private enum Kind : byte
    {
        Malloc,
        Memalign,
        AfterHead,
        Realloc,
        Free,
    }

    private readonly record struct Op(Kind Kind, int Slot, uint Size, int AlignShift, uint Offset)
    {
        public override string ToString() => Kind switch
        {
            Kind.Free => $"F@{Slot}",
            Kind.Memalign => $"A{1 << AlignShift}:{Size}@{Slot}",
            Kind.AfterHead => $"H{1 << AlignShift}+{Offset}:{Size}@{Slot}",
            _ => $"{Kind.ToString()[0]}{Size}@{Slot}",
        };
    }

    private readonly record struct Block(nint Pointer, nuint Size, byte Fill, uint Tag);
}

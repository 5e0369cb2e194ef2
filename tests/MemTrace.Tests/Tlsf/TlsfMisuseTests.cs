// Misuse of a TlsfHeap: double free, interior, outside, unaligned and garbage pointers, realloc of a
// freed block, and headers overwritten by the program. Each must be recognised, refused without
// changing the heap, and leave it passing the integrity check (where a test corrupts memory itself,
// the check must fail while it is corrupt and pass once the test restores it).
using CsCheck;
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class TlsfMisuseTests
{
    [Fact]
    public void DoubleFreeIsRecognisedAndRefused()
    {
        using var h = new TlsfTestHeap(4096);
        var p = h.Heap.Malloc(100);
        var keep = h.Heap.Malloc(100);
        Assert.Equal(TlsfPointer.Live, h.Heap.Free(p, false, out _, out _));
        var free = h.Heap.FreeBytes;

        Assert.Equal(TlsfPointer.Freed, h.Heap.Free(p, false, out var size, out var tag));
        Assert.Equal((nuint)0, size);
        Assert.Equal(0u, tag);
        Assert.Equal(free, h.Heap.FreeBytes);
        Assert.Equal(TlsfPointer.Freed, h.Heap.Query(p, out _, out _));
        h.AssertIntact();

        // The freed start stays "freed" while a larger block covers it, and becomes live when handed out again.
        h.Heap.Free(keep, false, out _, out _);
        var big = h.Heap.Malloc(3000);
        Assert.True(big == p);
        Assert.Equal(TlsfPointer.Freed, h.Heap.Free(keep, false, out _, out _));
        Assert.Equal(TlsfPointer.Live, h.Heap.Query(p, out _, out _));
        h.AssertIntact();
    }

    [Fact]
    public void InteriorUnalignedOutsideAndMetadataPointersAreRefused()
    {
        using var h = new TlsfTestHeap(4096);
        var p = (byte*)h.Heap.Malloc(100);
        var free = h.Heap.FreeBytes;

        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Free(p + 4, false, out _, out _));
        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Free(p + 16, false, out _, out _));
        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Free(p + 1, false, out _, out _));
        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Free(p - 4, false, out _, out _));
        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Free(h.Memory, false, out _, out _));
        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Free(h.Memory + 24, false, out _, out _));

        // The data start of the free remainder was never handed out.
        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Free(p + 104 + 4, false, out _, out _));

        Assert.Equal(TlsfPointer.Outside, h.Heap.Free(h.Memory - 4, false, out _, out _));
        Assert.Equal(TlsfPointer.Outside, h.Heap.Free(h.End, false, out _, out _));
        Assert.Equal(TlsfPointer.Outside, h.Heap.Free(null, false, out _, out _));
        Assert.Equal(TlsfPointer.Outside, h.Heap.Free((void*)nint.MaxValue, false, out _, out _));

        Assert.Equal(TlsfPointer.NotABlock, h.Heap.Realloc(p + 8, 10, out var r, out _, out _));
        Assert.True(r == null);
        Assert.Equal((nuint)0, h.Heap.GetAllocatedSize(p + 8));
        Assert.Equal(free, h.Heap.FreeBytes);
        Assert.Equal(TlsfPointer.Live, h.Heap.Query(p, out _, out _));
        h.AssertIntact();
    }

    [Fact]
    public void ReallocOfAFreedBlockIsRefused()
    {
        using var h = new TlsfTestHeap(4096);
        var p = h.Heap.Malloc(64);
        var q = h.Heap.Malloc(64);
        h.Heap.Free(p, false, out _, out _);
        var free = h.Heap.FreeBytes;

        Assert.Equal(TlsfPointer.Freed, h.Heap.Realloc(p, 32, out var result, out var oldSize, out _));
        Assert.True(result == null);
        Assert.Equal((nuint)0, oldSize);
        Assert.Equal(free, h.Heap.FreeBytes);
        Assert.Equal(TlsfPointer.Live, h.Heap.Query(q, out _, out _));
        h.AssertIntact();
    }

    [Fact]
    public void GarbagePointersNeverTouchTheHeap()
    {
        using var h = new TlsfTestHeap(16384);
        var random = new Random(3);
        var live = new HashSet<nint>();
        for (var i = 0; i < 40; i++)
        {
            live.Add((nint)h.Heap.Malloc((nuint)random.Next(1, 300)));
        }

        h.Heap.Free((void*)live.First(), false, out _, out _);
        live.Remove(live.First());
        var free = h.Heap.FreeBytes;
        for (var i = 0; i < 20000; i++)
        {
            var address = h.Memory + random.Next(-64, (int)h.Size + 64);
            if (live.Contains((nint)address))
            {
                continue;
            }

            Assert.NotEqual(TlsfPointer.Live, h.Heap.Free(address, false, out _, out _));
            Assert.NotEqual(TlsfPointer.Live, h.Heap.Realloc(address, 50, out _, out _, out _));
        }

        Assert.Equal(free, h.Heap.FreeBytes);
        h.AssertIntact();
    }

    public static TheoryData<string> Corruptions => new(["huge size", "free bit", "prev-free bit", "larger size", "smaller size", "zero size", "next header", "free neighbour links", "top size bit", "top size bit of the next"]);

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void OverwrittenHeadersAreDetectedAndRefused(string corruption)
    {
        using var h = new TlsfTestHeap(4096);
        var a = (byte*)h.Heap.Malloc(64);
        var p = (byte*)h.Heap.Malloc(64);
        var b = (byte*)h.Heap.Malloc(64);
        var c = (byte*)h.Heap.Malloc(64);
        h.Heap.Free(c, false, out _, out _); // b is followed by a free block
        var sizeWord = (uint*)(p - 4);

        // What the program overwrote, and the pointer whose free must now be refused.
        uint* word;
        uint value;
        byte* victim = p;
        switch (corruption)
        {
            case "huge size": word = sizeWord; value = 0xFF000000; break;
            case "free bit": word = sizeWord; value = *sizeWord | BlockHeader.FreeBit; break;
            case "prev-free bit": word = sizeWord; value = *sizeWord | BlockHeader.PrevFreeBit; break;
            case "larger size": word = sizeWord; value = *sizeWord + 68; break;
            case "smaller size": word = sizeWord; value = *sizeWord - 16; break;
            case "zero size": word = sizeWord; value = *sizeWord & BlockHeader.FlagMask; break;
            case "next header": word = (uint*)(b - 4); value = *(uint*)(b - 4) | BlockHeader.PrevFreeBit; break;
            case "top size bit": word = sizeWord; value = *sizeWord | 0x8000_0000; break;
            case "top size bit of the next": word = (uint*)(b - 4); value = *(uint*)(b - 4) | 0x8000_0000; break;
            default: word = (uint*)c; value = 0xDEADBEEF; victim = b; break; // an overrun of b into the free block's next_free
        }

        var original = *word;
        *word = value;
        var free = h.Heap.FreeBytes;

        Assert.Equal(TlsfPointer.Corrupt, h.Heap.Free(victim, false, out _, out _));
        Assert.Equal(TlsfPointer.Corrupt, h.Heap.Realloc(victim, 500, out var moved, out _, out _));
        Assert.True(moved == null);
        Assert.Equal(TlsfPointer.Corrupt, h.Heap.Query(victim, out _, out _));
        Assert.Equal(free, h.Heap.FreeBytes);
        using (var report = new StringWriter())
        {
            Assert.NotEqual(0, h.Heap.Check(report));
            Assert.Contains("TLSF check:", report.ToString(), StringComparison.Ordinal);
        }

        // Allocation goes on, never into the damaged area.
        var other = (byte*)h.Heap.Malloc(32);
        Assert.True(other == null || other >= b + 64, "an allocation landed on the blocks around the damage");

        *word = original;
        if (other != null)
        {
            h.Heap.Free(other, false, out _, out _);
        }

        h.AssertIntact();
        Assert.Equal(TlsfPointer.Live, h.Heap.Free(victim, false, out _, out _));
        h.AssertIntact();
    }

    /// <summary>
    /// Free judges a block in the same pass that frees it (no inspector): it must refuse exactly what the
    /// stand-alone check behind Query and Realloc refuses, and a refused free must leave every byte of the region
    /// and the statistics as they were (the tagged block's data is not cleared before the verdict).
    /// </summary>
    [Fact]
    public void FreeRefusesExactlyTheBlocksThePointerCheckRefuses()
    {
        var refused = 0;
        var freed = 0;
        Gen.Select(Gen.Int[0, int.MaxValue], Gen.Bool).Sample(
            (seed, alignment16) =>
            {
                var random = new Random(seed);
                using var h = new TlsfTestHeap(8192, alignment16 ? 16u : 4u);
                var live = new List<nint>();
                for (var i = 0; i < 40; i++)
                {
                    var p = h.Heap.Malloc((nuint)random.Next(1, 200));
                    if (p != null)
                    {
                        live.Add((nint)p);
                    }
                }

                // Free every third block so that free neighbours (before and after) are common.
                for (var i = live.Count - 1; i >= 0; i -= 3)
                {
                    h.Heap.Free((void*)live[i], false, out _, out _);
                    live.RemoveAt(i);
                }

                var victim = (byte*)live[random.Next(live.Count)];
                h.Heap.SetTag(victim, 7);

                // One word overwritten: around the victim's header or the next block's (half the time), or anywhere from
                // the previous block's header to past the next one's links.
                var end = victim + h.Heap.GetAllocatedSize(victim);
                var word = random.Next(4) switch
                {
                    0 => (uint*)(victim - 24 + (4 * random.Next(0, 8))),
                    1 => (uint*)(end - 8 + (4 * random.Next(0, 8))),
                    _ => (uint*)(victim - 24 + (4 * random.Next(0, 12 + (int)((end - victim) / 4)))),
                };
                if ((byte*)word >= h.Memory && (byte*)(word + 1) <= h.End)
                {
                    *word = random.Next(4) switch
                    {
                        0 => *word ^ (1u << random.Next(32)),
                        1 => *word ^ BlockHeader.FlagMask,
                        2 => *word + (uint)(4 * random.Next(-8, 9)),
                        _ => (uint)random.Next(),
                    };
                }

                var expected = h.Heap.Query(victim, out var usable, out _);
                var before = new ReadOnlySpan<byte>(h.Memory, (int)h.Size).ToArray();
                var free = h.Heap.FreeBytes;

                // No inspector, one that fills the block as Comprehensive poisoning does, or one that holds it (quarantine).
                var inspector = random.Next(3) switch
                {
                    0 => null,
                    1 => new TestInspector(approve: true),
                    _ => new TestInspector(approve: false),
                };
                var verdict = h.Heap.Free(victim, clearIfTagged: true, out var size, out var tag, inspector);

                Assert.Equal(expected, verdict);
                if (verdict == TlsfPointer.Live)
                {
                    Assert.Equal(7u, tag);
                    Assert.True(size > 0);
                    if (inspector is not null)
                    {
                        Assert.Equal(1, inspector.Calls);
                        Assert.Equal(usable, inspector.Size);
                    }

                    if (inspector is { Approves: false })
                    {
                        // Held: still allocated, nothing changed outside its data.
                        Assert.Equal(TlsfPointer.Live, h.Heap.Query(victim, out _, out _));
                        Assert.Equal(free, h.Heap.FreeBytes);
                        var offset = (int)(victim - h.Memory);
                        Assert.True(before.AsSpan(0, offset).SequenceEqual(new ReadOnlySpan<byte>(h.Memory, offset)), "a held block's free changed memory before it");
                        var dataEnd = offset + (int)usable;
                        Assert.True(before.AsSpan(dataEnd).SequenceEqual(new ReadOnlySpan<byte>(h.Memory + dataEnd, (int)h.Size - dataEnd)), "a held block's free changed memory after it");
                    }

                    freed++;
                }
                else
                {
                    Assert.Equal(0, inspector?.Calls ?? 0);
                    Assert.Equal(TlsfPointer.Corrupt, verdict);
                    Assert.True(before.AsSpan().SequenceEqual(new ReadOnlySpan<byte>(h.Memory, (int)h.Size)), "a refused free changed the region");
                    Assert.Equal(free, h.Heap.FreeBytes);
                    Assert.Equal(TlsfPointer.Corrupt, h.Heap.Query(victim, out _, out _));
                    refused++;
                }
            },
            iter: 3000,
            threads: 1);

        // The damage must exercise both outcomes, or the comparison proves nothing (about 500 of the 3000 are refused).
        Assert.True(refused > 300 && freed > 300, $"refused {refused}, freed {freed}");
    }

    [Fact]
    public void AnOverwrittenFreeListHeadIsNotHandedOut()
    {
        using var h = new TlsfTestHeap(4096);
        var a = (byte*)h.Heap.Malloc(100);
        var hole = (byte*)h.Heap.Malloc(200);
        var b = h.Heap.Malloc(100);
        h.Heap.Free(hole, false, out _, out _);

        // An overrun of `a` runs over the hole's size word: it now claims to span the whole heap.
        var sizeWord = (uint*)(hole - 4);
        var original = *sizeWord;
        *sizeWord = 0x7FFFFFF0 | BlockHeader.FreeBit;
        Assert.NotEqual(0, h.Heap.Check());
        var p = (byte*)h.Heap.Malloc(150);
        Assert.True(p == null || p > hole + 200);

        *sizeWord = original;
        if (p != null)
        {
            h.Heap.Free(p, false, out _, out _);
        }

        h.AssertIntact();
        Assert.True(a != null && b != null);
    }

    /// <summary>An inspector that counts its calls and fills the block with 0xFE, as Comprehensive poisoning's free does; approves or holds.</summary>
    private sealed class TestInspector(bool approve) : MemTrace.Regions.IBlockInspector
    {
        public bool Approves => approve;

        public int Calls { get; private set; }

        public nuint Size { get; private set; }

        public bool Approve(byte* block, ref nuint size, uint tag)
        {
            Calls++;
            Size = size;
            new Span<byte>(block, (int)size).Fill(0xFE);
            return approve;
        }
    }
}

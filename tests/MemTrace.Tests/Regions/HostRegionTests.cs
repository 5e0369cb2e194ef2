// HostRegion against the parts of the Region contract that need no process-heap internals: zeroing
// of tagged blocks on free (checked while the block is still allocated, through an inspector, so
// no freed memory is read), and tags: SetTag by the owner, ClearTag by anyone, both harmless after
// disposal.
using MemTrace.Regions;
using Xunit;

namespace MemTrace.Tests.Regions;

public unsafe class HostRegionTests
{
    private const MallocCaps Caps = MallocCaps.Default | MallocCaps.Bit8;

    [Theory]
    [InlineData(7u, true, true)]
    [InlineData(0u, true, false)]
    [InlineData(7u, false, false)]
    public void Free_zeroes_a_tagged_block_before_releasing_it_only_when_asked(uint tag, bool clear, bool zeroed)
    {
        using var region = new HostRegion("host", Caps, MallocCaps.None, MallocCaps.None);
        var block = (byte*)region.Allocate(200, 16, zero: false, tag);
        new Span<byte>(block, 200).Fill(0xAB);
        var inspector = new Snapshot();

        Assert.Equal(BlockState.Live, region.Free(block, clear, out var info, inspector));

        Assert.Equal(tag, info.Tag);
        Assert.Equal(1, inspector.Calls);
        Assert.True(inspector.Block == block);
        Assert.Equal(208u, inspector.Size);
        Assert.Equal(208, inspector.Bytes!.Length);
        if (zeroed)
        {
            Assert.All(inspector.Bytes, b => Assert.Equal(0, b));
        }
        else
        {
            Assert.All(inspector.Bytes.Take(200), b => Assert.Equal(0xAB, b));
        }
        Assert.Equal(BlockState.Freed, region.Query(block, out _));
    }

    [Fact]
    public void Clear_tag_clears_only_a_live_block_that_still_has_the_tag()
    {
        using var region = new HostRegion("host", Caps, MallocCaps.None, MallocCaps.None);
        var block = region.Allocate(64, 16, zero: false, tag: 5);
        var other = region.Allocate(64, 16, zero: false, tag: 6);

        Assert.False(region.ClearTag(block, 6));
        Assert.False(region.ClearTag((byte*)block + 16, 5));
        Assert.False(region.ClearTag((byte*)block + 1, 5));
        Assert.True(region.ClearTag(block, 5));
        Assert.False(region.ClearTag(block, 5));

        Assert.Equal(BlockState.Live, region.Query(block, out var info));
        Assert.Equal(0u, info.Tag);
        Assert.Equal(BlockState.Live, region.Query(other, out var otherInfo));
        Assert.Equal(6u, otherInfo.Tag);
        Assert.Equal(BlockState.Live, region.Free(other, clearIfTagged: false, out _));
        Assert.False(region.ClearTag(other, 6)); // Freed: never written to.
        region.Free(block, clearIfTagged: false, out _);
    }

    [Fact]
    public void Clear_tag_racing_frees_of_the_same_blocks_never_touches_a_freed_block()
    {
        // Large blocks sit in mappings of their own, which the free unmaps: a write to a freed header
        // would crash the process.
        using var region = new HostRegion("host", Caps, MallocCaps.None, MallocCaps.None);
        const int count = 64;
        for (var round = 0; round < 20; round++)
        {
            var blocks = new nint[count];
            for (var i = 0; i < count; i++)
            {
                blocks[i] = (nint)region.Allocate(i % 4 == 0 ? 300u << 10 : 64, 16, zero: false, tag: (uint)i + 1);
            }

            var cleared = 0;
            var clearer = new Thread(() =>
            {
                for (var i = 0; i < count; i++)
                {
                    cleared += region.ClearTag((void*)blocks[i], (uint)i + 1) ? 1 : 0;
                }
            });
            var freedTagged = 0;
            clearer.Start();
            for (var i = 0; i < count; i++)
            {
                Assert.Equal(BlockState.Live, region.Free((void*)blocks[i], clearIfTagged: false, out var info));
                freedTagged += info.Tag != 0 ? 1 : 0;
            }

            clearer.Join();

            // Each block was either cleared while live (and freed with tag 0) or freed with its tag first.
            Assert.Equal(count, cleared + freedTagged);
            Assert.Equal(0u, region.GetInfo().AllocatedBlocks);
        }
    }

    [Fact]
    public void Set_tag_and_clear_tag_after_disposal_do_nothing()
    {
        var region = new HostRegion("host", Caps, MallocCaps.None, MallocCaps.None);
        var block = region.Allocate(64u << 20, 16, zero: false, tag: 3); // Unmapped by the disposal.
        region.Dispose();

        region.SetTag(block, 0);
        Assert.False(region.ClearTag(block, 3));
    }

    [Fact]
    public void A_free_reads_nothing_from_the_header_after_the_inspector_has_taken_the_block()
    {
        // A quarantined block can be evicted by another thread's free and reused by the process heap as soon as Approve
        // returns: the tag the free reports must be the one read before (here the "reuse" rewrites the header in Approve).
        using var region = new HostRegion("host", Caps, MallocCaps.None, MallocCaps.None);
        var block = (byte*)region.Allocate(64, 16, zero: false, tag: 9);
        var reuse = new ReusedBeforeReturn();

        Assert.Equal(BlockState.Live, region.Free(block, clearIfTagged: false, out var info, reuse));

        Assert.Equal(9u, info.Tag);
        Assert.Equal(64u, info.UsableSize);
        ((uint*)(block - 8))[0] = 9; // Put the tag back (the block is held: still allocated in the region) and release it.
        region.ReleaseHeld(block);
    }

    [Fact]
    public void Alignments_above_1_GiB_fail_instead_of_corrupting_the_block_header()
    {
        // The header keeps the alignment as the offset back to the native block in 31 bits: 2^31 became the aligned flag
        // and 2^32 zero, and the free then handed glibc a pointer it never gave out (the process aborted).
        using var region = new HostRegion("host", Caps, MallocCaps.None, MallocCaps.None);

        Assert.True(region.Allocate(16, (nuint)1 << 31, zero: false, tag: 0) == null);
        Assert.True(region.Allocate(16, (nuint)1 << 32, zero: false, tag: 0) == null);
        var largest = region.Allocate(16, HostRegion.MaxAlignment, zero: false, tag: 0);
        Assert.True(largest != null);
        Assert.Equal(0u, (nuint)largest % HostRegion.MaxAlignment);
        Assert.Equal(BlockState.Live, region.Free(largest, clearIfTagged: false, out _));
        Assert.Equal(0u, region.GetInfo().AllocatedBlocks);
    }

    /// <summary>Holds the block, and stands for the process heap reusing it at once: its header is overwritten before Approve returns.</summary>
    private sealed class ReusedBeforeReturn : IBlockInspector
    {
        public bool Approve(byte* block, ref nuint size, uint tag)
        {
            ((uint*)(block - 8))[0] = 0xDEAD; // The header's tag word (Size 8 bytes, Tag 4, Offset 4 before the data).
            return false;
        }
    }

    /// <summary>Copies the block's bytes when the region asks whether to free it, while the block is still allocated.</summary>
    private sealed class Snapshot : IBlockInspector
    {
        public int Calls { get; private set; }

        public byte* Block { get; private set; }

        public nuint Size { get; private set; }

        public byte[]? Bytes { get; private set; }

        public bool Approve(byte* block, ref nuint size, uint tag)
        {
            Calls++;
            Block = block;
            Size = size;
            Bytes = new Span<byte>(block, (int)size).ToArray();
            return true;
        }
    }
}

// Ports of ESP-IDF's test_walker.c at the HeapCaps level (components/heap/test_apps/heap_tests/main/test_walker.c),
// with and without poisoning, as ESP-IDF runs them in its no/light/comprehensive poisoning configurations.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestWalker
{
    private const uint PassCode = 0x9876BAAB;
    private const nuint AllocSize = 16;

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void Heap_walker(PoisoningLevel poisoning)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = poisoning, ErrorOutput = null });
        var (head, tail) = MetadataSize(poisoning);
        var tagged = (uint*)f.Heap.Malloc(AllocSize, MallocCaps.Default);
        Assert.True(tagged != null);
        tagged[0] = PassCode;
        var found = 0;

        f.Heap.WalkAll((region, block) =>
        {
            Assert.True(block.Address != 0);
            Assert.True(block.Address >= region.Start && block.Address + block.Size <= region.End);

            // The walker gets the raw block: the pass code sits behind the poisoning head. As test_walker.c, the pass
            // code is read on every block, free ones too, and only a match must be the used, tagged block.
            if (*(uint*)(block.Address + head) == PassCode)
            {
                Assert.True(block.Used);
                Assert.Equal((nuint)tagged - head, block.Address);
                Assert.Equal(AllocSize + head + tail, block.Size);
                found++;
            }

            return true;
        });

        Assert.Equal(1, found);
        f.Heap.Free(tagged);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Walking_stops_only_the_current_region_when_the_walker_returns_false()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var regionsSeen = new List<string>();

        f.Heap.WalkAll((region, _) =>
        {
            regionsSeen.Add(region.Name);
            return false;
        });

        Assert.Equal(["DRAM", "D/IRAM", "IRAM", "D/IRAM", "DRAM"], regionsSeen);
    }

    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void Heap_walker_corrupted_heap_detection(PoisoningLevel poisoning)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = poisoning, ErrorOutput = null });
        var (head, _) = MetadataSize(poisoning);
        var victim = (uint*)f.Heap.Malloc(AllocSize, MallocCaps.Default);
        Assert.True(victim != null);

        // As the C test: the TLSF size word in front of the block's metadata gets a size bigger than the heap itself.
        var sizeWord = (uint*)((byte*)victim - head) - 1;
        var saved = *sizeWord;
        *sizeWord = 0xFF000000;
        *victim = PassCode;

        // ESP-IDF's walker: a block that runs past its heap's end is the corruption; it returns false, which stops only
        // that heap's walk.
        var corrupted = false;
        HeapWalkBlock corruptBlock = default;
        var regionsWalked = new HashSet<nuint>();
        f.Heap.WalkAll((region, block) =>
        {
            regionsWalked.Add(region.Start);
            if ((nint)region.End - (nint)block.Address < (nint)block.Size)
            {
                corrupted = true;
                corruptBlock = block;
                return false;
            }

            return true;
        });

        Assert.True(corrupted);
        Assert.Equal(new HeapWalkBlock((nuint)victim - head, 0xFF000000, Used: true), corruptBlock);
        Assert.Equal(5, regionsWalked.Count); // The other regions were walked too.
        Assert.False(f.Heap.CheckIntegrityAddr(victim, print: false));

        *sizeWord = saved;
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        f.Heap.Free(victim);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void A_walker_that_carries_on_past_a_corrupt_block_ends_that_regions_walk_there()
    {
        // ESP-IDF would follow the corrupt size out of the heap; the model reports the block and stops.
        using var f = new ChipFixture(HeapLayout.Esp32());
        var before = (byte*)f.Heap.Malloc(32, MallocCaps.Default);
        var victim = (uint*)f.Heap.Malloc(AllocSize, MallocCaps.Default);
        var after = (byte*)f.Heap.Malloc(32, MallocCaps.Default);
        var sizeWord = victim - 1;
        var saved = *sizeWord;
        *sizeWord = 0xFF000000;
        var seen = new List<HeapWalkBlock>();

        f.Heap.WalkAll((region, block) =>
        {
            if ((nuint)victim >= region.Start && (nuint)victim < region.End)
            {
                seen.Add(block);
            }

            return true;
        });

        Assert.Equal([new HeapWalkBlock((nuint)before, 32, true), new HeapWalkBlock((nuint)victim, 0xFF000000, true)], seen);
        *sizeWord = saved;
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        f.Heap.Free(before);
        f.Heap.Free(victim);
        f.Heap.Free(after);
    }

    /// <summary>
    /// test_walker.c's calculate_block_metadata_size: the poisoning head (8 bytes) and tail (4) when poisoning is on;
    /// MemTrace has no task-tracking owner word (ESP-IDF's CONFIG_HEAP_TASK_TRACKING adds 4 to the head).
    /// </summary>
    private static (nuint Head, nuint Tail) MetadataSize(PoisoningLevel poisoning) => poisoning == PoisoningLevel.None ? ((nuint)0, (nuint)0) : ((nuint)8, (nuint)4);

    [Fact]
    public void Dump_prints_every_block_in_ESP_IDF_format()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var p = f.Heap.Malloc(100, MallocCaps.Exec);
        var output = new StringWriter();

        f.Heap.Dump(MallocCaps.Exec, output);

        var text = output.ToString();
        Assert.Equal(3, text.Split("Showing data for heap: 0x").Length - 1);
        Assert.Contains($"Block 0x{(nuint)p:x} data, size: 100 bytes, Free: No ", text, StringComparison.Ordinal);
        Assert.Contains("Free: Yes ", text, StringComparison.Ordinal);
        f.Heap.Free(p);
    }

    [Theory]
    [InlineData(MallocCaps.Invalid)]
    [InlineData(MallocCaps.Invalid | MallocCaps.Exec)]
    public void Walk_with_MALLOC_CAP_INVALID_walks_every_region_as_walk_all(MallocCaps caps)
    {
        // heap_caps.c heap_caps_walk: all_heaps = caps & MALLOC_CAP_INVALID, and heap_caps_walk_all is heap_caps_walk(MALLOC_CAP_INVALID, ...).
        using var f = new ChipFixture(HeapLayout.Esp32());
        var all = new List<string>();
        var invalid = new List<string>();
        f.Heap.WalkAll((region, block) => { all.Add($"{region.Name} {block.Address:x}"); return true; });

        f.Heap.Walk(caps, (region, block) => { invalid.Add($"{region.Name} {block.Address:x}"); return true; });

        Assert.Equal(5, all.Count);
        Assert.Equal(all, invalid);
    }

    [Theory]
    [InlineData(MallocCaps.Invalid)]
    [InlineData(MallocCaps.Invalid | MallocCaps.Spiram)]
    public void Dump_with_MALLOC_CAP_INVALID_dumps_every_region_as_dump_all(MallocCaps caps)
    {
        // heap_caps.c heap_caps_dump: all_heaps = caps & MALLOC_CAP_INVALID, and heap_caps_dump_all is heap_caps_dump(MALLOC_CAP_INVALID).
        using var f = new ChipFixture(HeapLayout.Esp32());
        var all = new StringWriter();
        var invalid = new StringWriter();
        f.Heap.DumpAll(all);

        f.Heap.Dump(caps, invalid);

        Assert.Equal(5, all.ToString().Split("Showing data for heap: 0x").Length - 1);
        Assert.Equal(all.ToString(), invalid.ToString());
    }

    [Fact]
    public void A_null_walker_is_refused()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.Throws<ArgumentNullException>(() => f.Heap.WalkAll(null!));
    }
}

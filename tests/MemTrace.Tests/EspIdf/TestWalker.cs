// Ports of ESP-IDF's test_walker.c at the HeapCaps level.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestWalker
{
    [Fact]
    public void Heap_walker()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var tagged = (uint*)f.Heap.Malloc(16, MallocCaps.Internal | MallocCaps.Bit8);
        tagged[0] = 0xDEADBEEF;
        var found = false;

        f.Heap.Walk(MallocCaps.Internal | MallocCaps.Bit8, (region, block) =>
        {
            if (block.Address == (nuint)tagged)
            {
                found = true;
                Assert.True(block.Used);
                Assert.Equal(16u, block.Size);
                Assert.True(block.Address >= region.Start && block.Address + block.Size <= region.End);
            }

            return true;
        });

        Assert.True(found);
        f.Heap.Free(tagged);
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

    [Fact]
    public void Heap_walker_corrupted_heap_detection()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var victim = (byte*)f.Heap.Malloc(64, MallocCaps.Bit8);
        var sizeWord = (uint*)(victim - 4); // The TLSF size word sits just before the data.
        var saved = *sizeWord;
        *sizeWord = 0xFF000000;
        var blocksAfterVictim = 0;

        f.Heap.Walk(MallocCaps.Bit8, (region, block) =>
        {
            var victimsRegion = (nuint)victim >= region.Start && (nuint)victim < region.End;
            if (victimsRegion && block.Address >= (nuint)victim)
            {
                blocksAfterVictim++;
            }

            return true;
        });

        Assert.False(f.Heap.CheckIntegrityAddr(victim, print: false));
        *sizeWord = saved;
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
        f.Heap.Free(victim);
        Assert.Equal(0, blocksAfterVictim); // The walk stopped before the corrupt block instead of following its size.
    }

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

    [Fact]
    public void A_null_walker_is_refused()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.Throws<ArgumentNullException>(() => f.Heap.WalkAll(null!));
    }
}

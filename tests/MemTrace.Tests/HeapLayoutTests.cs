// The built-in layouts (their region tables and totals), names, the builder's checks and the
// layout file format with its error messages.
using Xunit;

namespace MemTrace.Tests;

public class HeapLayoutTests
{
    [Fact]
    public void Esp32_has_ESP_IDFs_documented_regions_sorted_by_size_with_PSRAM_first()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(4));
        var order = new List<(string Name, nuint Size)>();
        heap.WalkAll((region, _) =>
        {
            order.Add((region.Name, region.End - region.Start));
            return false;
        });

        Assert.Equal(
            [("SPIRAM", 4u << 20), ("DRAM", 0x1920), ("D/IRAM", 0x3AE0), ("IRAM", 0x16BB4), ("D/IRAM", 0x1BCB0), ("DRAM", 0x2D138)],
            order.Select(o => (o.Name, o.Size)));
        Assert.Equal((nuint)(0x1920 + 0x2D138 + 0x3AE0 + 0x1BCB0 + 0x16BB4), heap.GetTotalSize(MallocCaps.Internal));
        Assert.Equal((nuint)(0x3AE0 + 0x1BCB0 + 0x16BB4), heap.GetTotalSize(MallocCaps.Exec));
        Assert.Equal(4u << 20, heap.GetTotalSize(MallocCaps.Spiram));
        Assert.Equal((nuint)0x400000, heap.Layout.MaxAllocationSize);
        Assert.Equal((nuint)16384, heap.Layout.ExternalMemoryAlwaysInternalLimit);
    }

    [Fact]
    public void An_esp32_maps_at_most_4_MiB_of_PSRAM_into_the_heap()
    {
        Assert.Equal(4u << 20, HeapLayout.Esp32(8).Regions.Single(r => r.Name == "SPIRAM").Size);
        Assert.Equal(2u << 20, HeapLayout.Esp32(2).Regions.Single(r => r.Name == "SPIRAM").Size);
        Assert.Equal(8u << 20, HeapLayout.Esp32S3(8).Regions.Single(r => r.Name == "SPIRAM").Size);
    }

    [Theory]
    [InlineData("esp32-psram4m")]
    [InlineData("esp32s3-psram8m")]
    public void PSRAM_has_the_caps_esp_psram_gives_it_SIMD_included(string name)
    {
        // esp_psram_extram_add_to_heap_allocator (components/esp_psram/system_layer/esp_psram.c) adds PSRAM with
        // heap_caps_add_region_with_caps and { SPIRAM|DEFAULT, 0, 8BIT|32BIT|SIMD } on every chip, not with the
        // SPIRAM row of soc_memory_types[]: a SIMD request is served from PSRAM.
        using var heap = new HeapCaps(HeapLayout.FromName(name));
        var spiram = heap.Layout.Regions.Single(r => r.Name == "SPIRAM");

        Assert.Equal([MallocCaps.Spiram | MallocCaps.Default, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32 | MallocCaps.Simd], spiram.Caps);
        Assert.Equal(heap.GetTotalSize(MallocCaps.Spiram), heap.GetTotalSize(MallocCaps.Simd));
        var (internalBefore, simdBefore) = (heap.GetFreeSize(MallocCaps.Internal), heap.GetFreeSize(MallocCaps.Simd));
        unsafe
        {
            var p = heap.Malloc(33, MallocCaps.Simd | MallocCaps.Default);
            Assert.True(p != null);
            Assert.Equal(internalBefore, heap.GetFreeSize(MallocCaps.Internal));
            Assert.True(heap.GetFreeSize(MallocCaps.Simd) <= simdBefore - 36);
            heap.Free(p);
        }
    }

    [Fact]
    public unsafe void Only_a_chip_with_SIMD_instructions_aligns_SIMD_blocks_to_16_bytes()
    {
        // heap_align_hw.c raises a SIMD block to SOC_SIMD_PREFERRED_DATA_ALIGNMENT (16) only under
        // SOC_SIMD_INSTRUCTION_SUPPORTED: the ESP32-S3 has SIMD instructions, the ESP32 none. A 33-byte SIMD block
        // thus takes as much ESP32 PSRAM as a plain 36-byte one, and is 16-aligned, 48 bytes or more, on an ESP32-S3.
        using (var simd = new HeapCaps(HeapLayout.Esp32(4)))
        using (var plain = new HeapCaps(HeapLayout.Esp32(4)))
        {
            var before = simd.GetFreeSize(MallocCaps.Spiram);
            var p = simd.Malloc(33, MallocCaps.Simd);
            var q = plain.Malloc(36, MallocCaps.Spiram);

            Assert.True(p != null && q != null);
            Assert.Equal(before - plain.GetFreeSize(MallocCaps.Spiram), before - simd.GetFreeSize(MallocCaps.Spiram));
            Assert.Equal((nuint)36, simd.GetAllocatedSize(p));
            simd.Free(p);
            plain.Free(q);
        }

        using var s3 = new HeapCaps(HeapLayout.Esp32S3(4));
        var block = s3.Malloc(33, MallocCaps.Simd);

        Assert.True(block != null);
        Assert.Equal(0u, (nuint)block % 16);
        Assert.True(s3.GetAllocatedSize(block) >= 48);
        s3.Free(block);
    }

    [Fact]
    public void Esp32_S3_has_no_executable_heap_and_an_RTC_region_of_lowest_priority()
    {
        var layout = HeapLayout.Esp32S3();

        Assert.Equal(["DRAM", "STACK/DRAM", "DRAM", "RTCRAM"], layout.Regions.Select(r => r.Name));
        Assert.DoesNotContain(layout.Regions, r => (r.AllCaps & MallocCaps.Exec) != 0);
        var rtc = layout.Regions.Single(r => r.Name == "RTCRAM");
        Assert.Equal(MallocCaps.Rtcram, rtc.Caps[0]);
        Assert.Null(layout.ExternalMemoryAlwaysInternalLimit);
    }

    [Fact]
    public void Without_PSRAM_no_threshold_is_set()
    {
        Assert.Null(HeapLayout.Esp32().ExternalMemoryAlwaysInternalLimit);
        Assert.Equal((nuint)4, HeapLayout.Esp32().Alignment);
        Assert.Equal((nuint)16, HeapLayout.Host().Alignment);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(-2)]
    public void Unsupported_PSRAM_sizes_are_refused(int psram)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => HeapLayout.Esp32(psram));
        Assert.Throws<ArgumentOutOfRangeException>(() => HeapLayout.Esp32S3(psram));
    }

    [Fact]
    public void Every_built_in_name_builds_a_working_heap()
    {
        foreach (var name in HeapLayout.BuiltInNames)
        {
            using var heap = new HeapCaps(HeapLayout.FromName(name.ToUpperInvariant()));
            Assert.Equal(name, heap.Layout.Name);
            unsafe
            {
                var p = heap.Malloc(100, MallocCaps.Default);
                Assert.True(p != null);
                heap.Free(p);
            }
        }
    }

    [Fact]
    public void An_unknown_name_lists_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => HeapLayout.FromName("esp8266"));

        Assert.Contains("esp32-psram4m", error.Message, StringComparison.Ordinal);
        Assert.False(HeapLayout.TryFromName("nope", out _));
    }

    [Fact]
    public void The_builder_checks_its_arguments()
    {
        var builder = HeapLayout.CreateBuilder("custom");

        Assert.Throws<ArgumentOutOfRangeException>(() => builder.WithAlignment(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.WithAlignment(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.WithAlignment(32)); // A power of two the TLSF regions do not support.
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.WithAlignment(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.AddRegion("tiny", 100, MallocCaps.Default));
        Assert.Throws<ArgumentException>(() => builder.AddRegion("none", 4096, MallocCaps.None));
        Assert.Throws<ArgumentException>(() => builder.AddRegion("bad", 4096, MallocCaps.Invalid));
        Assert.Throws<ArgumentException>(() => builder.AddRegion(" ", 4096, MallocCaps.Default));
        Assert.Throws<InvalidOperationException>(() => builder.Build());
        builder.AddRegion("ok", 4096, MallocCaps.Default);
        builder.Build();
        Assert.Throws<InvalidOperationException>(() => builder.Build());
    }

    [Fact]
    public void A_built_layout_does_not_change_when_its_builder_is_used_again()
    {
        var builder = HeapLayout.CreateBuilder("custom").AddRegion("DRAM", 4096, MallocCaps.Default);
        var layout = builder.Build();

        Assert.Throws<InvalidOperationException>(() => builder.AddRegion("more", 4096, MallocCaps.Default));
        Assert.Throws<InvalidOperationException>(() => builder.AddHostRegion("host", MallocCaps.Default));
        Assert.Throws<InvalidOperationException>(() => builder.WithAlignment(4));

        Assert.Single(layout.Regions);
        Assert.Equal("DRAM", layout.Regions[0].Name);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(16)]
    public void Every_alignment_the_builder_accepts_builds_a_heap_that_keeps_it(int alignment)
    {
        var layout = HeapLayout.CreateBuilder("aligned").WithAlignment((nuint)alignment).AddRegion("DRAM", 4096, MallocCaps.Default).Build();
        using var heap = new HeapCaps(layout);

        unsafe
        {
            var p = heap.Malloc(5, MallocCaps.Default);
            Assert.Equal(0u, (nuint)p % (nuint)alignment);
            heap.Free(p);
        }
    }

    [Fact]
    public void A_layout_file_without_alignment_gets_the_builders_default()
    {
        var fromFile = HeapLayout.FromJson("""{ "name": "x", "regions": [ { "name": "DRAM", "size": 4096, "caps": ["DEFAULT"] } ] }""");
        var fromBuilder = HeapLayout.CreateBuilder("x").AddRegion("DRAM", 4096, MallocCaps.Default).Build();

        Assert.Equal((nuint)HeapLayoutBuilder.DefaultAlignment, fromFile.Alignment);
        Assert.Equal(fromBuilder.Alignment, fromFile.Alignment);
        Assert.Equal((nuint)8, HeapLayout.FromJson("""{ "name": "x", "alignment": 8, "regions": [ { "name": "DRAM", "size": 4096, "caps": ["DEFAULT"] } ] }""").Alignment);
    }

    [Fact]
    public void A_layout_file_accepts_a_PSRAM_threshold_of_0_as_ESP_IDF_does()
    {
        // CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL ranges from 0 to 131072 (esp_psram Kconfig), and heap_caps_malloc_extmem_enable(0)
        // sends every non-zero malloc() to PSRAM first; the builder takes 0 too.
        var layout = HeapLayout.FromJson("""{ "name": "x", "externalMemoryAlwaysInternalLimit": 0, "regions": [ { "name": "DRAM", "size": 4096, "caps": ["DEFAULT"] } ] }""");

        Assert.Equal((nuint)0, layout.ExternalMemoryAlwaysInternalLimit);
        Assert.Contains("$.externalMemoryAlwaysInternalLimit", Assert.Throws<FormatException>(() => HeapLayout.FromJson("""{ "name": "x", "externalMemoryAlwaysInternalLimit": -1, "regions": [ { "name": "DRAM", "size": 4096, "caps": ["DEFAULT"] } ] }""")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_layout_file_builds_the_map_it_describes()
    {
        const string json = """
            {
              // A board with two internal regions, PSRAM and a host region for the rest.
              "name": "my-board",
              "alignment": 4,
              "maxAllocationSize": 1048576,
              "externalMemoryAlwaysInternalLimit": 4096,
              "regions": [
                { "name": "DRAM", "size": 65536, "caps": ["8BIT|DEFAULT", "MALLOC_CAP_INTERNAL|DMA|32BIT", "0"] },
                { "name": "IRAM", "size": 32768, "caps": ["Internal|Exec|Bit32"] },
                { "name": "SPIRAM", "size": 1048576, "caps": ["SPIRAM|DEFAULT", "", "0x6"], "addedAtRuntime": true },
                { "name": "host", "kind": "host", "caps": [4096] },
              ]
            }
            """;

        var layout = HeapLayout.FromJson(json);

        Assert.Equal("my-board", layout.Name);
        Assert.Equal(4, layout.Regions.Count);
        Assert.Equal(MallocCaps.Bit8 | MallocCaps.Default, layout.Regions[0].Caps[0]);
        Assert.Equal(MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32, layout.Regions[0].Caps[1]);
        Assert.Equal(MallocCaps.Internal | MallocCaps.Exec | MallocCaps.Bit32, layout.Regions[1].Caps[0]);
        Assert.True(layout.Regions[2].AddedAtRuntime);
        Assert.Equal(MallocCaps.Bit8 | MallocCaps.Bit32, layout.Regions[2].Caps[2]);
        Assert.Equal(HeapRegionKind.Host, layout.Regions[3].Kind);
        Assert.Equal(MallocCaps.Default, layout.Regions[3].Caps[0]);
        Assert.Equal((nuint)4096, layout.ExternalMemoryAlwaysInternalLimit);
        using var heap = new HeapCaps(layout);
        Assert.Equal(nuint.MaxValue, heap.GetTotalSize(MallocCaps.None)); // The host region is unbounded.
        Assert.Equal((nuint)32768, heap.GetTotalSize(MallocCaps.Exec));
        Assert.Equal((nuint)(1 << 20), heap.GetTotalSize(MallocCaps.Spiram));
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("[]", "$: a layout must be a JSON object")]
    [InlineData("""{ "regions": [] }""", "$.name")]
    [InlineData("""{ "name": "x", "regions": [] }""", "$.regions")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "caps": ["DEFAULT"] } ] }""", "$.regions[0].size")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": -5, "caps": ["DEFAULT"] } ] }""", "$.regions[0].size")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT|WARP"] } ] }""", "$.regions[0].caps[0]: unknown capability 'WARP'")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": [] } ] }""", "$.regions[0].caps")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["A","B","C","D"] } ] }""", "$.regions[0].caps")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "kind": "flash", "caps": ["DEFAULT"] } ] }""", "$.regions[0].kind")]
    [InlineData("""{ "name": "x", "alignment": 3, "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.alignment: The alignment of plain allocations must be 4 (as on the chip), 8 or 16, not 3")]
    [InlineData("""{ "name": "x", "alignment": 32, "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.alignment: The alignment of plain allocations must be 4 (as on the chip), 8 or 16, not 32")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 10, "caps": ["DEFAULT"] } ] }""", "$.regions[0].size: A TLSF region must be between 1024 bytes and 1 GiB, not 10 bytes")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["0", "", "0"] } ] }""", "$.regions[0]: A region must offer at least one capability.")]
    [InlineData("""{ "name": "x", "regions": [ 7 ] }""", "$.regions[0]: a region must be a JSON object")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "kind": 5, "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.regions[0].kind")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "kind": ["host"], "caps": ["DEFAULT"] } ] }""", "$.regions[0].kind")]
    // Found by a helper's probe: each was ignored (or, for the surrogates, threw InvalidOperationException and crashed the CLI).
    [InlineData("""{ "name": "\uD800", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.name: the string holds an unpaired UTF-16 surrogate")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r\uDC00", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.regions[0].name: the string holds an unpaired")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "kind": "\uD800", "caps": ["DEFAULT"] } ] }""", "$.regions[0].kind: the string holds an unpaired")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT", "\uD800"] } ] }""", "$.regions[0].caps[1]: the string holds an unpaired")]
    [InlineData("""{ "name": "x", "Alignment": 4, "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$: unknown field \"Alignment\" (did you mean \"alignment\"?)")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"], "addedatruntime": true } ] }""", "$.regions[0]: unknown field \"addedatruntime\" (did you mean \"addedAtRuntime\"?)")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 10, "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.regions[0].size: the field is given twice")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"], "addedAtRuntime": "true" } ] }""", "$.regions[0].addedAtRuntime: true or false is required")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"], "addedAtRuntime": 1 } ] }""", "$.regions[0].addedAtRuntime: true or false is required")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "h", "kind": "host", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.regions[0].size: a host region (the process heap) takes no size")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "h", "kind": "host", "addedAtRuntime": true, "caps": ["DEFAULT"] } ] }""", "$.regions[0].addedAtRuntime: a host region")]
    [InlineData("""{ "name": "x", "cacheLines": 32, "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.cacheLines: an object")]
    [InlineData("""{ "name": "x", "cacheLines": { "external": 3 }, "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.cacheLines.external: a cache line is 0 (not cached) or a power of two, not 3")]
    [InlineData("""{ "name": "x", "cacheLines": { "psram": 4 }, "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""", "$.cacheLines: unknown field \"psram\"")]
    public void A_bad_layout_file_names_the_bad_value(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => HeapLayout.FromJson(json));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void A_layout_file_sets_the_cache_lines_so_that_a_copy_of_the_ESP32_map_aligns_PSRAM_as_the_chip_does()
    {
        // Without the field a file got the builder's 32-byte PSRAM line, and a copy of esp32-psram4m spent 36 bytes of PSRAM
        // on a CACHE_ALIGNED byte where the built-in layout spends 16 (a helper's probe).
        var chip = HeapLayout.Esp32(psramMiB: 4);
        var regions = string.Join(", ", chip.Regions.Select(r =>
            $$"""{ "name": "{{r.Name}}", "size": {{r.Size}}, "caps": ["{{(uint)r.Caps[0]}}", "{{(uint)r.Caps[1]}}", "{{(uint)r.Caps[2]}}"], "addedAtRuntime": {{(r.AddedAtRuntime ? "true" : "false")}} }"""));
        var json = $$"""{ "name": "copy", "alignment": 4, "maxAllocationSize": {{chip.MaxAllocationSize}}, "externalMemoryAlwaysInternalLimit": {{chip.ExternalMemoryAlwaysInternalLimit}}, "cacheLines": { "internal": 0, "external": 4 }, "regions": [ {{regions}} ] }""";
        var copy = HeapLayout.FromJson(json);
        Assert.Equal((chip.InternalCacheLineSize, chip.ExternalCacheLineSize), (copy.InternalCacheLineSize, copy.ExternalCacheLineSize));
        Assert.Equal(((nuint)0, (nuint)HeapLayoutBuilder.DefaultExternalCacheLine), (HeapLayout.FromJson("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""").InternalCacheLineSize, HeapLayout.FromJson("""{ "name": "x", "regions": [ { "name": "r", "size": 4096, "caps": ["DEFAULT"] } ] }""").ExternalCacheLineSize));

        using var fromChip = new HeapCaps(chip);
        using var fromCopy = new HeapCaps(copy);
        var before = (fromChip.GetFreeSize(MallocCaps.Spiram), fromCopy.GetFreeSize(MallocCaps.Spiram));
        Assert.True(Allocated(fromChip.Malloc(1, MallocCaps.Spiram | MallocCaps.CacheAligned)));
        Assert.True(Allocated(fromCopy.Malloc(1, MallocCaps.Spiram | MallocCaps.CacheAligned)));
        Assert.Equal(before.Item1 - fromChip.GetFreeSize(MallocCaps.Spiram), before.Item2 - fromCopy.GetFreeSize(MallocCaps.Spiram));
    }

    private static unsafe bool Allocated(void* block) => block != null;

    [Fact]
    public void A_layout_file_larger_than_16_MiB_is_refused_before_it_is_read()
    {
        // A 1.2 GB file made the CLI die of OutOfMemoryException with a stack trace (a helper's probe).
        var path = Path.Combine(Path.GetTempPath(), Guid.NewGuid() + ".json");
        try
        {
            using (var file = File.Create(path))
            {
                file.SetLength(HeapLayout.MaxLayoutFileBytes + 1L); // Sparse: no disk used.
            }

            var error = Assert.Throws<FormatException>(() => HeapLayout.Load(path));
            Assert.Contains("at most 16777216 bytes", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_of_a_missing_file_says_so()
    {
        Assert.Throws<FileNotFoundException>(() => HeapLayout.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid() + ".json")));
    }

    [Theory]
    [InlineData("MALLOC_CAP_8BIT|MALLOC_CAP_DEFAULT", MallocCaps.Bit8 | MallocCaps.Default)]
    [InlineData("8bit | default", MallocCaps.Bit8 | MallocCaps.Default)]
    [InlineData("Bit8|Spiram", MallocCaps.Bit8 | MallocCaps.Spiram)]
    [InlineData("0x1004", MallocCaps.Bit8 | MallocCaps.Default)]
    [InlineData("4100", MallocCaps.Bit8 | MallocCaps.Default)]
    [InlineData("0", MallocCaps.None)]
    [InlineData("", MallocCaps.None)]
    [InlineData("DMA_DESC_AHB|SPIRAM_NO_ENC", MallocCaps.DmaDescAhb | MallocCaps.SpiramNoEnc)]
    public void Caps_parse_from_C_or_CSharp_names_or_numbers(string text, MallocCaps expected) =>
        Assert.Equal(expected, MallocCapsExtensions.Parse(text));

    [Theory]
    [InlineData("8BIT||DEFAULT")]
    [InlineData("EIGHTBIT")]
    [InlineData("0xZZ")]
    [InlineData("-1")]
    [InlineData("+5")]
    [InlineData("-0")]
    [InlineData("Bit8,Dma")]
    [InlineData("Bit8, Dma")]
    public void Bad_caps_text_is_refused(string text) =>
        Assert.Throws<FormatException>(() => MallocCapsExtensions.Parse(text));

    [Fact]
    public void Formatting_and_parsing_round_trip()
    {
        foreach (var flag in Enum.GetValues<MallocCaps>())
        {
            Assert.Equal(flag, MallocCapsExtensions.Parse(flag.ToCapsString()));
        }
    }
}

// heap_caps_print_heap_info on the chip layouts, line by line, in ESP-IDF's format
// (components/heap/heap_caps.c):
//   printf("Heap summary for capabilities 0x%08"PRIX32":\n", caps);
//   per matching heap, in list order:
//   printf("  At 0x%08x len %d free %d allocated %d min_free %d\n", ...);
//   printf("    largest_free_block %d alloc_blocks %d free_blocks %d total_blocks %d\n", ...);
//   printf("  Totals:\n");
//   printf("    free %d allocated %d min_free %d largest_free_block %d\n", ...);
// The fresh figures are the ESP32 layout's (docs/layouts.md gives their per-caps sums).
using System.Globalization;
using MemTrace.Tests.EspIdf;
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsPrintHeapInfoTests
{
    [Fact]
    public void Every_matching_region_gets_ESP_IDFs_two_lines_in_list_order_then_the_totals()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var starts = RegionStarts(f.Heap);

        var text = Print(f.Heap, MallocCaps.Default);

        // The DEFAULT regions by ascending size: DRAM 6 KiB, D/IRAM 14 KiB, D/IRAM 111 KiB, DRAM 180 KiB (not IRAM).
        Assert.Equal(
            $"""
            Heap summary for capabilities 0x00001000:
              At 0x{starts[0]:x8} len 6432 free 6032 allocated 0 min_free 6032
                largest_free_block 5632 alloc_blocks 0 free_blocks 1 total_blocks 1
              At 0x{starts[1]:x8} len 15072 free 14636 allocated 0 min_free 14636
                largest_free_block 14336 alloc_blocks 0 free_blocks 1 total_blocks 1
              At 0x{starts[3]:x8} len 113840 free 112948 allocated 0 min_free 112948
                largest_free_block 110592 alloc_blocks 0 free_blocks 1 total_blocks 1
              At 0x{starts[4]:x8} len 184632 free 183672 allocated 0 min_free 183672
                largest_free_block 180224 alloc_blocks 0 free_blocks 1 total_blocks 1
              Totals:
                free 317288 allocated 0 min_free 317288 largest_free_block 180224

            """.ReplaceLineEndings("\n"),
            text);
    }

    [Fact]
    public void A_regions_lines_follow_its_blocks_free_bytes_and_watermark()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var starts = RegionStarts(f.Heap);
        var p = f.Heap.Malloc(100, MallocCaps.Bit8);                // Priority 0 of 8BIT: the smallest DRAM region first.
        var q = f.Heap.Malloc(2000, MallocCaps.Bit8);
        var holeSize = f.Heap.GetAllocatedSize(p);
        var usable = holeSize + f.Heap.GetAllocatedSize(q);
        f.Heap.Free(p);

        var lines = Print(f.Heap, MallocCaps.Bit8).Split('\n');

        var inUse = f.Heap.GetAllocatedSize(q);
        var free = 6032 - (inUse + 4);
        var minimum = 6032 - (usable + 8);
        Assert.Equal($"  At 0x{starts[0]:x8} len 6432 free {free} allocated {inUse} min_free {minimum}", lines[1]);

        // p's hole before q and the rest after it are the free blocks; the largest request guaranteed to fit is the
        // rest's size rounded down to the start of its TLSF class (an eighth at most in a region of this size).
        Assert.StartsWith("    largest_free_block ", lines[2], StringComparison.Ordinal);
        Assert.EndsWith(" alloc_blocks 1 free_blocks 2 total_blocks 3", lines[2], StringComparison.Ordinal);
        var largest = nuint.Parse(lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        var rest = free - (holeSize + 4) - 4;
        Assert.InRange(largest, rest * 7 / 8, rest);
        Assert.Equal("  Totals:", lines[^3]);
        Assert.Equal(
            string.Create(CultureInfo.InvariantCulture, $"    free {f.Heap.GetFreeSize(MallocCaps.Bit8)} allocated {inUse} min_free {f.Heap.GetMinimumFreeSize(MallocCaps.Bit8)} largest_free_block {f.Heap.GetLargestFreeBlock(MallocCaps.Bit8)}"),
            lines[^2]);
        Assert.Equal(string.Empty, lines[^1]);
        f.Heap.Free(q);
    }

    [Fact]
    public void The_caps_print_as_eight_upper_case_hex_digits_and_a_region_without_them_is_left_out()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var starts = RegionStarts(f.Heap);

        var text = Print(f.Heap, MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit8);

        Assert.StartsWith("Heap summary for capabilities 0x0000080C:\n", text, StringComparison.Ordinal);
        Assert.Equal(4, text.Split("\n  At 0x").Length - 1);      // DRAM x2, D/IRAM x2: neither IRAM nor PSRAM.
        Assert.DoesNotContain("len 4194304", text, StringComparison.Ordinal);
        Assert.DoesNotContain($"At 0x{starts[2]:x8}", text, StringComparison.Ordinal);
        Assert.EndsWith("  Totals:\n    free 317288 allocated 0 min_free 317288 largest_free_block 180224\n", text, StringComparison.Ordinal);

        var none = Print(f.Heap, MallocCaps.Rtcram);
        Assert.Equal("Heap summary for capabilities 0x00008000:\n  Totals:\n    free 0 allocated 0 min_free 0 largest_free_block 0\n", none);
    }

    /// <summary>The ESP32 layout's region starts in list order: DRAM 6 KiB, D/IRAM 14 KiB, IRAM, D/IRAM 111 KiB, DRAM 180 KiB (PSRAM, when there is one, is left out).</summary>
    private static List<nuint> RegionStarts(HeapCaps heap)
    {
        var starts = new List<nuint>();
        heap.Walk(MallocCaps.Internal, (region, _) =>
        {
            starts.Add(region.Start);
            return false;
        });
        Assert.Equal(5, starts.Count);
        return starts;
    }

    private static string Print(HeapCaps heap, MallocCaps caps)
    {
        var output = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        heap.PrintHeapInfo(caps, output);
        return output.ToString().ReplaceLineEndings("\n");
    }
}

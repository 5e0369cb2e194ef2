// Comprehensive poisoning over a TLSF region, no quarantine: a write into free memory is found when
// the memory is about to be handed out, or by an integrity check. The report gives the damaged
// address, the free memory that holds it and its extent, and the block freed there last when the
// region still remembers it (never a wrong one, never a "0-byte block"); the damaged memory is set
// aside, never handed out.
using System.Runtime.CompilerServices;
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningFreeMemoryTests
{
    [Fact]
    public void Without_a_tracker_the_report_names_the_block_freed_there_and_the_free_memory()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        var victim = (byte*)heap.Malloc(40, MallocCaps.Default);
        var bystander = heap.Malloc(40, MallocCaps.Default);
        heap.Free(victim);
        victim[12] = 0x99;

        var reused = heap.Malloc(40, MallocCaps.Default);

        Assert.True(reused != victim);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
        Assert.Equal(AllocationMethod.Malloc, error.Operation);
        Assert.Equal((nuint)victim, error.Address);
        Assert.Equal((nuint)victim, error.BlockAddress);
        Assert.Equal(40u, error.BlockSize);
        Assert.Null(error.Block); // No tracker: no sites.
        Assert.Equal((nuint)(victim + 12), error.DamagedAddress);
        Assert.Equal((nuint)(victim - 8), error.FreeMemoryAddress); // The TLSF block the request was about to receive.
        Assert.Equal(52u, error.FreeMemorySize);
        Assert.Equal($"write after free in block 0x{(nuint)victim:x} (40-byte block)", error.Message);
        var text = error.ToString();
        Assert.Contains($"in free memory: 52 bytes at 0x{(nuint)(victim - 8):x}-0x{(nuint)(victim + 44):x}, where the block 0x{(nuint)victim:x} was freed last", text, StringComparison.Ordinal);
        Assert.Contains("damaged bytes at 0x" + ((nuint)(victim + 12)).ToString("x", null) + " (block offset 12)", text, StringComparison.Ordinal);
        Assert.Contains("The damaged free memory is set aside: it is never handed out.", text, StringComparison.Ordinal);
        Assert.DoesNotContain("(0-byte block)", text, StringComparison.Ordinal);

        // Never handed out again, and no second report.
        for (var i = 0; i < 100; i++)
        {
            var p = heap.Malloc(40, MallocCaps.Default);
            Assert.True(p != victim);
            heap.Free(p);
        }

        heap.Free(reused);
        heap.Free(bystander);
        Assert.Single(heap.RecentErrors);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void When_the_block_freed_there_is_forgotten_the_report_says_so_and_names_no_block()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* victim, 40, MallocCaps.Default);
        tracker.Malloc(out byte* bystander, 40, MallocCaps.Default);
        var stale = victim;
        tracker.Free(ref victim);
        stale[12] = 0x99;

        // More frees than the region remembers, of blocks of another size (they never land on the victim's memory);
        // the tracker reuses the victim's record for them.
        for (var i = 0; i < 300; i++)
        {
            tracker.Malloc(out byte* other, 200, MallocCaps.Default);
            tracker.Free(ref other);
        }

        tracker.Malloc(out byte* reused, 40, MallocCaps.Default); var detectLine = Line();

        Assert.True(reused != stale);
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
        Assert.Null(error.Block);
        Assert.Null(error.BlockAddress);
        Assert.Null(error.BlockSize);
        Assert.Null(error.FreedAt);
        Assert.Equal((nuint)(stale + 12), error.Address);
        Assert.Equal((nuint)(stale + 12), error.DamagedAddress);
        Assert.Equal((nuint)(stale - 8), error.FreeMemoryAddress);
        Assert.Equal(52u, error.FreeMemorySize);
        Assert.Equal(detectLine, error.DetectedAt!.Value.Line);
        Assert.Equal($"write after free at 0x{(nuint)(stale + 12):x} in free memory", error.Message);
        var text = error.ToString();
        Assert.Contains("where the block freed last is not known", text, StringComparison.Ordinal);
        Assert.Contains("(free memory offset 20)", text, StringComparison.Ordinal);
        Assert.DoesNotContain("-byte block", text, StringComparison.Ordinal);
        tracker.Free(ref reused);
        tracker.Free(ref bystander);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void An_integrity_check_reports_damaged_free_memory_once_and_again_after_a_repair()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* victim, 40, MallocCaps.Default); var allocLine = Line();
        tracker.Malloc(out byte* bystander, 40, MallocCaps.Default);
        var stale = victim;
        tracker.Free(ref victim); var freeLine = Line();
        stale[0] = 0x01;

        var printed = new StringWriter();
        Assert.False(heap.CheckIntegrityAll(print: true, printed));
        Assert.False(heap.CheckIntegrityAll(print: false)); // Still damaged, not reported again.

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(AllocationMethod.CheckIntegrity, error.Operation);
        Assert.Equal(allocLine, error.Block!.Line);
        Assert.Equal(freeLine, error.FreedAt!.Value.Line);
        Assert.Equal((nuint)stale, error.DamagedAddress);
        Assert.Equal($"CORRUPT HEAP: Invalid data at 0x{(nuint)stale:x}. Expected 0xfefefefe got 0xfefefe01{Environment.NewLine}", printed.ToString());

        stale[0] = 0xFE; // Repaired: sound again; damaged again: reported again.
        Assert.True(heap.CheckIntegrityAll(print: false));
        stale[0] = 0x02;
        Assert.False(heap.CheckIntegrityAll(print: false));
        Assert.Equal(2, heap.RecentErrors.Count);

        // The request that reaches it sets it aside without a third report.
        tracker.Malloc(out byte* reused, 40, MallocCaps.Default);
        Assert.True(reused != stale);
        Assert.Equal(2, heap.RecentErrors.Count);
        Assert.True(heap.CheckIntegrityAll(print: false));
        tracker.Free(ref reused);
        tracker.Free(ref bystander);
    }

    [Theory]
    [InlineData("esp32-psram4m")]
    [InlineData("esp32s3")]
    public void A_write_past_the_tail_canary_into_the_slack_stays_after_the_free_and_is_found_in_free_memory_as_ESP_IDF_does(string layout)
    {
        // multi_heap_free fills head, data and tail with 0xFE (alloc_size + POISON_OVERHEAD bytes), not the slack TLSF's
        // rounding leaves after the tail: a write there skips the tail canary and is found in free memory afterwards.
        // Filling the whole block on free erased it.
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorOutput = null });
        var block = (byte*)heap.Malloc(1000, MallocCaps.Default);
        var bystander = heap.Malloc(8, MallocCaps.Default);
        Assert.Equal(1012u, heap.GetAllocatedSize(block)); // 1024 bytes of TLSF block: 8 of slack after the tail.
        Assert.Equal(0xFE, block[1006]);
        block[1006] = 0x00;
        Assert.True(heap.CheckIntegrityAll(print: false)); // A live block's slack is not checked, as on the chip.

        heap.Free(block);

        Assert.Equal(0x00, block[1006]);
        Assert.Equal(0xFE, block[1003]); // The tail canary is filled.
        var printed = new StringWriter();
        Assert.False(heap.CheckIntegrityAll(print: true, printed));
        Assert.Equal($"CORRUPT HEAP: Invalid data at 0x{(nuint)(block + 1004):x}. Expected 0xfefefefe got 0xfe00fefe{Environment.NewLine}", printed.ToString());
        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.WriteAfterFree, error.Kind);
        Assert.Equal((nuint)block, error.BlockAddress);
        Assert.Equal((nuint)(block + 1006), error.DamagedAddress);
        Assert.Contains("past that block's tail canary", error.ToString(), StringComparison.Ordinal);

        block[1006] = 0xFE;
        Assert.True(heap.CheckIntegrityAll(print: false));
        heap.Free(bystander);
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}

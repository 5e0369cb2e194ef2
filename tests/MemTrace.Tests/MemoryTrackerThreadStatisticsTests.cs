// Per-thread statistics (ESP-IDF's task tracking for threads): current and peak bytes per thread
// and per region, frees on other threads charged to the allocating thread, reallocs, ended
// threads, ESP-IDF's printed formats, and the option being off.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MemTrace.Internals;
using MemTrace.Tracking;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerThreadStatisticsTests
{
    [Fact]
    public void A_free_on_another_thread_is_charged_to_the_thread_that_allocated()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        tracker.Malloc(out byte* mine1, 100, MallocCaps.Default);
        tracker.Malloc(out byte* mine2, 200, MallocCaps.Default);
        byte* theirs = null;
        var worker = new Thread(() =>
        {
            tracker.Malloc(out theirs, 1000, MallocCaps.Default);
            tracker.Free(ref mine2); // The main thread's block, freed here.
        })
        { Name = "worker" };
        worker.Start();
        worker.Join();

        tracker.Free(ref theirs); // The worker's block, freed here.

        var stats = tracker.GetThreadStatistics();
        Assert.Equal(2, stats.Count);
        var main = stats[0];
        var other = stats[1];
        Assert.Equal(Environment.CurrentManagedThreadId, main.ThreadId);
        Assert.True(main.IsAlive);
        Assert.Equal(100, main.CurrentBytes);
        Assert.Equal(300, main.PeakBytes);
        Assert.Equal(1, main.CurrentBlocks);
        Assert.Equal(2, main.Allocations);
        Assert.Equal("worker", other.Name);
        Assert.False(other.IsAlive);
        Assert.Equal(0, other.CurrentBytes);
        Assert.Equal(1000, other.PeakBytes);
        Assert.Equal(0, other.CurrentBlocks);
        Assert.Equal(1, other.Allocations);
        var region = Assert.Single(main.Regions);
        Assert.Equal((nuint)mine1, Assert.Single(region.Blocks).Address);
        Assert.Empty(Assert.Single(other.Regions).Blocks);
        tracker.Free(ref mine1);
    }

    [Fact]
    public void Current_and_peak_are_kept_per_region_with_the_regions_caps_and_size()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        tracker.Malloc(out byte* external, 5000, MallocCaps.Spiram);
        tracker.Malloc(out byte* dma, 300, MallocCaps.Dma);
        tracker.Malloc(out byte* dma2, 200, MallocCaps.Dma);
        tracker.Free(ref dma);

        var thread = Assert.Single(tracker.GetThreadStatistics());
        var spiram = thread.Regions.Single(r => r.RegionName == "SPIRAM");
        var dram = thread.Regions.Single(r => r.RegionName != "SPIRAM");

        Assert.Equal(2, thread.Regions.Count);
        Assert.Equal(5000, spiram.CurrentBytes);
        Assert.Equal(5000, spiram.PeakBytes);
        Assert.Equal(1, spiram.CurrentBlocks);
        Assert.Equal(4u << 20, spiram.RegionSize);
        Assert.True(spiram.Caps.HasFlag(MallocCaps.Spiram));
        Assert.Equal(200, dram.CurrentBytes);
        Assert.Equal(500, dram.PeakBytes);
        Assert.Equal(1, dram.CurrentBlocks);
        Assert.Equal(2, dram.Allocations);
        Assert.True(dram.Caps.HasFlag(MallocCaps.Dma));
        Assert.Equal(heap.Layout.Regions.First(r => r.Name == dram.RegionName).Size, dram.RegionSize); // The first DRAM region only.
        Assert.Equal(dram.RegionName, dram.RegionLabel);
        Assert.Equal(5200, thread.CurrentBytes);
        Assert.Equal(5500, thread.PeakBytes);
        tracker.Free(ref external);
        tracker.Free(ref dma2);
    }

    [Fact]
    public void Regions_that_share_a_name_have_a_row_each_told_apart_by_label_and_start()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        tracker.Malloc(out byte* small, 100, MallocCaps.Bit8);   // The smaller DRAM region is tried first.
        tracker.Malloc(out byte* large, 10000, MallocCaps.Bit8); // Too large for it: the other DRAM region.
        var dramSizes = heap.Layout.Regions.Where(r => r.Name == "DRAM").Select(r => r.Size).ToList();

        var thread = Assert.Single(tracker.GetThreadStatistics());

        Assert.Equal(2, thread.Regions.Count);
        var first = thread.Regions[0];
        var second = thread.Regions[1];
        Assert.Equal(("DRAM", "DRAM"), (first.RegionName, first.RegionLabel));
        Assert.Equal(("DRAM", "DRAM#2"), (second.RegionName, second.RegionLabel));
        Assert.Equal((100L, 1L, dramSizes[0]), (first.CurrentBytes, first.CurrentBlocks, first.RegionSize));
        Assert.Equal((10000L, 1L, dramSizes[1]), (second.CurrentBytes, second.CurrentBlocks, second.RegionSize));
        Assert.InRange((nuint)small, first.RegionStart, first.RegionStart + first.RegionSize - 1);
        Assert.InRange((nuint)large, second.RegionStart, second.RegionStart + second.RegionSize - 1);
        Assert.Equal((nuint)small, Assert.Single(first.Blocks).Address);
        Assert.Equal((nuint)large, Assert.Single(second.Blocks).Address);

        var output = new StringWriter();
        tracker.PrintThreadStatistics(output);
        tracker.PrintThreadStatisticsOverview(output);
        var text = output.ToString();
        Assert.Contains($"     ├ HEAP: DRAM, CAPS: 0x{(uint)first.Caps:x8}, SIZE: {dramSizes[0]}, USAGE: CURRENT 100 (", text, StringComparison.Ordinal);
        Assert.Contains($"     └ HEAP: DRAM#2, CAPS: 0x{(uint)second.Caps:x8}, SIZE: {dramSizes[1]}, USAGE: CURRENT 10000 (", text, StringComparison.Ordinal);
        Assert.Contains("TOTAL HEAP USED 2:", text, StringComparison.Ordinal); // Two heaps, as ESP-IDF counts them.
        Assert.Matches(@"│ +10100 │ +10100 │ +2 │", text);

        // A realloc that moves the block from one DRAM region to the other moves its bytes between the rows.
        Assert.True(tracker.Realloc(ref small, 20000, MallocCaps.Bit8));
        var moved = Assert.Single(tracker.GetThreadStatistics());
        Assert.Equal((0L, 0L), (moved.Regions[0].CurrentBytes, moved.Regions[0].CurrentBlocks));
        Assert.Equal((30000L, 2L), (moved.Regions[1].CurrentBytes, moved.Regions[1].CurrentBlocks));
        Assert.Equal(100, moved.Regions[0].PeakBytes);
        tracker.Free(ref small);
        tracker.Free(ref large);
    }

    [Fact]
    public void Regions_added_at_run_time_are_counted_after_the_layouts_and_numbered_in_the_order_added()
    {
        const int size = 16 * 1024;
        var memory1 = NativeMemory.Alloc(size);
        var memory2 = NativeMemory.Alloc(size);
        try
        {
            using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
            MallocCaps[] caps = [MallocCaps.Pid2, MallocCaps.None, MallocCaps.None];
            Assert.Equal(HeapCapsResult.Ok, heap.AddRegionWithCaps(caps, memory1, (byte*)memory1 + size));
            Assert.Equal(HeapCapsResult.Ok, heap.AddRegionWithCaps(caps, memory2, (byte*)memory2 + size));
            var layoutRegions = heap.Layout.Regions.Count;

            var a = heap.Malloc(8000, MallocCaps.Pid2);  // The last added is tried first.
            var b = heap.Malloc(12000, MallocCaps.Pid2); // No longer fits there: the first added.

            Assert.Equal(layoutRegions + 1, heap.RegionNumberOf(a));
            Assert.Equal(layoutRegions, heap.RegionNumberOf(b));
            var regions = Assert.Single(tracker.GetThreadStatistics()).Regions;
            Assert.Equal(["runtime", "runtime#2"], regions.Select(r => r.RegionLabel));
            Assert.Equal([(nuint)memory1, (nuint)memory2], regions.Select(r => r.RegionStart));
            Assert.Equal([12000L, 8000L], regions.Select(r => r.CurrentBytes));
            heap.Free(a);
            heap.Free(b);
        }
        finally
        {
            NativeMemory.Free(memory1);
            NativeMemory.Free(memory2);
        }
    }

    [Fact]
    public void A_regions_number_is_its_place_in_the_layout_and_outside_every_region_is_minus_one()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        var described = heap.DescribeNumberedRegions();
        var blocks = new List<nint>();

        Assert.Equal(heap.Layout.Regions.Select(r => r.Name), described.Select(r => r.Name));
        Assert.Equal(Enumerable.Range(0, described.Length), described.Select(r => r.Number));
        Assert.Equal(["DRAM", "DRAM#2", "D/IRAM", "D/IRAM#2", "IRAM", "SPIRAM"], described.Select(r => r.Label));
        (nuint Size, MallocCaps Caps, string Label)[] requests =
        [
            (100, MallocCaps.Bit8, "DRAM"), (10000, MallocCaps.Bit8, "DRAM#2"), (10000, MallocCaps.Dma, "D/IRAM"),
            (20000, MallocCaps.Dma, "D/IRAM#2"), (100, MallocCaps.Exec, "IRAM"), (100, MallocCaps.Spiram, "SPIRAM"),
        ];
        foreach (var (size, caps, label) in requests)
        {
            var p = heap.Malloc(size, caps);
            Assert.True(p != null);
            blocks.Add((nint)p);
            var region = described[heap.RegionNumberOf(p)];
            Assert.Equal(label, region.Label);
            Assert.InRange((nuint)p, region.Start, region.Start + region.TotalSize - 1);
        }

        var outside = stackalloc byte[1];
        Assert.Equal(-1, heap.RegionNumberOf(outside));
        Assert.Equal(-1, heap.RegionNumberOf(null));
        foreach (var b in blocks)
        {
            heap.Free((void*)b);
        }

        heap.Dispose();
        Assert.Equal(described, heap.DescribeNumberedRegions()); // Still answers after disposal.
    }

    [Fact]
    public void Regions_numbered_past_the_last_slot_share_it_as_other_regions()
    {
        var regions = Enumerable.Range(0, 34).Select(i => new NumberedRegion(i, "R", i == 0 ? "R" : $"R#{i + 1}", (MallocCaps)(1u << (i % 20)), (nuint)(0x1000 * (i + 1)), 100)).ToList();

        var slots = RegionSlots.Describe(regions);

        Assert.Equal(ThreadAccount.MaxRegions, slots.Length);
        Assert.Equal("R#31", slots[30].Label);
        Assert.Equal("(other regions)", slots[^1].Label);
        Assert.Equal((nuint)300, slots[^1].TotalSize);
        Assert.Equal(regions[31].Caps | regions[32].Caps | regions[33].Caps, slots[^1].Caps);
        Assert.Equal(30, RegionSlots.SlotOf(30));
        Assert.Equal(31, RegionSlots.SlotOf(31));
        Assert.Equal(31, RegionSlots.SlotOf(40));
        Assert.Equal(31, RegionSlots.SlotOf(-1));
        Assert.Equal("R#3", RegionSlots.Describe(regions.Take(3).ToList())[2].Label);
    }

    [Fact]
    public void A_realloc_moves_bytes_within_the_allocating_threads_account()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        tracker.Malloc(out byte* data, 100, MallocCaps.Internal);
        var internalRegion = Assert.Single(Assert.Single(tracker.GetThreadStatistics()).Regions).RegionName;

        Assert.True(tracker.Realloc(ref data, 700, MallocCaps.Internal));
        var grown = Assert.Single(tracker.GetThreadStatistics());
        Assert.Equal(700, grown.CurrentBytes);
        Assert.Equal(700, grown.PeakBytes);

        Assert.True(tracker.Realloc(ref data, 300, MallocCaps.Spiram)); // Moves to PSRAM.
        var moved = Assert.Single(tracker.GetThreadStatistics());
        Assert.Equal(300, moved.CurrentBytes);
        Assert.Equal(700, moved.PeakBytes);
        Assert.Equal(0, moved.Regions.Single(r => r.RegionName == internalRegion).CurrentBytes);
        Assert.Equal(0, moved.Regions.Single(r => r.RegionName == internalRegion).CurrentBlocks);
        Assert.Equal(300, moved.Regions.Single(r => r.RegionName == "SPIRAM").CurrentBytes);
        Assert.Equal((nuint)data, Assert.Single(moved.Regions.Single(r => r.RegionName == "SPIRAM").Blocks).Address);
        tracker.Free(ref data);
        Assert.Equal(0, Assert.Single(tracker.GetThreadStatistics()).CurrentBytes);
    }

    [Fact]
    public void Blocks_allocated_on_the_heap_directly_are_charged_too()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });

        var p = heap.Malloc(64, MallocCaps.Default);

        Assert.Equal(64, Assert.Single(tracker.GetThreadStatistics()).CurrentBytes);
        heap.Free(p);
        Assert.Equal(0, Assert.Single(tracker.GetThreadStatistics()).CurrentBytes);
    }

    [Fact]
    public void Many_threads_freeing_each_others_blocks_leave_every_account_at_zero()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        var handoff = new System.Collections.Concurrent.BlockingCollection<nint>();
        var producers = Enumerable.Range(0, 3).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < 2000; i++)
            {
                handoff.Add((nint)tracker.Malloc((nuint)(1 + (i % 100)), MallocCaps.Default));
            }
        })).ToList();
        var consumer = new Thread(() =>
        {
            foreach (var p in handoff.GetConsumingEnumerable())
            {
                var block = (void*)p;
                tracker.Free(ref block);
            }
        });
        consumer.Start();
        producers.ForEach(t => t.Start());
        producers.ForEach(t => t.Join());
        handoff.CompleteAdding();
        consumer.Join();

        var stats = tracker.GetThreadStatistics();
        Assert.Equal(3, stats.Count);
        Assert.All(stats, s => Assert.Equal(0, s.CurrentBytes));
        Assert.All(stats, s => Assert.Equal(0, s.CurrentBlocks));
        Assert.All(stats, s => Assert.Equal(2000, s.Allocations));
        Assert.All(stats, s => Assert.InRange(s.PeakBytes, 100, 2000 * 100));
        Assert.Equal(0, tracker.LiveBytes);
    }

    [Fact]
    public void The_peak_counts_frees_made_on_other_threads_before_the_next_allocation()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        tracker.Malloc(out byte* first, 100, MallocCaps.Default);
        OnAnotherThread(() => tracker.Free(ref first)); // Current 0, on the remote side.
        tracker.Malloc(out byte* second, 50, MallocCaps.Default);

        var mine = Assert.Single(tracker.GetThreadStatistics());

        Assert.Equal(50, mine.CurrentBytes);
        Assert.Equal(100, mine.PeakBytes); // Not 150: the owner saw the other thread's free.
        Assert.Equal(1, mine.CurrentBlocks);
        Assert.Equal(2, mine.Allocations);
        var region = Assert.Single(mine.Regions);
        Assert.Equal((50L, 100L, 1L, 2L), (region.CurrentBytes, region.PeakBytes, region.CurrentBlocks, region.Allocations));
        tracker.Free(ref second);
    }

    [Fact]
    public void A_realloc_on_another_thread_moves_the_block_to_the_reallocating_thread_as_ESP_IDF_charges_the_current_task()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        tracker.Malloc(out byte* data, 100, MallocCaps.Bit8); // In the first DRAM region.
        tracker.Malloc(out byte* kept, 40, MallocCaps.Bit8);
        var ready = new ManualResetEventSlim();
        var done = new ManualResetEventSlim();
        IReadOnlyList<ThreadMemoryStatistics> seen = [];
        var otherId = 0;
        var other = new Thread(() =>
        {
            try
            {
                otherId = Environment.CurrentManagedThreadId;
                tracker.Realloc(ref data, 10000, MallocCaps.Bit8); // Moves to DRAM#2.
                tracker.Realloc(ref data, 5000, MallocCaps.Bit8); // Shrinks in place.
                seen = tracker.GetThreadStatistics(); // While this thread is alive.
            }
            finally
            {
                ready.Set();
            }

            done.Wait();
        })
        { Name = "other" };
        other.Start();
        ready.Wait(TestContext.Current.CancellationToken);
        done.Set();
        other.Join();

        var mine = seen.Single(s => s.ThreadId == Environment.CurrentManagedThreadId);
        var theirs = seen.SingleOrDefault(s => s.ThreadId == otherId);
        Assert.Equal((40L, 140L, 1L), (mine.CurrentBytes, mine.PeakBytes, mine.CurrentBlocks)); // 100 bytes off.
        Assert.Equal(("DRAM", 40L, 140L, 1L), (mine.Regions[0].RegionLabel, mine.Regions[0].CurrentBytes, mine.Regions[0].PeakBytes, mine.Regions[0].CurrentBlocks));
        Assert.Single(mine.Regions);
        Assert.NotNull(theirs);
        Assert.Equal((5000L, 10000L, 1L), (theirs.CurrentBytes, theirs.PeakBytes, theirs.CurrentBlocks));
        Assert.Equal((2L, 1L), (mine.Allocations, theirs.Allocations)); // The block taken over counts for the other thread.
        var region = Assert.Single(theirs.Regions);
        Assert.Equal(("DRAM#2", 5000L, 10000L, 1L), (region.RegionLabel, region.CurrentBytes, region.PeakBytes, region.CurrentBlocks));
        Assert.Equal((nuint)data, Assert.Single(region.Blocks).Address);

        tracker.Free(ref data); // Charged to the other thread, which now holds the block (and has ended: no row).
        var after = Assert.Single(tracker.GetThreadStatistics());
        Assert.Equal((40L, 1L), (after.CurrentBytes, after.CurrentBlocks));
        tracker.Free(ref kept);
    }

    [Fact]
    public void An_ended_threads_row_is_dropped_by_default_as_ESP_IDF_drops_deleted_tasks()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var dropping = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        byte* held = null;
        OnAnotherThread(() => dropping.Malloc(out held, 64, MallocCaps.Default)); // Ends holding a block.
        dropping.Malloc(out byte* mine, 8, MallocCaps.Default);

        var row = Assert.Single(dropping.GetThreadStatistics());
        Assert.Equal(Environment.CurrentManagedThreadId, row.ThreadId);
        Assert.Equal(2, dropping.LiveBlocks); // The ended thread's block stays live and listed.
        dropping.Free(ref held);
        dropping.Free(ref mine);
        Assert.Equal(0, Assert.Single(dropping.GetThreadStatistics()).CurrentBytes);
    }

    [Fact]
    public void An_ended_threads_account_is_let_go_of_once_it_holds_no_block_and_kept_while_it_holds_one()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        byte* held = null;
        OnAnotherThread(() => tracker.Malloc(out held, 64, MallocCaps.Default)); // Ends holding a block.

        // Enough ended threads for the tracker to sweep its cells (it sweeps when their number has doubled, from 64).
        for (var i = 0; i < 80; i++)
        {
            StartAllocatingThread(tracker, null);
        }

        Assert.InRange(tracker.HeldThreadAccounts, 2, 65); // The holder's and main's, with those of the threads since the sweep, not 82.
        tracker.Free(ref held); // Finds the holder's account through the block's side entry.
        tracker.Malloc(out byte* mine, 8, MallocCaps.Default);
        for (var i = 0; i < 80; i++)
        {
            StartAllocatingThread(tracker, null);
        }

        Assert.InRange(tracker.HeldThreadAccounts, 1, 65); // Of 162 threads.
        var row = Assert.Single(tracker.GetThreadStatistics());
        Assert.Equal((8L, 1L), (row.CurrentBytes, row.CurrentBlocks));
        tracker.Free(ref mine);

        using var otherHeap = new HeapCaps(HeapLayout.Host());
        using var keeping = new MemoryTracker(otherHeap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        for (var i = 0; i < 80; i++)
        {
            StartAllocatingThread(keeping, null);
        }

        Assert.Equal(80, keeping.HeldThreadAccounts);
        Assert.Equal(80, keeping.GetThreadStatistics().Count);
    }

    [Fact]
    public void While_threads_free_each_others_blocks_a_reader_never_sees_a_negative_count_and_the_end_totals_are_exact()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        const int perThread = 20_000;
        var queues = Enumerable.Range(0, 2).Select(_ => new System.Collections.Concurrent.ConcurrentQueue<nint>()).ToArray();
        var done = 0;
        var workers = Enumerable.Range(0, 2).Select(me => new Thread(() =>
        {
            var other = queues[1 - me];
            for (var i = 0; i < perThread; i++)
            {
                queues[me].Enqueue((nint)tracker.Malloc((nuint)(1 + (i % 64)), MallocCaps.Default));
                if (i % 3 != 0 && other.TryDequeue(out var theirs))
                {
                    var p = (void*)theirs; // Another thread's block: a remote free.
                    tracker.Free(ref p);
                }
                else if (queues[me].TryDequeue(out var mine))
                {
                    var p = (void*)mine; // Possibly this thread's own block: an owner free.
                    tracker.Free(ref p);
                }
            }

            Interlocked.Increment(ref done);
        })).ToList();
        workers.ForEach(t => t.Start());
        try
        {
            var reads = 0;
            while (Volatile.Read(ref done) < 2 || reads < 50)
            {
                foreach (var thread in tracker.GetThreadStatistics())
                {
                    Assert.True(thread.CurrentBytes >= 0 && thread.CurrentBlocks >= 0, $"{thread.CurrentBytes} bytes, {thread.CurrentBlocks} blocks");
                    Assert.True(thread.PeakBytes >= thread.CurrentBytes);
                    Assert.All(thread.Regions, r => Assert.True(r.CurrentBytes >= 0 && r.CurrentBlocks >= 0));
                }

                reads++;
            }
        }
        finally
        {
            // A failed assertion must not dispose the tracker under the workers (their next free would throw on a
            // thread of their own and abort the test host, hiding the failure).
            workers.ForEach(t => t.Join());
        }
        foreach (var queue in queues)
        {
            while (queue.TryDequeue(out var left))
            {
                var p = (void*)left;
                tracker.Free(ref p);
            }
        }

        var stats = tracker.GetThreadStatistics();
        Assert.Equal(2, stats.Count);
        Assert.All(stats, s => Assert.Equal((0L, 0L, (long)perThread), (s.CurrentBytes, s.CurrentBlocks, s.Allocations)));
        Assert.All(stats, s => Assert.Equal((0L, 0L, (long)perThread), (s.Regions[0].CurrentBytes, s.Regions[0].CurrentBlocks, s.Regions[0].Allocations)));
        Assert.All(stats, s => Assert.InRange(s.PeakBytes, 1, perThread * 64L));
        Assert.Equal(0, tracker.LiveBytes);
    }

    [Fact]
    public void The_overview_and_details_print_as_ESP_IDF_prints_task_statistics()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        byte* a = null;
        var id = 0;
        var app = new Thread(() =>
        {
            id = Environment.CurrentManagedThreadId;
            tracker.Malloc(out a, 256, MallocCaps.Default);
        })
        { Name = "app" };
        app.Start();
        app.Join();
        var output = new StringWriter();

        tracker.PrintThreadStatisticsOverview(output);
        tracker.PrintThreadStatistics(output);

        // heap_caps_print_task_overview: "│ %18s │ %7s │ %20d │ %17d │ %15d │" (the first column headed THREAD, not TASK),
        // then heap_caps_print_task_info's tree, the last task's with "└" and no rail.
        var label = $"app (thread {id})".PadLeft(18);
        var width = Math.Max(18, label.Length);
        string[] expected =
        [
            $"┌{new string('─', width + 2)}┬─────────┬──────────────────────┬───────────────────┬─────────────────┐",
            $"│ {"THREAD".PadRight(width)} │ STATUS  │ CURRENT MEMORY USAGE │ PEAK MEMORY USAGE │ TOTAL HEAP USED │",
            $"├{new string('─', width + 2)}┼─────────┼──────────────────────┼───────────────────┼─────────────────┤",
            $"│ {label} │ DELETED │                  256 │               256 │               1 │",
            $"└{new string('─', width + 2)}┴─────────┴──────────────────────┴───────────────────┴─────────────────┘",
            $"└ DELETED: app (thread {id}), CURRENT MEMORY USAGE 256, PEAK MEMORY USAGE 256, TOTAL HEAP USED 1:",
        ];
        var lines = output.ToString().Split(Environment.NewLine);
        Assert.Equal(expected, lines[..6]);
        Assert.Matches(@"^     └ HEAP: host, CAPS: 0x[0-9a-f]{8}, SIZE: unbounded, USAGE: CURRENT 256 \(-\), PEAK 256 \(-\), ALLOC COUNT: 1$", lines[6]);
        Assert.Equal($"          ├ ALLOC 0x{(nuint)a:x}, SIZE 256", lines[7]);
        tracker.Free(ref a);
    }

    [Fact]
    public void The_details_draw_ESP_IDFs_tree_rails_for_every_task_but_the_last_and_every_heap_but_the_last()
    {
        // heap_caps_print_task_info (ESP-IDF v5.3 to master): "%s %s: %s, …:", "%s    %s HEAP: …", "%s    %s    ├ ALLOC %p, SIZE %u".
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        tracker.Malloc(out byte* small, 100, MallocCaps.Bit8);   // DRAM
        tracker.Malloc(out byte* large, 10000, MallocCaps.Bit8); // DRAM#2
        byte* theirs = null;
        var worker = new Thread(() => tracker.Malloc(out theirs, 64, MallocCaps.Bit8)) { Name = "worker" };
        worker.Start();
        worker.Join();
        var output = new StringWriter();

        tracker.PrintThreadStatistics(output);

        var lines = output.ToString().Split(Environment.NewLine);
        Assert.Equal(9, lines.Length); // Eight lines and the empty string after the last newline.
        Assert.Matches(@"^├ ALIVE: .*, CURRENT MEMORY USAGE 10100, PEAK MEMORY USAGE 10100, TOTAL HEAP USED 2:$", lines[0]);
        Assert.StartsWith("│    ├ HEAP: DRAM, ", lines[1], StringComparison.Ordinal);
        Assert.Equal($"│    │    ├ ALLOC 0x{(nuint)small:x}, SIZE 100", lines[2]);
        Assert.StartsWith("│    └ HEAP: DRAM#2, ", lines[3], StringComparison.Ordinal);
        Assert.Equal($"│         ├ ALLOC 0x{(nuint)large:x}, SIZE 10000", lines[4]);
        Assert.StartsWith("└ DELETED: worker (thread ", lines[5], StringComparison.Ordinal);
        Assert.StartsWith("     └ HEAP: DRAM, ", lines[6], StringComparison.Ordinal);
        Assert.Equal($"          ├ ALLOC 0x{(nuint)theirs:x}, SIZE 64", lines[7]);
        Assert.Equal(string.Empty, lines[8]);
        tracker.Free(ref small);
        tracker.Free(ref large);
        tracker.Free(ref theirs);
    }

    [Fact]
    public void The_overview_keeps_ESP_IDFs_column_widths_and_right_aligns_the_name_and_prints_nothing_without_a_thread()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        var output = new StringWriter();

        tracker.PrintThreadStatisticsOverview(output); // ESP-IDF prints its heading with its first task only.
        Assert.Equal(string.Empty, output.ToString());

        // A running thread with a short label: every column is as wide as ESP-IDF's (STATUS 7 wide with no DELETED row).
        byte* p = null;
        var id = 0;
        using var allocated = new ManualResetEventSlim();
        using var printed = new ManualResetEventSlim();
        var t = new Thread(() =>
        {
            id = Environment.CurrentManagedThreadId;
            tracker.Malloc(out p, 8, MallocCaps.Default);
            allocated.Set();
            printed.Wait();
        })
        { Name = "t" };
        t.Start();
        allocated.Wait(TestContext.Current.CancellationToken);
        tracker.PrintThreadStatisticsOverview(output);
        printed.Set();
        t.Join();

        var label = $"t (thread {id})";
        Assert.Equal(
            string.Join(Environment.NewLine,
                "┌────────────────────┬─────────┬──────────────────────┬───────────────────┬─────────────────┐",
                "│ THREAD             │ STATUS  │ CURRENT MEMORY USAGE │ PEAK MEMORY USAGE │ TOTAL HEAP USED │",
                "├────────────────────┼─────────┼──────────────────────┼───────────────────┼─────────────────┤",
                $"│ {label,18} │ ALIVE   │                    8 │                 8 │               1 │",
                "└────────────────────┴─────────┴──────────────────────┴───────────────────┴─────────────────┘",
                ""),
            output.ToString());
        tracker.Free(ref p);
    }

    [Fact]
    public void Statistics_are_off_by_default_and_asking_for_them_says_how_to_turn_them_on()
    {
        using var f = new HostFixture(withTracker: true);

        var e = Assert.Throws<InvalidOperationException>(() => f.T.GetThreadStatistics());
        Assert.Contains("ThreadStatistics = true", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => f.T.PrintThreadStatisticsOverview());
    }

    [Fact]
    public void An_ended_threads_account_lets_go_of_its_thread_once_its_cell_is_retired_and_keeps_its_row()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        var first = StartAllocatingThread(tracker, "first");

        // Enough ended threads for the tracker to sweep its cells (it sweeps when their number has doubled, from 64).
        for (var i = 0; i < 80; i++)
        {
            StartAllocatingThread(tracker, null);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(first.TryGetTarget(out _), "the account of an ended thread still holds its Thread object");
        var row = tracker.GetThreadStatistics()[0];
        Assert.Equal("first", row.Name);
        Assert.False(row.IsAlive);
        Assert.Equal(1, row.Allocations);
    }

    [Fact]
    public void A_new_threads_first_allocation_does_not_copy_the_accounts_of_every_thread_before_it()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        const int Threads = 4000;
        var allocated = new long[Threads];
        for (var i = 0; i < Threads; i++)
        {
            var index = i;
            var thread = new Thread(() =>
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                var p = tracker.Malloc(16, MallocCaps.Default);
                allocated[index] = GC.GetAllocatedBytesForCurrentThread() - before;
                tracker.Free(ref p);
            });
            thread.Start();
            thread.Join();
        }

        // Each thread's first allocation makes its cell and account (a few kB); copying the account table for each new
        // thread added 8 bytes per thread seen before, 28 kB a thread here by the end.
        var early = allocated.AsSpan(0, 500).ToArray().Average();
        var late = allocated.AsSpan(Threads - 500).ToArray().Average();
        Assert.True(late < (2 * early) + 1024, $"first allocation of a thread: {early:F0} bytes among the first 500 threads, {late:F0} among the last 500");
        Assert.Equal(Threads, tracker.GetThreadStatistics().Count);
    }

    [Fact]
    public void Short_lived_threads_blocks_freed_and_reallocated_by_others_while_accounts_are_let_go_of_keep_every_row_equal_to_its_blocks()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        const int ShortThreads = 400;
        const int PerShortThread = 8;
        var handoff = new System.Collections.Concurrent.ConcurrentQueue<nint>();
        var kept = new System.Collections.Concurrent.ConcurrentQueue<nint>(); // Blocks left live to the end.
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var producing = 1;
        var stop = 0;

        void Guarded(Action action)
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        }

        // Long-lived threads: free or realloc (taking the block over) what the short-lived threads allocated.
        var takers = Enumerable.Range(0, 2).Select(me => new Thread(() => Guarded(() =>
        {
            var mine = new List<nint>();
            var turn = me;
            while (Volatile.Read(ref producing) != 0 || !handoff.IsEmpty)
            {
                if (!handoff.TryDequeue(out var theirs))
                {
                    Thread.Yield();
                    continue;
                }

                var p = (void*)theirs;
                switch (turn++ % 4)
                {
                    case 0:
                        tracker.Free(ref p); // A remote free, perhaps of an ended thread's last block.
                        break;
                    case 1:
                        Assert.True(tracker.Realloc(ref p, (nuint)(8 + (turn % 200)), MallocCaps.Default)); // Now this thread's.
                        mine.Add((nint)p);
                        break;
                    case 2:
                        kept.Enqueue((nint)p); // Stays charged to its (perhaps ended) thread.
                        break;
                    default:
                        Assert.True(tracker.Realloc(ref p, (nuint)(300 + (turn % 50)), MallocCaps.Default));
                        var q = (void*)mine[^1];
                        mine.RemoveAt(mine.Count - 1);
                        tracker.Free(ref q); // An own free of a taken-over block.
                        mine.Add((nint)p);
                        break;
                }
            }

            mine.ForEach(b => kept.Enqueue(b));
        }))).ToList();
        var reader = new Thread(() => Guarded(() =>
        {
            var output = new StringWriter();
            while (Volatile.Read(ref stop) == 0)
            {
                foreach (var row in tracker.GetThreadStatistics())
                {
                    Assert.True(row.CurrentBytes >= 0 && row.CurrentBlocks >= 0, $"{row.CurrentBytes} bytes, {row.CurrentBlocks} blocks");
                }

                tracker.PrintThreadStatisticsOverview(output);
                output.GetStringBuilder().Clear();
                _ = tracker.BookkeepingBytes;
            }
        }));
        takers.ForEach(t => t.Start());
        reader.Start();
        try
        {
            for (var i = 0; i < ShortThreads && failures.IsEmpty; i += 2)
            {
                var pair = Enumerable.Range(0, 2).Select(_ => new Thread(() => Guarded(() =>
                {
                    for (var b = 0; b < PerShortThread; b++)
                    {
                        handoff.Enqueue((nint)tracker.Malloc((nuint)(1 + (b * 7)), MallocCaps.Default));
                    }
                }))).ToList();
                pair.ForEach(t => t.Start());
                pair.ForEach(t => t.Join());
            }
        }
        finally
        {
            Volatile.Write(ref producing, 0);
            takers.ForEach(t => t.Join());
            Volatile.Write(ref stop, 1);
            reader.Join();
        }

        Assert.Empty(failures);
        var stats = tracker.GetThreadStatistics();
        foreach (var row in stats)
        {
            var blocks = row.Regions.SelectMany(r => r.Blocks).ToList();
            Assert.Equal((blocks.Sum(b => (long)b.Size), (long)blocks.Count), (row.CurrentBytes, row.CurrentBlocks));
            Assert.All(row.Regions, r => Assert.Equal((r.Blocks.Sum(b => (long)b.Size), (long)r.Blocks.Count), (r.CurrentBytes, r.CurrentBlocks)));
        }

        Assert.Equal(kept.Count, tracker.LiveBlocks);
        while (kept.TryDequeue(out var left))
        {
            var p = (void*)left;
            tracker.Free(ref p);
        }

        for (var i = 0; i < 70; i++)
        {
            StartAllocatingThread(tracker, null); // Enough for a sweep, which lets go of the accounts emptied since.
        }

        Assert.All(tracker.GetThreadStatistics(), row => Assert.Equal((0L, 0L), (row.CurrentBytes, row.CurrentBlocks)));
        Assert.InRange(tracker.HeldThreadAccounts, 1, 70); // Of some 870 threads.
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference<Thread> StartAllocatingThread(MemoryTracker tracker, string? name)
    {
        var thread = new Thread(() =>
        {
            var p = tracker.Malloc(64, MallocCaps.Default);
            tracker.Free(ref p);
        })
        { Name = name };
        thread.Start();
        thread.Join();
        return new WeakReference<Thread>(thread);
    }

    private static void OnAnotherThread(Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException("The other thread failed.", failure);
        }
    }
}

// Poisoning and the quarantine under threads: a correct program gets no reports however its threads interleave, and a
// free racing another free or a realloc of the same block (a bug of the program) is reported once, with the tracker's
// records released once and the heap's memory given back once.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningConcurrencyTests
{
    [Theory]
    [InlineData(PoisoningLevel.Light, false)]
    [InlineData(PoisoningLevel.Comprehensive, false)]
    [InlineData(PoisoningLevel.Light, true)]
    public void Threads_allocating_and_freeing_aligned_blocks_of_their_own_get_no_reports(PoisoningLevel level, bool quarantine)
    {
        // An aligned block's address mapping was dropped after the inner region had taken the block back, and so could
        // drop the mapping of another thread's new aligned block at the same address: its free was then reported as an
        // interior pointer, the block leaked and integrity checks failed.
        // The default quarantine (1 024 blocks a region) fills a region of the S3's internal memory with blocks of this
        // size: a request then empties it rather than fail (this test failed now and then before that).
        using var heap = new HeapCaps(HeapLayout.Esp32S3(), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine ? new QuarantineOptions() : null, ErrorOutput = null });
        var before = heap.GetInfo(MallocCaps.Default).AllocatedBlocks;

        RunThreads(4, _ =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                var p = heap.AlignedAlloc(128, 100, MallocCaps.Default);
                Assert.True(p != null);
                heap.Free(p);
            }
        });

        Assert.Equal(0, heap.ErrorCount);
        Assert.True(heap.CheckIntegrityAll(false));
        if (!quarantine)
        {
            Assert.Equal(before, heap.GetInfo(MallocCaps.Default).AllocatedBlocks);
        }
    }

    [Fact]
    public void Two_threads_freeing_the_same_quarantined_block_at_once_release_its_record_once()
    {
        // The second free looked the block up before the first had quarantined it, then found it (filled with 0xFE) under
        // the region's lock, held it as damaged and answered Live: the tracker released the record twice.
        using var heap = new HeapCaps(HeapLayout.Esp32(psramMiB: 4), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, Quarantine = new QuarantineOptions(), ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        const int rounds = 5_000;
        void* shared = null;
        var start = new Barrier(3); // Not disposed: a failed assertion must not make the other threads throw.
        var done = new Barrier(3);

        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < rounds; i++)
            {
                start.SignalAndWait();
                heap.Free(shared);
                done.SignalAndWait();
            }
        }) { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        for (var i = 0; i < rounds; i++)
        {
            shared = tracker.Malloc(32, MallocCaps.Default);
            start.SignalAndWait(TestContext.Current.CancellationToken); // Both threads free it at once.
            done.SignalAndWait(TestContext.Current.CancellationToken);
        }

        threads.ForEach(t => t.Join());

        Assert.Equal(rounds, heap.ErrorCount); // One double free per round.
        Assert.Equal((long)rounds, tracker.TotalFrees);
        Assert.Equal((0L, 0L), (tracker.LiveBlocks, tracker.LiveBytes));
        var blocks = Enumerable.Range(0, 300).Select(_ => (nint)tracker.Malloc(40, MallocCaps.Default)).ToList();
        Assert.Equal(300, tracker.GetAllocations().Count); // A record released twice would be handed out twice.
        Assert.True(heap.CheckIntegrityAll(false));
        foreach (var block in blocks)
        {
            var p = (void*)block;
            tracker.Free(ref p);
        }

        Assert.Equal(0L, tracker.LiveBlocks);
    }

    [Theory]
    [InlineData("esp32-psram4m", PoisoningLevel.None)]
    [InlineData("esp32-psram4m", PoisoningLevel.Comprehensive)]
    [InlineData("host", PoisoningLevel.Light)]
    public void A_free_racing_a_realloc_of_the_same_block_is_reported_once_and_nothing_is_freed_twice(string layout, PoisoningLevel level)
    {
        // Moving realloc: allocate, copy, free the old block. If the other thread's free won, the realloc went on with a
        // copy of freed memory (no report, the record released twice); on the host heap with canaries, the freed block's
        // memory looked damaged and was held, then freed a second time when the heap was disposed (glibc abort).
        var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        var (from, to) = layout == "host" ? (MallocCaps.Default, MallocCaps.Default) : (MallocCaps.Internal, MallocCaps.Spiram);
        const int rounds = 1_000;
        void* shared = null;
        void* result = null;
        var start = new Barrier(3); // Not disposed: a failed assertion must not make the other threads throw.
        var done = new Barrier(3);
        var realloc = new Thread(() =>
        {
            for (var i = 0; i < rounds; i++)
            {
                start.SignalAndWait();
                result = heap.Realloc(shared, 60_000, to);
                done.SignalAndWait();
            }
        });
        var free = new Thread(() =>
        {
            for (var i = 0; i < rounds; i++)
            {
                start.SignalAndWait();
                heap.Free(shared);
                done.SignalAndWait();
            }
        });
        realloc.IsBackground = free.IsBackground = true;
        realloc.Start();
        free.Start();
        var succeeded = 0;
        var silent = new List<string>();
        for (var i = 0; i < rounds; i++)
        {
            var errors = heap.ErrorCount;
            shared = heap.Malloc(50_000, from);
            Assert.True(shared != null);
            new Span<byte>(shared, 50_000).Fill(0x5A);
            start.SignalAndWait(TestContext.Current.CancellationToken); // The realloc and the free at once.
            done.SignalAndWait(TestContext.Current.CancellationToken);
            var kinds = string.Join(",", heap.RecentErrors.TakeLast((int)(heap.ErrorCount - errors)).Select(e => e.Kind));
            if (result != null)
            {
                succeeded++;
                heap.Free(result);
            }

            if (heap.ErrorCount - errors != 1)
            {
                silent.Add($"round {i}: {heap.ErrorCount - errors} errors [{kinds}], result {(result == null ? "null" : result == shared ? "same" : "moved")}");
            }
        }

        Assert.True(silent.Count == 0, string.Join("\n", silent));

        realloc.Join();
        free.Join();

        Assert.Equal(rounds, heap.ErrorCount); // Whichever came second: exactly one report per round.
        Assert.True(heap.CheckIntegrityAll(false));
        Assert.Equal(0u, heap.GetInfo(MallocCaps.Default).AllocatedBlocks + (layout == "host" ? 0 : heap.GetInfo(MallocCaps.Spiram).AllocatedBlocks));
        heap.Dispose(); // Must give nothing back to the process heap twice.
        Assert.InRange(succeeded, 0, rounds);
    }

    [Theory]
    [InlineData("esp32-psram4m", PoisoningLevel.Light, false, true)]
    [InlineData("esp32-psram4m", PoisoningLevel.Comprehensive, true, true)]
    [InlineData("host", PoisoningLevel.Comprehensive, false, true)]
    [InlineData("host", PoisoningLevel.Light, true, true)]
    [InlineData("esp32-psram4m", PoisoningLevel.Light, false, false)]
    [InlineData("esp32-psram4m", PoisoningLevel.Comprehensive, false, false)]
    [InlineData("host", PoisoningLevel.Comprehensive, false, false)]
    [InlineData("host", PoisoningLevel.Light, false, false)]
    public void Integrity_checks_while_threads_allocate_and_free_find_nothing_wrong(string layout, PoisoningLevel level, bool quarantine, bool aligned)
    {
        // The check read blocks that other threads were allocating (head not yet written) or freeing (0xFE fill, or memory
        // given back to the process heap): false corruption reports, and blocks set aside for good.
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = level, Quarantine = quarantine ? new QuarantineOptions() : null, ErrorOutput = null });
        var stop = 0;
        var workers = Enumerable.Range(0, 3).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            var mine = new List<nint>();
            while (Volatile.Read(ref stop) == 0)
            {
                if (mine.Count < 64 && (mine.Count == 0 || random.Next(2) == 0))
                {
                    var size = (nuint)random.Next(1, 300);
                    var p = aligned && random.Next(4) == 0 ? heap.AlignedAlloc(64, size, MallocCaps.Default) : heap.Malloc(size, MallocCaps.Default);
                    if (p != null)
                    {
                        mine.Add((nint)p);
                    }
                }
                else
                {
                    var k = random.Next(mine.Count);
                    heap.Free((void*)mine[k]);
                    mine.RemoveAt(k);
                }
            }

            mine.ForEach(p => heap.Free((void*)p));
        }) { IsBackground = true }).ToList();
        workers.ForEach(w => w.Start());
        var failed = 0;
        for (var i = 0; i < 150; i++)
        {
            failed += heap.CheckIntegrityAll(false) ? 0 : 1;
        }

        Volatile.Write(ref stop, 1);
        workers.ForEach(w => w.Join());

        Assert.Equal(0, failed);
        Assert.Equal(0, heap.ErrorCount);
        Assert.True(heap.CheckIntegrityAll(false));
    }

    [Fact]
    public void Heap_statistics_read_while_blocks_enter_and_leave_the_quarantine_never_wrap()
    {
        // The inner region's figures and the quarantine's are two snapshots: a block quarantined between them made the
        // user's block count negative (about 2^64) and the total smaller than the free blocks.
        using var heap = new HeapCaps(HeapLayout.Esp32(psramMiB: 4), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, Quarantine = new QuarantineOptions { MaxBytes = 16 * 1024 }, ErrorOutput = null });
        var stop = 0;
        var workers = Enumerable.Range(0, 3).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            while (Volatile.Read(ref stop) == 0)
            {
                heap.Free(heap.Malloc(random.Next(2) == 0 ? 16u : 4000u, MallocCaps.Bit8));
            }
        }) { IsBackground = true }).ToList();
        workers.ForEach(w => w.Start());
        var bad = new List<HeapInfo>();
        for (var i = 0; i < 20_000 && bad.Count < 5; i++)
        {
            var info = heap.GetInfo(MallocCaps.Bit8);
            if (info.AllocatedBlocks > 100_000 || info.TotalBlocks < info.FreeBlocks + info.AllocatedBlocks || info.TotalAllocatedBytes > 1u << 24)
            {
                bad.Add(info);
            }
        }

        Volatile.Write(ref stop, 1);
        workers.ForEach(w => w.Join());

        Assert.Empty(bad);
        Assert.Equal(0, heap.ErrorCount);
    }

    /// <summary>Runs <paramref name="body"/> on <paramref name="count"/> threads; a failure on any of them fails the test (not the test host).</summary>
    private static void RunThreads(int count, Action<int> body)
    {
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, count).Select(t => new Thread(() =>
        {
            try
            {
                body(t);
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (!failures.IsEmpty)
        {
            throw new AggregateException(failures);
        }
    }
}

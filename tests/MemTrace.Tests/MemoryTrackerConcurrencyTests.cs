// Many threads allocating, reallocating and freeing through one tracker, half of the frees on
// another thread than the allocation: at the end the tracker holds exactly the blocks still live.
// Also: tracking switched on and off while threads allocate.
using System.Collections.Concurrent;
using Xunit;

namespace MemTrace.Tests;

public unsafe class MemoryTrackerConcurrencyTests
{
    [Fact]
    public void Stress_with_reallocs_and_cross_thread_frees_ends_with_exactly_the_expected_records()
    {
        const int threads = 4;
        const int operationsPerThread = 300_000; // 1.2M operations in all.
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var handOff = new ConcurrentQueue<nint>[threads];
        for (var i = 0; i < threads; i++)
        {
            handOff[i] = new ConcurrentQueue<nint>();
        }

        var survivors = new ConcurrentBag<(nint Address, nuint Size)>();
        var failures = new ConcurrentQueue<Exception>();
        var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var random = new Random(1234 + t);
            var mine = new List<(nint Address, nuint Size)>();
            start.SignalAndWait();
            try
            {
                for (var op = 0; op < operationsPerThread; op++)
                {
                    var choice = random.Next(10);
                    if (choice < 5 || mine.Count == 0)
                    {
                        var size = (nuint)random.Next(1, 512);
                        var p = (byte*)tracker.Malloc(size, MallocCaps.Default);
                        p[0] = (byte)t;
                        mine.Add(((nint)p, size));
                    }
                    else if (choice < 7)
                    {
                        // Hand a block to the next thread, which frees it.
                        var index = random.Next(mine.Count);
                        handOff[(t + 1) % threads].Enqueue(mine[index].Address);
                        mine.RemoveAt(index);
                    }
                    else if (choice == 7)
                    {
                        // Grow or shrink in place or by a move; the record follows the block.
                        var index = random.Next(mine.Count);
                        var p = (byte*)mine[index].Address;
                        var size = (nuint)random.Next(1, 1024);
                        if (!tracker.Realloc(ref p, size, MallocCaps.Default) || p[0] != (byte)t)
                        {
                            throw new InvalidOperationException($"realloc to {size} failed or lost the block's contents");
                        }

                        mine[index] = ((nint)p, size);
                    }
                    else
                    {
                        var index = random.Next(mine.Count);
                        var p = (void*)mine[index].Address;
                        tracker.Free(ref p);
                        mine.RemoveAt(index);
                    }

                    while (handOff[t].TryDequeue(out var theirs))
                    {
                        var p = (void*)theirs;
                        tracker.Free(ref p);
                    }
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }

            foreach (var block in mine)
            {
                survivors.Add(block);
            }
        })).ToList();

        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        foreach (var queue in handOff)
        {
            while (queue.TryDequeue(out var left))
            {
                var p = (void*)left;
                tracker.Free(ref p);
            }
        }

        var records = tracker.GetAllocations();
        Assert.Empty(failures);
        Assert.Equal(0, heap.ErrorCount);
        Assert.Equal(survivors.Count, records.Count);
        Assert.Equal(
            survivors.OrderBy(s => s.Address).Select(s => ((nuint)s.Address, s.Size)),
            records.OrderBy(r => r.Address).Select(r => (r.Address, r.Size)));
        Assert.Equal(records.Count, records.Select(r => r.Address).Distinct().Count());
        Assert.Equal(records.Count, records.Select(r => r.RequestNumber).Distinct().Count());
        Assert.Equal(survivors.Count, tracker.LiveBlocks);
        Assert.Equal(survivors.Sum(s => (long)s.Size), tracker.LiveBytes);
        Assert.Equal(tracker.TotalAllocations - tracker.TotalFrees, tracker.LiveBlocks);
        Assert.Equal((nuint)survivors.Count, heap.GetInfo(MallocCaps.None).AllocatedBlocks);

        foreach (var block in survivors)
        {
            var p = (void*)block.Address;
            tracker.Free(ref p);
        }

        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }

    [Fact]
    public void Threads_freeing_through_a_quarantine_on_the_host_heap_leave_exact_counts()
    {
        // A quarantined block can be evicted (and reused by glibc) by another thread's free right after it enters the
        // quarantine: the free once read the block's tag again after that, and released the wrong record (negative live
        // bytes, phantom leaks) or crashed on a garbage record index.
        for (var run = 0; run < 3; run++)
        {
            using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { Quarantine = new QuarantineOptions { MaxBlocks = 64, MaxBytes = 65536 }, ErrorOutput = null });
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
            var workers = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                var random = new Random((run * 10) + t);
                var mine = new List<nint>();
                for (var i = 0; i < 30_000; i++)
                {
                    if (mine.Count == 0 || random.Next(2) == 0)
                    {
                        mine.Add((nint)tracker.Malloc((nuint)random.Next(1, 600), MallocCaps.Default));
                    }
                    else
                    {
                        var k = random.Next(mine.Count);
                        var p = (void*)mine[k];
                        mine.RemoveAt(k);
                        tracker.Free(ref p);
                    }
                }

                foreach (var block in mine)
                {
                    var p = (void*)block;
                    tracker.Free(ref p);
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.Equal((0L, 0L), (tracker.LiveBlocks, tracker.LiveBytes));
            Assert.Empty(tracker.GetAllocations());
            Assert.Empty(heap.RecentErrors);
        }
    }

    [Fact]
    public void Switching_tracking_on_and_off_while_two_threads_allocate_records_exactly_what_was_allocated_while_on()
    {
        // The switching thread moves a phase counter around each switch: odd while switching, even
        // when stable, and phase / 2 even means on. A block whose allocation saw the same even phase
        // before and after was certainly allocated while tracking was on (or off) for the whole call.
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var phase = 0L;
        var stop = 0;
        var failures = new ConcurrentQueue<Exception>();
        var blocks = new ConcurrentBag<(nint Address, nuint Size, int Expected)>(); // Expected: 1 recorded, 0 not, -1 unknown.
        var frees = 0L;
        var operations = 0L;
        var allocators = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            try
            {
                var random = new Random(99 + t);
                var mine = new List<(nint Address, nuint Size, int Expected)>();

                // The first block of each stable phase whose phase is certain stays live to the end, so
                // that blocks of both states are there to check however the threads were scheduled (an
                // allocator that ran alone through a long phase would otherwise free every older block).
                var kept = new List<(nint Address, nuint Size, int Expected)>();
                var keptPhase = -1L;
                while (Volatile.Read(ref stop) == 0)
                {
                    if (mine.Count == 0 || (mine.Count < 2000 && random.Next(3) != 0))
                    {
                        var size = (nuint)random.Next(1, 256);
                        var before = Volatile.Read(ref phase);
                        var p = tracker.Malloc(size, MallocCaps.Default);
                        var after = Volatile.Read(ref phase);
                        var expected = before == after && before % 2 == 0 ? (before / 2 % 2 == 0 ? 1 : 0) : -1;
                        if (expected != -1 && before != keptPhase)
                        {
                            kept.Add(((nint)p, size, expected));
                            keptPhase = before;
                        }
                        else
                        {
                            mine.Add(((nint)p, size, expected));
                        }
                    }
                    else
                    {
                        var index = random.Next(mine.Count);
                        var p = (void*)mine[index].Address;
                        tracker.Free(ref p);
                        mine[index] = mine[^1];
                        mine.RemoveAt(mine.Count - 1);
                        Interlocked.Increment(ref frees);
                    }

                    Interlocked.Increment(ref operations);
                }

                foreach (var block in mine.Concat(kept))
                {
                    blocks.Add(block);
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();
        allocators.ForEach(a => a.Start());

        // Each stable phase lasts a varying number of operations of the allocators (not of time: the
        // machine may be busy), and there are enough phases for the live blocks to span many of them.
        var switches = 0;
        for (; switches < 400 && failures.IsEmpty; switches++)
        {
            var target = Interlocked.Read(ref operations) + 20 + (switches * 7919 % 200);
            while (Interlocked.Read(ref operations) < target && failures.IsEmpty)
            {
                Thread.Yield();
            }

            Volatile.Write(ref phase, phase + 1);
            tracker.Enabled = !tracker.Enabled;
            Volatile.Write(ref phase, phase + 1);
        }

        Volatile.Write(ref stop, 1);
        allocators.ForEach(a => a.Join());

        Assert.Empty(failures);
        Assert.Equal(0, heap.ErrorCount);
        var live = blocks.ToList();
        var records = tracker.GetAllocations().ToDictionary(r => r.Address);
        Assert.Equal(records.Count, tracker.LiveBlocks);
        Assert.Equal(records.Values.Sum(r => (long)r.Size), tracker.LiveBytes);
        Assert.Equal(tracker.TotalAllocations - tracker.TotalFrees, tracker.LiveBlocks);
        Assert.Equal((nuint)live.Count, heap.GetInfo(MallocCaps.None).AllocatedBlocks);

        // Every record is a live block of the right size; every block surely allocated while on has one,
        // every block surely allocated while off has none.
        var byAddress = live.ToDictionary(b => (nuint)b.Address);
        Assert.All(records.Values, r => Assert.Equal(byAddress[r.Address].Size, r.Size));
        Assert.All(live.Where(b => b.Expected == 1), b => Assert.True(records.ContainsKey((nuint)b.Address), "a block allocated while on has no record"));
        Assert.All(live.Where(b => b.Expected == 0), b => Assert.False(records.ContainsKey((nuint)b.Address), "a block allocated while off has a record"));
        var census = $"{live.Count(b => b.Expected == 1)} on, {live.Count(b => b.Expected == 0)} off, {live.Count(b => b.Expected == -1)} unknown, {switches} switches";
        Assert.True(live.Exists(b => b.Expected == 1) && live.Exists(b => b.Expected == 0), census);
        Assert.True(Interlocked.Read(ref frees) > 0);

        tracker.Enabled = true;
        foreach (var block in live)
        {
            var p = (void*)block.Address;
            tracker.Free(ref p);
        }

        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Equal(0, heap.ErrorCount);
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);

    }

    [Fact]
    public void Listing_while_another_thread_writes_never_shows_a_torn_record()
    {
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        using var stop = new CancellationTokenSource();
        Exception? writerFailure = null;
        var writer = new Thread(() =>
        {
            try
            {
                // One writer on a fresh tracker: its n-th request gets number n, so every record
                // must satisfy Size == n % 1000 + 1; a copy mixing two writes would not.
                var live = new Queue<nint>();
                for (long n = 1; !stop.IsCancellationRequested; n++)
                {
                    live.Enqueue((nint)tracker.Malloc((nuint)(n % 1000) + 1, MallocCaps.Default));
                    if (live.Count > 64)
                    {
                        var p = (void*)live.Dequeue();
                        tracker.Free(ref p);
                    }
                }

                while (live.Count > 0)
                {
                    var p = (void*)live.Dequeue();
                    tracker.Free(ref p);
                }
            }
            catch (Exception e)
            {
                writerFailure = e;
            }
        });
        writer.Start();
        var listings = 0;
        var checkedRecords = 0L;
        var deadline = DateTime.UtcNow.AddSeconds(1);
        try
        {
            while (DateTime.UtcNow < deadline)
            {
                foreach (var record in tracker.GetAllocations())
                {
                    Assert.True(record.Size == (nuint)(record.RequestNumber % 1000) + 1, $"torn record {record}");
                    checkedRecords++;
                }

                listings++;
            }
        }
        finally
        {
            stop.Cancel();
            writer.Join();
        }

        Assert.Null(writerFailure);
        Assert.True(listings > 10 && checkedRecords > 1000, $"{listings} listings, {checkedRecords} records");
        Assert.Equal(0, heap.ErrorCount);
        Assert.Equal(0, tracker.LiveBlocks);
    }

    [Fact]
    public void Live_figures_read_while_blocks_are_freed_on_another_thread_are_never_negative_and_checkpoints_add_up()
    {
        // One thread allocates, another frees what it is handed; each counts on its own thread. A sum read one thread
        // after the other could count a free without its allocation: live blocks -1, live bytes below zero (seen
        // before the counters became allocated/freed totals read frees first). A checkpoint read its four figures
        // one after the other, so under load its live blocks were not its allocations less its frees.
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        using var handOff = new BlockingCollection<nint>(boundedCapacity: 1);
        using var done = new CancellationTokenSource();
        var failures = new ConcurrentQueue<string>();
        var producer = new Thread(() =>
        {
            var random = new Random(7);
            for (var i = 0; i < 40_000; i++)
            {
                handOff.Add((nint)tracker.Malloc((nuint)random.Next(1, 200), MallocCaps.Default));
            }

            handOff.CompleteAdding();
        });
        var consumer = new Thread(() =>
        {
            foreach (var p in handOff.GetConsumingEnumerable())
            {
                var block = (void*)p;
                tracker.Free(ref block);
            }
        });
        var reader = new Thread(() =>
        {
            var readings = 0;
            while (!done.IsCancellationRequested || readings < 100)
            {
                readings++;
                if (tracker.LiveBlocks < 0 || tracker.LiveBytes < 0)
                {
                    failures.Enqueue($"negative live figures at reading {readings}");
                }

                if ((readings & 15) == 0)
                {
                    var checkpoint = tracker.Checkpoint();
                    if (checkpoint.LiveBlocks != checkpoint.TotalAllocations - checkpoint.TotalFrees || checkpoint.LiveBlocks < 0 || checkpoint.LiveBytes < 0)
                    {
                        failures.Enqueue($"checkpoint {readings}: {checkpoint.LiveBlocks} live, {checkpoint.TotalAllocations} allocations, {checkpoint.TotalFrees} frees, {checkpoint.LiveBytes} bytes");
                    }
                }
            }
        });

        producer.Start();
        consumer.Start();
        reader.Start();
        producer.Join();
        consumer.Join();
        done.Cancel();
        reader.Join();

        Assert.Empty(failures.Take(5));
        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Equal(0, tracker.LiveBytes);
        Assert.Equal(40_000, tracker.TotalFrees);
    }

    [Fact]
    public void Handles_of_ended_threads_are_reused()
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        for (var round = 0; round < 50; round++)
        {
            var thread = new Thread(() =>
            {
                for (var i = 0; i < 100; i++)
                {
                    var p = tracker.Malloc(16, MallocCaps.Default);
                    tracker.Free(ref p);
                }
            });
            thread.Start();
            thread.Join();
        }

        // 50 threads each held up to 256 free handles; harvesting keeps the store from growing past one chunk.
        Assert.True(tracker.BookkeepingBytes < 2 * 4096 * 60 + (50 * 2048), $"bookkeeping {tracker.BookkeepingBytes}");
        Assert.Equal(0, tracker.LiveBlocks);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_bookkeeping_of_ended_threads_is_let_go_and_their_counts_and_blocks_stay(bool threadStatistics)
    {
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = threadStatistics, KeepEndedThreadStatistics = threadStatistics });
        const int Threads = 1000;
        var kept = new nint[Threads];
        for (var round = 0; round < Threads; round++)
        {
            var index = round;
            var thread = new Thread(() =>
            {
                var p = tracker.Malloc(16, MallocCaps.Default);
                tracker.Free(ref p);
                kept[index] = (nint)tracker.Malloc(8, MallocCaps.Default); // Still live when the thread ends.
            });
            thread.Start();
            thread.Join();
        }

        // Each thread's cell (a ring of 256 handles and its counters) went with the thread: the tracker held
        // about 1.1 kB for every thread that ever used it, for good (per-thread statistics asked to keep ended threads keep their own rows).
        var accounts = threadStatistics ? Threads * 2400L : 0;
        Assert.True(tracker.BookkeepingBytes < (2 * 4096 * 60) + (100 * 2048) + accounts, $"bookkeeping {tracker.BookkeepingBytes}");
        Assert.Equal(Threads, tracker.LiveBlocks);
        Assert.Equal(Threads * 8, tracker.LiveBytes);
        Assert.Equal(2 * Threads, tracker.TotalAllocations);
        Assert.Equal(Threads, tracker.TotalFrees);
        Assert.Equal(Threads, tracker.GetLeakReport().Blocks);
        var checkpoint = tracker.Checkpoint();
        Assert.Equal(Threads, checkpoint.LiveBlocks);
        if (threadStatistics)
        {
            var stats = tracker.GetThreadStatistics();
            Assert.Equal(Threads, stats.Count);
            Assert.All(stats, s => Assert.False(s.IsAlive));
            Assert.All(stats, s => Assert.Equal(8, s.CurrentBytes));
        }

        foreach (var p in kept)
        {
            var block = (void*)p;
            tracker.Free(ref block);
        }

        Assert.Equal(0, tracker.LiveBlocks);
        Assert.Equal(0, tracker.LiveBytes);
        Assert.Equal(2 * Threads, tracker.TotalFrees);
        Assert.Equal(-Threads, tracker.Difference(checkpoint, tracker.Checkpoint()).BlocksDelta);
        if (threadStatistics)
        {
            Assert.All(tracker.GetThreadStatistics(), s => Assert.Equal(0, s.CurrentBytes));
        }
    }
}

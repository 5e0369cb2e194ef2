// Port of ESP-IDF's heap task tracking examples (examples/system/heap_task_tracking/basic/main/heap_task_tracking_main.c
// and advanced/main/heap_task_tracking_advanced_main.c, both built with CONFIG_HEAP_TRACK_DELETED_TASKS as the
// advanced sdkconfig.defaults sets it and the basic README's output shows): no_leak_task allocates two blocks and
// frees both each round; leaking_task frees only the first. The README's expectations: no_leak_task ALIVE at 0 bytes
// with a peak, leaking_task growing; once deleted, both listed DELETED, leaking_task keeping its blocks (ALLOC COUNT one
// per round) and no_leak_task its heaps with ALLOC COUNT 0. The rounds are driven by semaphores, not vTaskDelay; the
// sizes come from a seeded Random as esp_random()'s (size_a in 1..10000, size_b in 1..10000 - size_a).
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class HeapTaskTrackingMain
{
    private const int Rounds = 4;

    [Fact]
    public void Heap_task_tracking_example()
    {
        using var f = new ChipFixture(HeapLayout.Esp32S3());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        var random = new Random(2025);
        using var noLeak = new ExampleTask(tracker, "no_leak_task", leak: false, new Random(random.Next()));
        using var leaking = new ExampleTask(tracker, "leaking_task", leak: true, new Random(random.Next()));

        for (var round = 1; round <= Rounds; round++)
        {
            noLeak.RunRound();
            leaking.RunRound();

            var stats = tracker.GetThreadStatistics();
            var noLeakRow = Assert.Single(stats, s => s.Name == "no_leak_task");
            var leakingRow = Assert.Single(stats, s => s.Name == "leaking_task");
            Assert.True(noLeakRow.IsAlive);
            Assert.Equal(0, noLeakRow.CurrentBytes);
            Assert.Equal(noLeak.PeakPair, noLeakRow.PeakBytes); // Both blocks of its biggest round were live at once.
            Assert.Equal(round < Rounds, leakingRow.IsAlive); // Deleted after round 3, listed DELETED in round 4.
            Assert.Equal(leaking.Leaked, leakingRow.CurrentBytes);
            Assert.Equal(Math.Min(round, Rounds - 1), leakingRow.CurrentBlocks);
            Assert.True(leakingRow.PeakBytes >= leakingRow.CurrentBytes);

            var overview = new StringWriter();
            tracker.PrintThreadStatisticsOverview(overview);
            Assert.Matches(@"│ +no_leak_task \(thread \d+\) │ ALIVE   │ +0 │", overview.ToString());

            if (round == Rounds - 1)
            {
                leaking.End(); // vTaskDelete(leaking_task_hdl)
            }
        }

        noLeak.End();
        var final = tracker.GetThreadStatistics();
        var leaked = Assert.Single(final, s => s.Name == "leaking_task");
        var clean = Assert.Single(final, s => s.Name == "no_leak_task");
        Assert.False(leaked.IsAlive);
        Assert.Equal(leaking.Leaked, leaked.CurrentBytes);
        Assert.Equal(Rounds - 1, leaked.CurrentBlocks); // It ran three rounds before it was deleted.
        Assert.Equal(leaking.Blocks, leaked.Regions.SelectMany(r => r.Blocks).Select(b => b.Address).Order());
        Assert.False(clean.IsAlive);
        Assert.Equal(0, clean.CurrentBytes);
        Assert.True(clean.PeakBytes > 0);
        Assert.All(clean.Regions, r => Assert.Equal(0, r.CurrentBlocks));

        var details = new StringWriter();
        tracker.PrintThreadStatistics(details);
        Assert.Contains($"DELETED: leaking_task (thread {leaked.ThreadId}), CURRENT MEMORY USAGE {leaking.Leaked}, PEAK MEMORY USAGE {leaked.PeakBytes}, TOTAL HEAP USED {leaked.Regions.Count}:", details.ToString(), StringComparison.Ordinal);
        Assert.Contains($"DELETED: no_leak_task (thread {clean.ThreadId}), CURRENT MEMORY USAGE 0, PEAK MEMORY USAGE {clean.PeakBytes}", details.ToString(), StringComparison.Ordinal);

        foreach (var block in leaking.Blocks)
        {
            f.Heap.Free((void*)block);
        }
    }

    /// <summary>One of the example's tasks: a named thread that runs one round each time it is told to.</summary>
    private sealed class ExampleTask : IDisposable
    {
        private readonly SemaphoreSlim _go = new(0);
        private readonly SemaphoreSlim _done = new(0);
        private readonly Thread _thread;
        private readonly List<nuint> _blocks = [];
        private volatile bool _stop;
        private Exception? _failure;

        public ExampleTask(MemoryTracker tracker, string name, bool leak, Random random)
        {
            _thread = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        _go.Wait();
                        if (_stop)
                        {
                            return;
                        }

                        var sizeA = (nuint)random.Next(10000) + 1;
                        var sizeB = (nuint)random.Next((int)(10000 - sizeA)) + 1;
                        var ptrA = tracker.Malloc(sizeA, MallocCaps.Default);
                        var ptrB = tracker.Malloc(sizeB, MallocCaps.Default);
                        Assert.True(ptrA != null && ptrB != null, "Could not allocate heap memory");
                        PeakPair = Math.Max(PeakPair, (long)(sizeA + sizeB));
                        tracker.Free(ref ptrA);
                        if (leak)
                        {
                            _blocks.Add((nuint)ptrB);
                            Leaked += (long)sizeB;
                        }
                        else
                        {
                            tracker.Free(ref ptrB);
                        }

                        _done.Release();
                    }
                }
                catch (Exception e)
                {
                    _failure = e;
                    _done.Release();
                }
            })
            { Name = name };
            _thread.Start();
        }

        public long PeakPair { get; private set; }

        public long Leaked { get; private set; }

        public IEnumerable<nuint> Blocks => _blocks.Order();

        public void RunRound()
        {
            if (!_thread.IsAlive)
            {
                return; // Deleted: it runs no more rounds.
            }

            _go.Release();
            Assert.True(_done.Wait(TimeSpan.FromSeconds(10)), "the task did not finish its round");
            if (_failure is not null)
            {
                throw new Xunit.Sdk.XunitException($"the task failed: {_failure}");
            }
        }

        public void End()
        {
            _stop = true;
            _go.Release();
            _thread.Join();
        }

        public void Dispose()
        {
            if (_thread.IsAlive)
            {
                End();
            }

            _go.Dispose();
            _done.Dispose();
        }
    }
}

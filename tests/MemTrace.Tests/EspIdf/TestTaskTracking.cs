// Ports of ESP-IDF's test_task_tracking.c (components/heap/test_apps/heap_tests/main/test_task_tracking.c) to
// MemoryTracker's per-thread statistics: a FreeRTOS task is a thread, heap_caps_get_all_task_stat is
// GetThreadStatistics, heap_caps_get_single_task_stat is GetThreadStatistics filtered by ThreadId (the README's map),
// CONFIG_HEAP_TRACK_DELETED_TASKS is KeepEndedThreadStatistics and vTaskDelete is the thread's end. The task
// notifications that hand control back and forth are semaphores.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestTaskTracking
{
    private const nuint AllocBytes = 36;

    // "heap task tracking reports created / deleted task" (with CONFIG_HEAP_TRACK_DELETED_TASKS): the task is listed
    // by name and alive while it runs, and still listed, not alive, once deleted, though it freed its block first.
    [Fact]
    public void Heap_task_tracking_reports_created_deleted_task()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        const string TaskName = "test_task_a";
        using var task = new HandOff(tracker, TaskName);

        task.WaitForTask(); // The task allocated ALLOC_BYTES and handed back.
        Assert.Contains(tracker.GetThreadStatistics(), s => s.Name == TaskName && s.IsAlive);

        task.Resume(); // It frees its block ...
        task.WaitForTask();
        task.End(); // ... and is deleted.

        Assert.Contains(tracker.GetThreadStatistics(), s => s.Name == TaskName && !s.IsAlive);
    }

    // The older "heap task tracking reports created task" (heap_caps_get_per_task_info): the running task is listed
    // with the bytes it holds in 32-bit capable memory. ESP-IDF counts the block with its 4-byte owner word
    // (ALLOC_BYTES + 4); MemTrace counts requested sizes, as docs/leaks.md says.
    [Fact]
    public void Heap_task_tracking_reports_created_task()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        using var task = new HandOff(tracker, "test_task");
        task.WaitForTask();

        var row = Assert.Single(tracker.GetThreadStatistics(), s => s.ThreadId == task.ThreadId);
        Assert.Equal((long)AllocBytes, row.Regions.Where(r => r.Caps.HasFlag(MallocCaps.Bit32)).Sum(r => r.CurrentBytes));
        Assert.Equal((long)AllocBytes, row.CurrentBytes);

        task.Resume();
        task.WaitForTask();
        task.End();
    }

    // "heap task tracking check alloc array and get all tasks info": a new task that allocates adds a task, a heap
    // entry and an allocation to what heap_caps_get_all_task_stat reports.
    [Fact]
    public void Heap_task_tracking_check_alloc_array_and_get_all_tasks_info()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true });
        tracker.Malloc(out byte* mine, 64, MallocCaps.Default); // The test task's own statistics, as Unity's task has.
        var (tasks, heaps, allocs) = Counts(tracker.GetThreadStatistics());

        using var task = new HandOff(tracker, "test_task_b");
        task.WaitForTask();
        var (tasksAfter, heapsAfter, allocsAfter) = Counts(tracker.GetThreadStatistics());
        Assert.True(tasks < tasksAfter);
        Assert.True(heaps < heapsAfter);
        Assert.True(allocs < allocsAfter);

        task.Resume();
        task.WaitForTask();
        task.End();
        tracker.Free(ref mine);

        static (int Tasks, int Heaps, long Allocs) Counts(IReadOnlyList<ThreadMemoryStatistics> stats) =>
            (stats.Count, stats.Sum(s => s.Regions.Count), stats.Sum(s => s.Regions.Sum(r => r.Blocks.Count)));
    }

    // "heap task tracking check alloc arrays and get info on specific task" (task_self_check): a task that has not
    // allocated has no heap and no allocation; after one allocation it has one heap whose caps include the requested
    // ones and one allocation at the returned address; after the free it keeps the heap with no allocation.
    [Fact]
    public void Heap_task_tracking_check_alloc_arrays_and_get_info_on_specific_task()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true });
        const MallocCaps Caps = MallocCaps.Bit32 | MallocCaps.Dma;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                TaskSelfCheck(tracker, Caps);
            }
            catch (Exception e)
            {
                failure = e;
            }
        })
        { Name = "task_self_check" };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new Xunit.Sdk.XunitException($"task_self_check failed: {failure}");
        }
    }

    private static void TaskSelfCheck(MemoryTracker tracker, MallocCaps caps)
    {
        var self = Environment.CurrentManagedThreadId;
        ThreadMemoryStatistics? Single() => tracker.GetThreadStatistics().SingleOrDefault(s => s.ThreadId == self);

        // No allocation yet: heap_count and alloc_count 0.
        Assert.Null(Single());

        var ptr = tracker.Malloc(100, caps);
        Assert.True(ptr != null);
        var stat = Single();
        Assert.NotNull(stat);
        var heap = Assert.Single(stat.Regions);
        Assert.Equal(caps, heap.Caps & caps);
        var alloc = Assert.Single(heap.Blocks);
        Assert.True(alloc.Size > 0);
        Assert.Equal((nuint)ptr, alloc.Address);

        tracker.Free(ref ptr);
        stat = Single();
        Assert.NotNull(stat);
        heap = Assert.Single(stat.Regions); // heap_count stays 1 ...
        Assert.Equal(0, heap.CurrentBlocks); // ... with alloc_count 0,
        Assert.Empty(heap.Blocks); // and no allocation to list.
        Assert.Equal(caps, heap.Caps & caps);
    }

    /// <summary>
    /// test_task: a named thread that allocates ALLOC_BYTES with MALLOC_CAP_32BIT, hands back, frees its block when
    /// resumed, hands back again, and ends when told to (vTaskDelete).
    /// </summary>
    private sealed class HandOff : IDisposable
    {
        private readonly SemaphoreSlim _toMain = new(0);
        private readonly SemaphoreSlim _toTask = new(0);
        private readonly Thread _thread;
        private Exception? _failure;

        public HandOff(MemoryTracker tracker, string name)
        {
            _thread = new Thread(() =>
            {
                try
                {
                    var ptr = tracker.Malloc(AllocBytes, MallocCaps.Bit32);
                    Assert.True(ptr != null);
                    _toMain.Release();
                    _toTask.Wait();
                    tracker.Free(ref ptr);
                    _toMain.Release();
                    _toTask.Wait();
                }
                catch (Exception e)
                {
                    _failure = e;
                    _toMain.Release(2);
                }
            })
            { Name = name };
            _thread.Start();
            ThreadId = _thread.ManagedThreadId;
        }

        public int ThreadId { get; }

        public void WaitForTask()
        {
            Assert.True(_toMain.Wait(TimeSpan.FromSeconds(10)), "the task did not hand back");
            if (_failure is not null)
            {
                throw new Xunit.Sdk.XunitException($"the task failed: {_failure}");
            }
        }

        public void Resume() => _toTask.Release();

        public void End()
        {
            _toTask.Release();
            _thread.Join();
        }

        public void Dispose()
        {
            if (_thread.IsAlive)
            {
                _toTask.Release(2);
                _thread.Join();
            }

            _toMain.Dispose();
            _toTask.Dispose();
        }
    }
}

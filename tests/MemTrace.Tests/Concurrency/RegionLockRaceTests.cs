// AddRegionWithCaps and MonitorLocalMinimumFreeSizeStart allocate their descriptor and array with no lock of the region
// list held, then take the lock and look again: another thread may have added the same range or opened (or closed) the
// window meanwhile. These tests make those interleavings happen, holding the region-list lock while the threads get to
// it, and check that each call's memory is kept exactly once or given back: no leak, no double free.
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests.Concurrency;

public unsafe class RegionLockRaceTests
{
    private const int BufferSize = 4096;
    private static readonly TimeSpan s_patience = TimeSpan.FromSeconds(10);

    private static HeapLayout Layout() => HeapLayout.CreateBuilder("lock-race").WithAlignment(4)
        .AddRegion("DRAM", 8 * 1024, MallocCaps.Bit8 | MallocCaps.Default | MallocCaps.Internal, MallocCaps.Bit32)
        .Build();

    /// <summary>Waits until <paramref name="thread"/> blocks (on the region-list lock the test holds).</summary>
    private static void WaitUntilBlocked(Thread thread)
    {
        var deadline = DateTime.UtcNow + s_patience;
        while ((thread.ThreadState & ThreadState.WaitSleepJoin) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "The thread never reached the region-list lock.");
            Thread.Sleep(1);
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/> on two threads while this thread holds the heap's region-list lock, until both wait on
    /// it; then runs <paramref name="whileHeld"/>, releases the lock, and returns the two results once both have finished.
    /// </summary>
    private static HeapCapsResult[] RunTwoBlockedOnTheLock(HeapCaps heap, Func<HeapCapsResult> call, Action? whileHeld = null)
    {
        var results = new HeapCapsResult[2];
        var threads = new Thread[2];
        var regionLock = heap.RegionListLock;
        regionLock.Enter();
        try
        {
            for (var i = 0; i < threads.Length; i++)
            {
                var index = i;
                threads[i] = new Thread(() => results[index] = call());
                threads[i].Start();
                WaitUntilBlocked(threads[i]);
            }

            whileHeld?.Invoke();
        }
        finally
        {
            regionLock.Exit();
        }

        foreach (var thread in threads)
        {
            Assert.True(thread.Join(s_patience));
        }

        return results;
    }

    [Fact]
    public void Two_windows_opened_at_once_keep_one_array_and_free_the_other()
    {
        using var heap = new HeapCaps(Layout());
        var initial = heap.GetFreeSize(MallocCaps.Internal);
        var results = RunTwoBlockedOnTheLock(
            heap,
            heap.MonitorLocalMinimumFreeSizeStart,
            () => Assert.True(heap.GetFreeSize(MallocCaps.Internal) < initial)); // Both arrays are allocated, neither window opened yet.

        Assert.Equal([HeapCapsResult.Ok, HeapCapsResult.Ok], results);
        var open = heap.GetFreeSize(MallocCaps.Internal);
        Assert.True(open < initial, "The window's array was freed while the window is open.");
        Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStop());
        Assert.Equal(HeapCapsResult.Fail, heap.MonitorLocalMinimumFreeSizeStop());
        Assert.Equal(initial, heap.GetFreeSize(MallocCaps.Internal));
        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Fact]
    public void A_start_that_saw_the_window_open_opens_one_with_its_array_when_it_was_closed_meanwhile()
    {
        using var heap = new HeapCaps(Layout());
        var initial = heap.GetFreeSize(MallocCaps.Internal);
        Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStart());
        var open = heap.GetFreeSize(MallocCaps.Internal);
        Assert.True(open < initial);

        var result = (HeapCapsResult)(-1);
        var starter = new Thread(() => result = heap.MonitorLocalMinimumFreeSizeStart());
        var regionLock = heap.RegionListLock;
        regionLock.Enter();
        try
        {
            starter.Start();
            WaitUntilBlocked(starter); // It saw the window open: no array allocated.
            Assert.Equal(open, heap.GetFreeSize(MallocCaps.Internal));
            Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStop()); // The lock is re-entrant.
            Assert.Equal(initial, heap.GetFreeSize(MallocCaps.Internal));
        }
        finally
        {
            regionLock.Exit();
        }

        Assert.True(starter.Join(s_patience));
        Assert.Equal(HeapCapsResult.Ok, result);
        Assert.Equal(open, heap.GetFreeSize(MallocCaps.Internal)); // A window again, with an array of its own.
        Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStop());
        Assert.Equal(initial, heap.GetFreeSize(MallocCaps.Internal));
        Assert.Equal(0, heap.ErrorCount);
    }

    [Fact]
    public void Two_threads_adding_the_same_range_at_once_add_it_once_and_free_the_losers_descriptor()
    {
        var memory = (byte*)NativeMemory.AlignedAlloc(BufferSize, 64);
        try
        {
            using var heap = new HeapCaps(Layout());
            var initial = heap.GetFreeSize(MallocCaps.Internal);
            var results = RunTwoBlockedOnTheLock(heap, () => heap.AddRegionWithCaps([MallocCaps.Spiram, 0, 0], memory, memory + BufferSize));

            Assert.Single(results, HeapCapsResult.Ok);
            Assert.Single(results, HeapCapsResult.Fail);
            Assert.Equal(2, heap.DescribeNumberedRegions().Length); // The layout's DRAM and the one region added.

            // One descriptor stays, as after a single add.
            using var reference = new HeapCaps(Layout());
            var other = (byte*)NativeMemory.AlignedAlloc(BufferSize, 64);
            try
            {
                Assert.Equal(HeapCapsResult.Ok, reference.AddRegionWithCaps([MallocCaps.Spiram, 0, 0], other, other + BufferSize));
                Assert.Equal(reference.GetFreeSize(MallocCaps.Internal), heap.GetFreeSize(MallocCaps.Internal));
                Assert.True(heap.GetFreeSize(MallocCaps.Internal) < initial);
                reference.Dispose();
            }
            finally
            {
                NativeMemory.AlignedFree(other);
            }

            Assert.True(heap.CheckIntegrityAll(print: false));
            Assert.Equal(0, heap.ErrorCount);
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }
}

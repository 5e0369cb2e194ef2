// The Throw policy when the corruption is found by an operation that succeeds (a malloc handed memory
// after setting damaged free memory aside, a realloc, an operation followed by the periodic check):
// the block the caller never receives is given back before the exception, so nothing leaks.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningThrowPolicyTests
{
    [Fact]
    public void A_tracked_malloc_that_finds_a_write_after_free_throws_and_keeps_nothing()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorPolicy = MemoryErrorPolicy.Throw, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var checkpoint = tracker.Checkpoint();
        tracker.Malloc(out byte* victim, 40, MallocCaps.Default);
        tracker.Malloc(out byte* bystander, 40, MallocCaps.Default);
        var stale = victim;
        tracker.Free(ref victim);
        stale[3] = 0x42;
        var before = heap.GetInfo(MallocCaps.Default).AllocatedBlocks;

        var thrown = Assert.Throws<MemoryErrorException>(() => tracker.Malloc(40, MallocCaps.Default));

        Assert.Equal(MemoryErrorKind.WriteAfterFree, thrown.Error!.Kind);
        Assert.Equal([(nuint)bystander], tracker.GetAllocations().Select(r => r.Address));
        Assert.Single(tracker.GetLeakReport(checkpoint).Allocations);
        Assert.Equal(before, heap.GetInfo(MallocCaps.Default).AllocatedBlocks); // The new block went back; the damaged memory is held.
        Assert.Equal(1, tracker.TotalAllocations - tracker.TotalFrees);
        tracker.Free(ref bystander);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void A_direct_malloc_that_finds_a_write_after_free_throws_and_keeps_nothing()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorPolicy = MemoryErrorPolicy.Throw, ErrorOutput = null });
        var p = (byte*)heap.Malloc(64, MallocCaps.Default);
        heap.Free(p);
        p[10] = 0;
        var before = heap.GetInfo(MallocCaps.Default);

        Assert.Throws<MemoryErrorException>(() => heap.Malloc(64, MallocCaps.Default));
        Assert.True(heap.CheckIntegrityAll(print: false)); // The damaged memory is set aside: nothing free is damaged.

        var after = heap.GetInfo(MallocCaps.Default);
        Assert.Equal(before.AllocatedBlocks, after.AllocatedBlocks);
        Assert.Single(heap.RecentErrors); // The check finds nothing new: the damaged memory is set aside.
    }

    [Fact]
    public void A_realloc_whose_report_throws_gives_back_the_new_block()
    {
        // The realloc of a sound block moves it onto memory where a write after free is found: the new block is
        // given back (a realloc that throws has freed its block) and nothing stays recorded.
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Comprehensive, ErrorPolicy = MemoryErrorPolicy.Throw, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* victim, 40, MallocCaps.Default);
        tracker.Malloc(out byte* mover, 16, MallocCaps.Default);
        var stale = victim;
        tracker.Free(ref victim);
        stale[3] = 0x42;
        var before = heap.GetInfo(MallocCaps.Default).AllocatedBlocks;

        Assert.Throws<MemoryErrorException>(() => tracker.Realloc(ref mover, 40, MallocCaps.Default));

        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(before - 1, heap.GetInfo(MallocCaps.Default).AllocatedBlocks);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void A_realloc_moving_a_damaged_block_across_regions_throws_before_allocating()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorPolicy = MemoryErrorPolicy.Throw, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* data, 40, MallocCaps.Bit8);
        data[40] = 0;
        var iram = heap.GetInfo(MallocCaps.Exec).AllocatedBlocks;

        var thrown = Assert.Throws<MemoryErrorException>(() => tracker.Realloc(ref data, 40, MallocCaps.Exec));

        Assert.Equal(MemoryErrorKind.BufferOverflow, thrown.Error!.Kind);
        Assert.Equal(iram, heap.GetInfo(MallocCaps.Exec).AllocatedBlocks);
        Assert.Empty(tracker.GetAllocations());
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void A_malloc_followed_by_a_periodic_check_that_throws_keeps_nothing(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, IntegrityCheckInterval = 2, ErrorPolicy = MemoryErrorPolicy.Throw, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, CheckIntegrityOnDispose = false });
        tracker.Malloc(out byte* damaged, 40, MallocCaps.Default); // Operation 1.
        damaged[40] = 0;

        var thrown = Assert.Throws<MemoryErrorException>(() => tracker.Malloc(24, MallocCaps.Default)); // Operation 2: the check.

        Assert.Equal(AllocationMethod.CheckIntegrity, thrown.Error!.Operation);
        Assert.Equal("at the periodic check (IntegrityCheckInterval)", thrown.Error!.DetectedWhen);
        Assert.Equal([(nuint)damaged], tracker.GetAllocations().Select(r => r.Address));
        Assert.Equal(1u, heap.GetInfo(MallocCaps.Default).AllocatedBlocks);
    }
}

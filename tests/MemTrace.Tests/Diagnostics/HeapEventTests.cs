// HeapEvent's compact shape: its size, ids resolved to values for a tracker's events, values kept
// as given for events built by hand (without touching the process-wide registries), and `with`
// leaving the event it copies unchanged.
using System.Runtime.CompilerServices;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public unsafe class HeapEventTests
{
    [Fact]
    public void The_event_is_88_bytes_and_its_ring_part_holds_no_reference()
    {
        // 80 bytes of ids and numbers, plus one reference for rare payloads: the ring copies the 80 with no write barrier.
        Assert.Equal(88, Unsafe.SizeOf<HeapEvent>());
        Assert.Equal(80, Unsafe.SizeOf<HeapEventData>());
        Assert.False(RuntimeHelpers.IsReferenceOrContainsReferences<HeapEventData>());
    }

    [Fact]
    public void A_trackers_allocation_and_free_carry_ids_that_read_back_as_sites_region_and_time()
    {
        var sink = new ListSink();
        using var heap = new HeapCaps(HeapLayout.Esp32(4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.Zero });
        var before = DateTimeOffset.UtcNow;

        tracker.Malloc(out byte* frame, 300, MallocCaps.Spiram);
        tracker.Free(ref frame);

        var after = DateTimeOffset.UtcNow;
        var alloc = sink.Events.Single(e => e.Kind == HeapEventKind.Allocation);
        var free = sink.Events.Single(e => e.Kind == HeapEventKind.Free);
        Assert.Null(alloc.Details);
        Assert.Null(free.Details);
        Assert.NotEqual(0u, alloc.SiteId);
        Assert.Equal(alloc.SiteId, free.AllocSiteId);
        Assert.Equal("frame", alloc.Site.VariableName);
        Assert.Equal(nameof(A_trackers_allocation_and_free_carry_ids_that_read_back_as_sites_region_and_time), alloc.Site.Function);
        Assert.Null(alloc.AllocatedAt);
        Assert.Equal(alloc.Site, free.AllocatedAt);
        Assert.Equal(AllocationMethod.Free, free.Site.Method);
        Assert.Equal("SPIRAM", alloc.RegionName);
        Assert.Equal("SPIRAM", free.RegionName);
        Assert.Equal(Environment.CurrentManagedThreadId, alloc.ThreadId);
        Assert.Equal(Environment.CurrentManagedThreadId, free.ThreadId);
        Assert.Equal(TimeSpan.Zero, alloc.Time.Offset);

        // The coarse clock: a few milliseconds behind the wall clock, more when its timer thread waits for a
        // core on a loaded machine; the bound only catches a wrong epoch or unit.
        Assert.InRange(alloc.Time, before.AddSeconds(-2), after.AddSeconds(2));
        Assert.True(free.Time >= alloc.Time);
    }

    [Fact]
    public void An_event_built_by_hand_keeps_its_values_and_adds_nothing_to_the_registries()
    {
        var file = "/src/" + Guid.NewGuid().ToString("N") + ".cs";
        var region = "REGION-" + Guid.NewGuid().ToString("N");
        var site = new CallSite(AllocationMethod.Malloc, file, 7, "Main", "p");
        var time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, 678, TimeSpan.FromHours(2)).AddTicks(9);

        var e = new HeapEvent { Kind = HeapEventKind.Allocation, Site = site, AllocatedAt = site with { Line = 3 }, RegionName = region, Time = time, LiveBlocks = 4 };

        Assert.Equal(site, e.Site);
        Assert.Equal(site with { Line = 3 }, e.AllocatedAt);
        Assert.Equal(region, e.RegionName);
        Assert.Equal(time, e.Time);
        Assert.Equal(time.UtcTicks, e.Time.UtcTicks);
        Assert.Equal(TimeSpan.Zero, e.Time.Offset);
        Assert.Equal(4, e.LiveBlocks);
        Assert.Equal(0u, e.SiteId);
        Assert.Equal(0u, e.AllocSiteId);
        Assert.Equal(0, e.RegionId);
        Assert.False(RegionNameRegistry.IsKnown(region));
        Assert.Equal((HeapEventKind)1000, new HeapEvent { Kind = (HeapEventKind)1000 }.Kind);
    }

    [Fact]
    public void With_changes_the_copy_only()
    {
        var original = TestEvents.Checkpoint();

        var relabelled = original with { Label = "later", LiveBytes = 1 };
        var moved = relabelled with { Site = TestEvents.FreeSite, RegionName = "IRAM" };

        Assert.Equal("after init ✓", original.Label);
        Assert.Equal(768, original.LiveBytes);
        Assert.Equal(default, original.Site);
        Assert.Null(original.RegionName);
        Assert.Equal("later", relabelled.Label);
        Assert.Equal(1, relabelled.LiveBytes);
        Assert.Null(relabelled.RegionName);
        Assert.Equal("later", moved.Label);
        Assert.Equal(TestEvents.FreeSite, moved.Site);
        Assert.Equal("IRAM", moved.RegionName);
        Assert.Same(original.Regions, moved.Regions);
    }

    [Fact]
    public void Setting_a_value_on_a_trackers_event_keeps_the_values_its_ids_gave()
    {
        var sink = new ListSink();
        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = sink, SnapshotInterval = TimeSpan.Zero });
        tracker.Malloc(out byte* block, 10, MallocCaps.Default);
        tracker.Free(ref block);
        var free = sink.Events.Single(e => e.Kind == HeapEventKind.Free);

        var labelled = free with { Label = "x" };

        Assert.NotNull(labelled.Details);
        Assert.Equal(free.Site, labelled.Site);
        Assert.Equal(free.AllocatedAt, labelled.AllocatedAt);
        Assert.Equal(free.RegionName, labelled.RegionName);
        Assert.Equal("block", labelled.AllocatedAt!.Value.VariableName);
        Assert.Equal("x", labelled.Label);
        Assert.Null(free.Label);
    }

    [Fact]
    public void Region_names_get_one_id_each_and_ids_name_them_back()
    {
        var name = "R-" + Guid.NewGuid().ToString("N");

        var id = RegionNameRegistry.IdOf(name);

        Assert.True(id > 0);
        Assert.Equal(id, RegionNameRegistry.IdOf(new string(name.AsSpan())));
        Assert.Equal(name, RegionNameRegistry.Get(id));
        Assert.Equal(0, RegionNameRegistry.IdOf(null));
        Assert.Null(RegionNameRegistry.Get(0));
        Assert.Null(RegionNameRegistry.Get(-1));
    }
}

// TraceAnalyzer: the figures of the report on a trace small enough to check by hand, and a
// trace far larger than the memory the analysis may use, read as a stream.
using System.Text;
using MemTrace.Cli.Report;
using MemTrace.Diagnostics;
using MemTrace.Tests.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

public class TraceAnalyzerTests
{
    private static readonly CallSite s_siteA = new(AllocationMethod.Malloc, "/src/a.cs", 10, "Load", "table");
    private static readonly CallSite s_siteB = new(AllocationMethod.Calloc, "/src/b.cs", 20, "Send", "packet");

    [Fact]
    public void A_time_before_the_first_event_never_gives_a_negative_peak_time()
    {
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xB0, 200, s_siteB, t0.AddSeconds(-5)), // The peak, written with an earlier time.
        ];

        var a = Analyze(events);

        Assert.Equal(300, a.PeakBytes);
        Assert.True(a.PeakSeconds >= 0, $"peak at {a.PeakSeconds} s");
    }

    [Fact]
    public void Peak_leaks_and_call_sites_are_computed_from_the_events()
    {
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xB0, 200, s_siteB, t0.AddMilliseconds(100)),   // live 300
            Event(HeapEventKind.Free, 3, 0xA0, 100, s_siteA, t0.AddMilliseconds(200)),         // live 200
            Event(HeapEventKind.Reallocation, 4, 0xC0, 300, s_siteB, t0.AddMilliseconds(300)) with { PreviousAddress = 0xB0, PreviousSize = 200 }, // live 300
            Event(HeapEventKind.Allocation, 5, 0xD0, 50, s_siteA, t0.AddMilliseconds(400)),    // live 350: the peak
            Event(HeapEventKind.Free, 6, 0xEE, 8, s_siteA, t0.AddMilliseconds(500)),           // never allocated in the trace
            TestEvents.Failure() with { Time = t0.AddMilliseconds(600) },
            TestEvents.Error() with { Time = t0.AddMilliseconds(700) },
        ];

        var a = Analyze(events);

        Assert.Equal(350, a.PeakBytes);
        Assert.Equal(2, a.PeakBlocks);
        Assert.Equal(0.4, a.PeakSeconds, 3);
        Assert.Equal(0.7, a.DurationSeconds, 3);
        Assert.Equal((3L, 2L, 1L, 1L, 1L, 1L), (a.Allocations, a.Frees, a.Reallocations, a.Failures, a.Errors, a.UnknownFrees));
        Assert.Equal((2L, 350L), (a.LiveBlocksAtEnd, a.LiveBytesAtEnd));
        Assert.Equal([(s_siteB, 1L, 300L), (s_siteA, 1L, 50L)], a.LeaksBySite.Select(r => (r.Site, r.Blocks, r.Bytes)));
        Assert.Equal("#5", "#" + a.LeaksBySite[1].FirstRequest);
        Assert.Equal([(s_siteB, 200L), (s_siteA, 150L)], a.TopSitesByBytes.Select(r => (r.Site, r.Bytes)));
        Assert.Equal([(s_siteA, 2L), (s_siteB, 1L)], a.TopSitesByCount.Select(r => (r.Site, r.Blocks)));
        Assert.Equal(350, a.PeakByRegion["DRAM"]);
        Assert.Equal(1, a.SizeHistogram[5]);  // 50 in [32, 64)
        Assert.Equal(1, a.SizeHistogram[6]);  // 100 in [64, 128)
        Assert.Equal(1, a.SizeHistogram[7]);  // 200 in [128, 256)
        Assert.Equal("video_buffer", a.FailureList.Single().Site.VariableName);
        Assert.Equal("DoubleFree", a.ErrorList.Single().Kind);
        Assert.Equal(350, a.InUseTotal.Max(p => p.Value));
    }

    [Fact]
    public void Snapshots_give_the_free_and_largest_free_block_series_of_each_region_name()
    {
        RegionSnapshot Region(string name, nuint free, nuint largest) => new(name, MallocCaps.Internal, 1000, free, largest, free, false);
        HeapEvent Snapshot(int ms, params RegionSnapshot[] regions) => TestEvents.Snapshot() with { Time = TestEvents.Time.AddMilliseconds(ms), Regions = regions };

        var a = Analyze(
        [
            Snapshot(0, Region("DRAM", 900, 800), Region("DRAM", 500, 400), Region("IRAM", 100, 100)),
            Snapshot(500, Region("DRAM", 600, 100), Region("DRAM", 500, 300), Region("IRAM", 100, 100)),
        ]);

        Assert.Equal([800.0, 300.0], a.LargestFreeByRegion["DRAM"].Select(p => p.Value));
        Assert.Equal([1400.0, 1100.0], a.FreeByRegion["DRAM"].Select(p => p.Value));
        var dram = a.Regions.Single(r => r.Name == "DRAM");
        Assert.Equal((2000L, 1100L, 300L, 300L), (dram.Total, dram.Free, dram.Largest, dram.LowestLargest));
    }

    [Fact]
    public void A_regions_lowest_free_is_the_lowest_any_snapshot_gave_not_the_last_ones()
    {
        // A monitor window (heap_caps_monitor_local_minimum_free_size_start) resets a region's minimum free to its free
        // bytes of the moment: the last snapshot's minimum (4000) is not the lowest of the trace (1000, two snapshots back).
        RegionSnapshot Region(nuint free, nuint minimum) => new("SPIRAM", MallocCaps.Spiram, 5000, free, free, minimum, false);
        HeapEvent Snapshot(int ms, RegionSnapshot region) => TestEvents.Snapshot() with { Time = TestEvents.Time.AddMilliseconds(ms), Regions = [region] };

        var a = Analyze(
        [
            Snapshot(0, Region(1000, 1000)),
            Snapshot(100, Region(4000, 1000)),
            Snapshot(200, Region(4000, 4000)), // After the window opened.
        ]);

        var spiram = a.Regions.Single(r => r.Name == "SPIRAM");
        Assert.Equal((4000L, 1000L), (spiram.Free, spiram.MinimumFree));
    }

    [Fact]
    public void A_region_emptied_early_in_the_trace_shows_no_bytes_in_use_after_it_not_its_peak()
    {
        // DRAM holds 1000 bytes for an instant at the start; SPIRAM 500 bytes for 10 s. A bucket keeps its peak, and the
        // chart holds a point's value until the next one: without the bucket's last value, DRAM showed 1000 bytes for 10 s.
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 1000, s_siteA, t0),
            Event(HeapEventKind.Free, 2, 0xA0, 1000, s_siteA, t0) with { RequestNumber = 1 },
            Event(HeapEventKind.Allocation, 3, 0xB0, 500, s_siteB, t0) with { RegionName = "SPIRAM", Caps = MallocCaps.Spiram },
            Event(HeapEventKind.Free, 4, 0xB0, 500, s_siteB, t0.AddSeconds(10)) with { RegionName = "SPIRAM", Caps = MallocCaps.Spiram, RequestNumber = 3 },
        ];

        var a = Analyze(events);

        // A step chart holds each point's value until the next point: read the series so, in the middle of the trace.
        static double At(IReadOnlyList<(double Seconds, double Value)> points, double seconds) => points.Last(p => p.Seconds <= seconds).Value;
        Assert.Equal((1000L, 500L), (a.PeakByRegion["DRAM"], a.PeakByRegion["SPIRAM"]));
        Assert.Equal(1000, a.InUseByRegion["DRAM"].Max(p => p.Value)); // The peak stays.
        Assert.Equal((0.0, 500.0), (At(a.InUseByRegion["DRAM"], 5), At(a.InUseByRegion["SPIRAM"], 5)));
        Assert.Equal((0.0, 500.0), (At(a.InUseByCaps[MallocCaps.Bit8.ToCapsString()], 5), At(a.InUseByCaps[MallocCaps.Spiram.ToCapsString()], 5)));
        Assert.Equal(500, At(a.InUseTotal, 5));
    }

    [Fact]
    public void A_trace_with_more_region_names_and_caps_than_any_map_shows_the_rest_together()
    {
        // A damaged or hostile trace with 10 000 region names made 10 000 series and charts (22 MB of HTML); past 64, the
        // rest are one "(other regions)" / "(other caps)" entry, and their bytes still count.
        const int names = 200;
        var events = new List<HeapEvent>();
        for (var i = 0; i < names; i++)
        {
            events.Add(Event(HeapEventKind.Allocation, i + 1, (nuint)(0x1000 + (i * 16)), 10, s_siteA, TestEvents.Time) with { RegionName = "R" + i, Caps = (MallocCaps)(1u << (i % 31)) | (MallocCaps)((uint)i << 8) });
        }

        events.Add(TestEvents.Snapshot() with { Regions = [.. Enumerable.Range(0, names).Select(i => new RegionSnapshot("S" + i, MallocCaps.Internal, 1000, 500, 400, 300, false))] });

        var a = Analyze([.. events]);

        Assert.Equal(TraceAnalyzer.MaxTracks + 1, a.PeakByRegion.Count);
        Assert.Equal(10L * (names - TraceAnalyzer.MaxTracks), a.PeakByRegion[TraceAnalyzer.OtherRegions]);
        Assert.Equal(10L * names, a.PeakByRegion.Values.Sum());
        Assert.True(a.PeakByCaps.Count <= TraceAnalyzer.MaxTracks + 1);
        Assert.Equal(10L * names, a.PeakByCaps.Values.Sum());
        Assert.Equal(TraceAnalyzer.MaxTracks + 1, a.Regions.Count); // 64 named and the rest together.
        var other = a.Regions.Single(r => r.Name == TraceAnalyzer.OtherRegions);
        Assert.Equal(1000L * (names - TraceAnalyzer.MaxTracks), other.Total);
        Assert.Equal(TraceAnalyzer.MaxTracks + 1, a.FreeByRegion.Count);
    }

    [Fact]
    public void A_bounded_series_keeps_its_capacity_and_the_peak_of_each_interval()
    {
        var series = new BoundedSeries(capacity: 16, keepMinimum: false);
        for (var i = 0; i < 10_000; i++)
        {
            series.Add(i * 0.001, i == 5_000 ? 1_000_000 : i);
        }

        var points = series.Points();
        Assert.True(points.Count <= 16);
        Assert.Equal(1_000_000, points.Max(p => p.Value));
        Assert.True(points.Zip(points.Skip(1)).All(p => p.First.Seconds < p.Second.Seconds));
        Assert.Equal(9_999, points[^1].Value);
    }

    [Fact]
    public void A_bounded_series_of_points_far_apart_stays_within_its_capacity()
    {
        // Snapshots ten seconds apart: halving the buckets once merges none of them. (32 points: 16 buckets, each one or two.)
        var series = new BoundedSeries(capacity: 32, keepMinimum: true);
        for (var i = 0; i < 1000; i++)
        {
            series.Add(i * 10.0, 1000 - i);
        }

        var points = series.Points();
        Assert.True(points.Count <= 32);
        Assert.Equal(1, points.Min(p => p.Value));
        Assert.True(points[0].Value > 800 && points[0].Seconds == 0);
    }

    [Fact]
    public void A_free_or_realloc_written_after_another_threads_allocation_at_the_same_address_applies_to_its_own_block()
    {
        // Thread 2 frees 0xA0 (request 1); thread 3 gets 0xA0 again (request 2) and its event is written first.
        // The same for a realloc that moves request 3 away from 0xB0 while request 4 takes 0xB0.
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xA0, 200, s_siteB, t0) with { ThreadId = 3 },
            Event(HeapEventKind.Free, 3, 0xA0, 100, s_siteA, t0) with { ThreadId = 2, RequestNumber = 1 },
            Event(HeapEventKind.Allocation, 4, 0xB0, 10, s_siteA, t0) with { RequestNumber = 3 },
            Event(HeapEventKind.Allocation, 5, 0xB0, 20, s_siteB, t0) with { RequestNumber = 4, ThreadId = 3 },
            Event(HeapEventKind.Reallocation, 6, 0xC0, 30, s_siteA, t0) with { RequestNumber = 3, PreviousAddress = 0xB0, PreviousSize = 10, ThreadId = 2 },
        ];

        var a = Analyze(events);

        Assert.Equal(0, a.UnknownFrees);
        Assert.Equal((3L, 250L), (a.LiveBlocksAtEnd, a.LiveBytesAtEnd)); // 0xA0 of request 2, 0xB0 of request 4, 0xC0 of request 3.
        Assert.Equal([(s_siteB, 2L, 220L), (s_siteA, 1L, 30L)], a.LeaksBySite.Select(r => (r.Site, r.Blocks, r.Bytes)));
    }

    [Fact]
    public void A_free_or_realloc_written_before_its_allocation_on_another_thread_is_matched_when_the_allocation_comes()
    {
        // Thread 2 frees request 1 at 0xA0, and its free is written before thread 1's allocation; the same for a realloc
        // that moves request 2 from 0xB0 to 0xC0, and for the free of 0xD0 (request 3) written before the realloc that
        // put it there. A free at 0xE0 whose allocation never comes stays unknown.
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Free, 2, 0xA0, 100, s_siteA, t0) with { ThreadId = 2, RequestNumber = 1 },
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0) with { RequestNumber = 1 },
            Event(HeapEventKind.Reallocation, 4, 0xC0, 30, s_siteB, t0) with { RequestNumber = 2, PreviousAddress = 0xB0, PreviousSize = 10, ThreadId = 2 },
            Event(HeapEventKind.Allocation, 3, 0xB0, 10, s_siteB, t0) with { RequestNumber = 2 },
            Event(HeapEventKind.Allocation, 5, 0xF0, 40, s_siteA, t0) with { RequestNumber = 3 },
            Event(HeapEventKind.Free, 7, 0xD0, 50, s_siteA, t0) with { RequestNumber = 3, ThreadId = 2 },
            Event(HeapEventKind.Reallocation, 6, 0xD0, 50, s_siteA, t0) with { RequestNumber = 3, PreviousAddress = 0xF0, PreviousSize = 40 },
            Event(HeapEventKind.Free, 8, 0xE0, 8, s_siteA, t0) with { RequestNumber = 9 },
        ];

        var a = Analyze(events);

        Assert.Equal(1, a.UnknownFrees); // 0xE0's.
        Assert.Equal((3L, 3L, 2L), (a.Allocations, a.Frees, a.Reallocations));
        Assert.Equal((1L, 30L), (a.LiveBlocksAtEnd, a.LiveBytesAtEnd)); // 0xC0 of request 2.
        Assert.Equal([(s_siteB, 1L, 30L)], a.LeaksBySite.Select(r => (r.Site, r.Blocks, r.Bytes)));
    }

    [Fact]
    public void A_late_in_place_realloc_of_a_block_set_aside_leaves_the_block_now_at_its_address_counted()
    {
        // Request 2 takes 0xA0 while request 1's in-place realloc there is still to be written: the realloc applies to
        // request 1 (set aside), and request 2 (live at 0xA0) must be set aside in turn, not overwritten uncounted.
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xA0, 50, s_siteB, t0) with { ThreadId = 2 },
            Event(HeapEventKind.Reallocation, 3, 0xA0, 120, s_siteA, t0) with { RequestNumber = 1, PreviousAddress = 0xA0, PreviousSize = 100 },
            Event(HeapEventKind.Free, 4, 0xA0, 120, s_siteA, t0) with { RequestNumber = 1 },
        ];

        var a = Analyze(events);

        // What is live must agree with itself: the totals and the rows by site.
        Assert.Equal(a.LiveBytesAtEnd, a.LeaksBySite.Sum(r => r.Bytes));
        Assert.Equal(a.LiveBlocksAtEnd, a.LeaksBySite.Sum(r => r.Blocks));
        Assert.True(a.LiveBytesAtEnd >= 0);
    }

    [Fact]
    public void A_realloc_of_a_block_from_before_the_trace_is_counted_as_unknown_and_makes_no_empty_top_site_row()
    {
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Reallocation, 2, 0xC0, 64, s_siteB, t0) with { PreviousAddress = 0xB0, PreviousSize = 32 }, // 0xB0 never allocated here.
        ];

        var a = Analyze(events);

        Assert.Equal(1, a.UnknownFrees);
        Assert.Equal([s_siteA], a.TopSitesByBytes.Select(r => r.Site));
        Assert.Equal([s_siteA], a.TopSitesByCount.Select(r => r.Site));
        Assert.Equal(2, a.LiveBlocksAtEnd); // The realloc's block is live all the same, and shown among the leaks.
        Assert.Contains(a.LeaksBySite, r => r.Site == s_siteB);
    }

    [Fact]
    public void A_region_never_in_a_snapshot_has_an_unknown_size_and_an_unbounded_one_says_so()
    {
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xB0, 100, s_siteA, t0) with { RegionName = "host" },
            TestEvents.Snapshot() with { Regions = [new("host", MallocCaps.Default, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, nuint.MaxValue, true)] },
        ];

        var a = Analyze(events);
        var console = new StringWriter();
        ConsoleReport.Render(Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(console), Ansi = Spectre.Console.AnsiSupport.No, ColorSystem = Spectre.Console.ColorSystemSupport.NoColors }), a);

        Assert.Equal(["host"], a.UnboundedRegions);
        Assert.Matches(@"│ DRAM +│ +100 B +│ +unknown +│", console.ToString());
        Assert.Matches(@"│ host +│ +100 B +│ +unbounded +│", console.ToString());
    }

    [Fact]
    public void An_allocation_at_a_live_address_whose_free_never_comes_counts_one_unknown_free()
    {
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xA0, 200, s_siteB, t0),
            Event(HeapEventKind.Free, 3, 0xA0, 200, s_siteB, t0) with { RequestNumber = 2 },
        ];

        var a = Analyze(events);

        Assert.Equal(1, a.UnknownFrees);
        Assert.Equal((0L, 0L), (a.LiveBlocksAtEnd, a.LiveBytesAtEnd));
    }

    [Fact]
    public void Sizes_that_add_up_past_8_EiB_are_reported_and_skipped_instead_of_wrapping_the_totals()
    {
        // Each block is below 2^63 (the reader's limit for one block); together they pass it: damaged sizes, no heap holds that.
        var huge = unchecked((nuint)0x6000_0000_0000_0000); // 6 EiB
        var t0 = TestEvents.Time;
        var a = Analyze(
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, huge, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xB0, huge, s_siteA, t0),
            Event(HeapEventKind.Reallocation, 3, 0xC0, 16, s_siteB, t0) with { PreviousAddress = 0xA0, PreviousSize = huge },
            Event(HeapEventKind.Allocation, 4, 0xD0, 100, s_siteB, t0),
            TestEvents.Snapshot() with { Regions = [new("DRAM", MallocCaps.Internal, nuint.MaxValue, huge, huge, huge, false), new("DRAM", MallocCaps.Internal, huge, huge, huge, huge, false)] },
        ]);

        var problem = Assert.Single(a.Problems, p => p.Kind == TraceProblemKind.InvalidValue);
        Assert.Equal(3, problem.Line); // The header is line 1.
        Assert.Contains("past 8 EiB", problem.Message, StringComparison.Ordinal);
        Assert.Equal(1, a.BadLines);
        Assert.True(a.IsPartial);
        Assert.Equal(2, a.Allocations);
        Assert.Equal(0x6000_0000_0000_0000 + 100, a.BytesAllocated); // The second allocation was skipped.
        Assert.Equal((2L, 116L), (a.LiveBlocksAtEnd, a.LiveBytesAtEnd));
        Assert.All(a.TopSitesByBytes, r => Assert.True(r.Bytes >= 0));
        Assert.All(a.Regions, r => Assert.True(r.Total >= 0 && r.Free >= 0, $"{r.Name}: {r.Total}, {r.Free}"));
    }

    [Fact]
    public void Blocks_freed_long_ago_may_add_up_past_8_EiB_without_any_later_line_being_refused()
    {
        // Only what is live at once is bounded by a heap. A block of 2^63 - 1 bytes (the reader's limit) allocated and freed,
        // then ordinary blocks: the total allocated stops at long.MaxValue and every line counts (each later allocation was
        // refused before, and its free counted as unknown).
        var t0 = TestEvents.Time;
        var a = Analyze(
        [
            Event(HeapEventKind.Allocation, 1, 0x1000, unchecked((nuint)long.MaxValue), s_siteA, t0),
            Event(HeapEventKind.Free, 2, 0x1000, unchecked((nuint)long.MaxValue), s_siteA, t0),
            Event(HeapEventKind.Allocation, 3, 0x2000, 16, s_siteA, t0),
            Event(HeapEventKind.Free, 4, 0x2000, 16, s_siteA, t0),
            Event(HeapEventKind.Allocation, 5, 0x3000, 32, s_siteB, t0),
        ]);

        Assert.Empty(a.Problems);
        Assert.Equal(0, a.BadLines);
        Assert.False(a.IsPartial);
        Assert.Equal(3, a.Allocations);
        Assert.Equal(0, a.UnknownFrees);
        Assert.Equal(long.MaxValue, a.BytesAllocated);
        Assert.Equal((1L, 32L), (a.LiveBlocksAtEnd, a.LiveBytesAtEnd));
        Assert.All(a.TopSitesByBytes, r => Assert.True(r.Bytes >= 0));
    }

    private static TraceAnalysis Analyze(HeapEvent[] events)
    {
        var stream = new MemoryStream();
        using (var writer = new TraceFileWriter(stream, ownsStream: false))
        {
            foreach (var e in events)
            {
                writer.Emit(e);
            }
        }

        stream.Position = 0;
        using var reader = new TraceReader(stream);
        return TraceAnalyzer.Analyze(reader, "test");
    }

    private static HeapEvent Event(HeapEventKind kind, long sequence, nuint address, nuint size, CallSite site, DateTimeOffset time) => new()
    {
        Kind = kind,
        Sequence = sequence,
        Time = time,
        ThreadId = 1,
        Address = address,
        Size = size,
        Caps = MallocCaps.Bit8,
        RequestNumber = sequence,
        Site = site,
        RegionName = "DRAM",
    };
}

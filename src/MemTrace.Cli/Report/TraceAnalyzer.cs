// TraceAnalyzer: one streaming pass over a trace that folds every event into a TraceAnalysis.
//
// Memory stays bounded by what the traced program had, not by the trace's length: the blocks
// live at a given moment (to know what a free releases and what leaks at the end), one row per
// call site, per region and per caps, capped lists of failures and errors, and downsampled time
// series. A 1 GB trace of a program with a thousand live blocks is analysed in a few megabytes.
//
// Threads race into a trace: a free is written after the heap has freed the block, so another
// thread may allocate the same address and have its allocation written first. An allocation at a
// live address therefore sets the older block aside (by address and request number) instead of
// forgetting it; the late free or realloc of that request then finds it there and leaves the new
// block alone. The other way round, the trace writer merges its threads' events by sequence
// number and may, in a rare race at a batch boundary, write an event after one with a larger
// number from another thread (and traces from elsewhere may have any order): a free or realloc
// of a block not live is remembered (by address and request number), and when its allocation
// comes afterwards the block is counted as allocated and already gone. Both sets are bounded.
// Only a free whose block never comes counts as unknown.
using System.Runtime.InteropServices;
using MemTrace.Diagnostics;

namespace MemTrace.Cli.Report;

internal sealed class TraceAnalyzer
{
    private const int SeriesPoints = 400;

    /// <summary>
    /// Region names and caps values kept apart, each with its series (a few kilobytes) and its chart. Chip maps have a
    /// few dozen at most; in a damaged or hostile trace with more, the rest are shown together as <see cref="OtherRegions"/>
    /// and <see cref="OtherCaps"/>, so that neither memory nor the report grows with them.
    /// </summary>
    internal const int MaxTracks = 64;

    internal const string OtherRegions = "(other regions)";

    internal const string OtherCaps = "(other caps)";
    private const int TopRows = 15;

    /// <summary>Blocks set aside by an allocation at their address, kept this many at most.</summary>
    private const int MaxDisplaced = 1 << 16;

    /// <summary>Frees and reallocs of blocks not (yet) allocated in the trace, remembered this many at most.</summary>
    private const int MaxEarly = 1 << 16;

    private readonly Dictionary<nuint, LiveBlock> _live = [];
    private readonly Dictionary<(nuint Address, long Request), LiveBlock> _displaced = [];
    private readonly HashSet<(nuint Address, long Request)> _early = [];
    private readonly Dictionary<CallSite, int> _siteIds = [];
    private readonly List<SiteStats> _sites = [];
    private readonly Dictionary<string, Track> _regions = new(StringComparer.Ordinal);
    private readonly Dictionary<MallocCaps, Track> _caps = [];
    private readonly Dictionary<string, (BoundedSeries Largest, BoundedSeries Free)> _snapshotSeries = new(StringComparer.Ordinal);
    private readonly BoundedSeries _total = new(SeriesPoints, keepMinimum: false);
    private readonly Dictionary<string, RegionStatistics> _snapshotRegions = new(StringComparer.Ordinal);
    private readonly List<TraceProblem> _problems = [];
    private readonly HashSet<string> _unboundedRegions = new(StringComparer.Ordinal);
    private Track? _otherCaps;
    private long _badLines;
    private long _liveBytes;
    private DateTimeOffset? _start;

    /// <summary>Reads the whole trace; <paramref name="progress"/> gets (bytes read, total bytes) every megabyte or so.</summary>
    public static TraceAnalysis Analyze(TraceReader reader, string source, Action<long, long?>? progress = null)
    {
        var analyzer = new TraceAnalyzer();
        var analysis = new TraceAnalysis { Source = source };
        var nextProgress = 0L;
        while (reader.Read(out var heapEvent))
        {
            analyzer.Add(analysis, reader.LineNumber, heapEvent);
            if (progress is not null && reader.Position >= nextProgress)
            {
                progress(reader.Position, reader.Length);
                nextProgress = reader.Position + (1 << 20);
            }
        }

        progress?.Invoke(reader.Position, reader.Length);
        analysis.Bytes = reader.Position;
        analysis.Lines = reader.LineNumber;
        analysis.Events = reader.EventCount;
        analysis.BadLines = reader.BadLineCount + analyzer._badLines;
        analysis.DroppedEvents = reader.DroppedEvents;
        analysis.TornLastLine = reader.TornLastLine;
        analysis.HasEnd = reader.HasEnd;
        analysis.Header = reader.Header;
        analysis.Problems.AddRange(reader.Problems.Concat(analyzer._problems).OrderBy(p => p.Line)); // Stable: a line's problems keep their order.
        analysis.ProblemCount = reader.ProblemCount + analyzer._badLines;
        analyzer.Complete(analysis);
        return analysis;
    }

    private void Add(TraceAnalysis analysis, long line, in HeapEvent e)
    {
        if (e.Time != default)
        {
            _start ??= e.Time;
            analysis.Start ??= e.Time;
            if (analysis.End is null || e.Time > analysis.End)
            {
                analysis.End = e.Time;
            }
        }

        // A time before the first event's (a trace whose times go back) counts as the start, as in the charts: never a negative time.
        var seconds = _start is { } start && e.Time != default ? Math.Max(0, (e.Time - start).TotalSeconds) : 0;
        if (BeyondAnyHeap(line, in e))
        {
            return;
        }

        switch (e.Kind)
        {
            case HeapEventKind.Allocation:
                analysis.Allocations++;
                analysis.BytesAllocated = Add(analysis.BytesAllocated, e.Size);
                analysis.SizeHistogram[e.Size <= 1 ? 0 : 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)e.Size)]++;
                var site = SiteOf(e.Site);
                _sites[site].Allocations++;
                _sites[site].Bytes = Add(_sites[site].Bytes, e.Size);
                if (Early(e.Address, e.RequestNumber))
                {
                    // Its free or realloc came first: allocated and already gone (a realloc holds it at its new address).
                    analysis.UnknownFrees--;
                    break;
                }

                if (_live.Remove(e.Address, out var replaced))
                {
                    // An address allocated twice with no free between: the free is late (another thread's, written
                    // after this allocation) or was dropped. Count the old block out; a late free finds it set aside.
                    Release(replaced, seconds);
                    analysis.UnknownFrees++;
                    SetAside(e.Address, replaced);
                }

                Hold(new LiveBlock(site, e.Size, Region(e.RegionName), Caps(e.Caps), e.RequestNumber), e.Address, seconds, analysis);
                break;
            case HeapEventKind.Free:
                analysis.Frees++;
                if (e.RequestNumber != 0 && _displaced.Remove((e.Address, e.RequestNumber)))
                {
                    analysis.UnknownFrees--; // The late free of a block set aside: already counted out.
                }
                else if (_live.Remove(e.Address, out var freed))
                {
                    Release(freed, seconds);
                }
                else
                {
                    analysis.UnknownFrees++;
                    RememberEarly(e.Address, e.RequestNumber);
                }

                break;
            case HeapEventKind.Reallocation:
                analysis.Reallocations++;
                int reallocSite;
                long request = e.RequestNumber;
                if (e.RequestNumber != 0 && _displaced.Remove((e.PreviousAddress, e.RequestNumber), out var setAside))
                {
                    // The late realloc of a block set aside: it was counted out already, it now lives at the new address.
                    analysis.UnknownFrees--;
                    reallocSite = setAside.Site;
                }
                else if (_live.Remove(e.PreviousAddress, out var before))
                {
                    Release(before, seconds);
                    reallocSite = before.Site;
                    request = before.Request;
                }
                else
                {
                    analysis.UnknownFrees++;
                    RememberEarly(e.PreviousAddress, e.RequestNumber);
                    reallocSite = SiteOf(e.AllocatedAt ?? e.Site);
                }

                if (e.Address != e.PreviousAddress && Early(e.Address, request))
                {
                    // The free or realloc of the block at its new address came first: it is already gone. (In place,
                    // the key is the one just remembered for the old address: nothing can be told apart.)
                    analysis.UnknownFrees--;
                    break;
                }

                // In place too: a late realloc of a block set aside finds the block now live at its address (another request).
                if (_live.Remove(e.Address, out var clash))
                {
                    Release(clash, seconds);
                    analysis.UnknownFrees++;
                    SetAside(e.Address, clash);
                }

                Hold(new LiveBlock(reallocSite, e.Size, Region(e.RegionName), Caps(e.Caps), request), e.Address, seconds, analysis);
                break;
            case HeapEventKind.FailedAllocation:
                analysis.Failures++;
                if (analysis.FailureList.Count < TraceAnalysis.ListLimit)
                {
                    analysis.FailureList.Add(new FailureRow(line, e.Time, e.Size, e.Caps, e.Site, e.RequestNumber));
                }

                break;
            case HeapEventKind.MemoryError:
                analysis.Errors++;
                if (analysis.ErrorList.Count < TraceAnalysis.ListLimit)
                {
                    analysis.ErrorList.Add(new ErrorRow(line, e.Time, e.Error?.Kind.ToString() ?? "MemoryError", e.Error?.Message ?? $"memory error at 0x{e.Address:x}", e.Site, e.AllocatedAt, e.Error?.FreedAt));
                }

                break;
            case HeapEventKind.Checkpoint:
                if (analysis.Checkpoints.Count < TraceAnalysis.ListLimit)
                {
                    analysis.Checkpoints.Add(new CheckpointRow(line, e.Time, e.Label ?? string.Empty, e.LiveBlocks, e.LiveBytes));
                }

                Snapshot(e, seconds);
                break;
            case HeapEventKind.Snapshot:
                analysis.Snapshots++;
                Snapshot(e, seconds);
                break;
        }
    }

    /// <summary>
    /// Whether an allocation or realloc would take the bytes live past <see cref="long.MaxValue"/> (8 EiB), which no heap
    /// holds: the sizes are damaged (the reader refuses a single such block, not a sum of them). The line is then reported
    /// and skipped, so that no total wraps negative. Totals over time (bytes allocated in all, per call site) stop at
    /// <see cref="long.MaxValue"/> instead: blocks freed long ago may add up to more than any heap without any being wrong.
    /// </summary>
    private bool BeyondAnyHeap(long line, in HeapEvent e)
    {
        if (e.Kind is not (HeapEventKind.Allocation or HeapEventKind.Reallocation))
        {
            return false;
        }

        var size = (ulong)e.Size;
        var live = e.Kind == HeapEventKind.Reallocation && _live.TryGetValue(e.PreviousAddress, out var before) ? _liveBytes - (long)before.Size : _liveBytes;
        if (size <= (ulong)(long.MaxValue - live))
        {
            return false;
        }

        _badLines++;
        if (_problems.Count < TraceAnalysis.ListLimit)
        {
            _problems.Add(new TraceProblem(line, TraceProblemKind.InvalidValue, $"this {e.Kind.ToTraceName()} takes the bytes live past 8 EiB, which no heap holds: the sizes are damaged; line skipped"));
        }

        return true;
    }

    /// <summary><paramref name="sum"/> + <paramref name="bytes"/>, at most <see cref="long.MaxValue"/>: totals over time, and a snapshot's region sizes as the trace gives them.</summary>
    private static long Add(long sum, nuint bytes) => (ulong)bytes >= (ulong)(long.MaxValue - sum) ? long.MaxValue : sum + (long)bytes;

    /// <summary>Remembers a free or realloc of a block not live, in case its allocation comes afterwards.</summary>
    private void RememberEarly(nuint address, long request)
    {
        if (request == 0)
        {
            return;
        }

        if (_early.Count >= MaxEarly)
        {
            _early.Clear(); // Allocations that never came: those frees stay counted as unknown.
        }

        _early.Add((address, request));
    }

    /// <summary>Whether a free or realloc of this block came before it (and forgets it).</summary>
    private bool Early(nuint address, long request) => request != 0 && _early.Count > 0 && _early.Remove((address, request));

    private void SetAside(nuint address, LiveBlock block)
    {
        if (block.Request == 0)
        {
            return;
        }

        if (_displaced.Count >= MaxDisplaced)
        {
            _displaced.Clear(); // Frees that never came: those set aside stay counted as unknown.
        }

        _displaced[(address, block.Request)] = block;
    }

    private void Hold(LiveBlock block, nuint address, double seconds, TraceAnalysis analysis)
    {
        _live[address] = block;
        _liveBytes += (long)block.Size;
        _sites[block.Site].LiveBlocks++;
        _sites[block.Site].LiveBytes += (long)block.Size;
        block.Region.Change((long)block.Size, seconds);
        block.Caps.Change((long)block.Size, seconds);
        _total.Add(seconds, _liveBytes);
        if (_liveBytes > analysis.PeakBytes)
        {
            analysis.PeakBytes = _liveBytes;
            analysis.PeakBlocks = _live.Count;
            analysis.PeakSeconds = seconds;
        }
    }

    private void Release(LiveBlock block, double seconds)
    {
        _liveBytes -= (long)block.Size;
        _sites[block.Site].LiveBlocks--;
        _sites[block.Site].LiveBytes -= (long)block.Size;
        block.Region.Change(-(long)block.Size, seconds);
        block.Caps.Change(-(long)block.Size, seconds);
        _total.Add(seconds, _liveBytes);
    }

    private void Snapshot(in HeapEvent e, double seconds)
    {
        if (e.Regions is not { } regions)
        {
            return;
        }

        // Regions of one name (an ESP32 has several "DRAM" ranges) add up; their largest block is the largest of any.
        var byName = new Dictionary<string, RegionStatistics>(StringComparer.Ordinal);
        foreach (var region in regions)
        {
            if (region.IsUnbounded)
            {
                if (_unboundedRegions.Count < MaxTracks)
                {
                    _unboundedRegions.Add(region.Name);
                }

                continue;
            }

            var key = _snapshotRegions.ContainsKey(region.Name) || byName.ContainsKey(region.Name) || _snapshotRegions.Count + byName.Count < MaxTracks
                ? region.Name
                : OtherRegions;
            byName.TryGetValue(key, out var sum);
            byName[key] = new RegionStatistics(
                sum.Caps | region.Caps,
                Add(sum.Total, region.TotalSize),
                Add(sum.Free, region.FreeBytes),
                Add(sum.MinimumFree, region.MinimumFreeBytes),
                Math.Max(sum.Largest, Add(0, region.LargestFreeBlock)),
                long.MaxValue);
        }

        foreach (var (name, statistics) in byName)
        {
            // The minimum free is the lowest any snapshot gave, not the last one's: a monitor window
            // (heap_caps_monitor_local_minimum_free_size_start) resets a region's minimum to its free bytes of the moment.
            var (minimum, lowest) = _snapshotRegions.TryGetValue(name, out var previous)
                ? (Math.Min(previous.MinimumFree, statistics.MinimumFree), Math.Min(previous.LowestLargest, statistics.Largest))
                : (statistics.MinimumFree, statistics.Largest);
            _snapshotRegions[name] = statistics with { MinimumFree = minimum, LowestLargest = lowest };
            if (!_snapshotSeries.TryGetValue(name, out var series))
            {
                series = (new BoundedSeries(SeriesPoints, keepMinimum: true), new BoundedSeries(SeriesPoints, keepMinimum: true));
                _snapshotSeries[name] = series;
            }

            series.Largest.Add(seconds, statistics.Largest);
            series.Free.Add(seconds, statistics.Free);
        }
    }

    private void Complete(TraceAnalysis analysis)
    {
        analysis.LiveBlocksAtEnd = _live.Count;
        analysis.LiveBytesAtEnd = _liveBytes;
        analysis.InUseTotal = _total.Points();
        foreach (var track in _regions.Values)
        {
            analysis.InUseByRegion[track.Name] = track.Series.Points();
            analysis.PeakByRegion[track.Name] = track.Peak;
        }

        foreach (var track in _otherCaps is null ? _caps.Values : _caps.Values.Append(_otherCaps))
        {
            analysis.InUseByCaps[track.Name] = track.Series.Points();
            analysis.PeakByCaps[track.Name] = track.Peak;
        }

        foreach (var (name, series) in _snapshotSeries)
        {
            analysis.LargestFreeByRegion[name] = series.Largest.Points();
            analysis.FreeByRegion[name] = series.Free.Points();
        }

        analysis.Regions = [.. _snapshotRegions.Select(p => new RegionRow(p.Key, p.Value.Caps.ToCapsString(), p.Value.Total, p.Value.Free, p.Value.MinimumFree, p.Value.Largest, p.Value.LowestLargest))];

        // Leaks: the live blocks at the end, grouped by site (one pass over the live set).
        var leakRegions = new Dictionary<int, HashSet<string>>();
        var leakCaps = new Dictionary<int, HashSet<string>>();
        var firstRequest = new Dictionary<int, long>();
        foreach (var block in _live.Values)
        {
            Add(leakRegions, block.Site, block.Region.Name);
            Add(leakCaps, block.Site, block.Caps.Name);
            firstRequest[block.Site] = firstRequest.TryGetValue(block.Site, out var first) ? Math.Min(first, block.Request) : block.Request;
        }

        analysis.LeaksBySite =
        [
            .. Enumerable.Range(0, _sites.Count)
                .Where(i => _sites[i].LiveBlocks > 0)
                .OrderByDescending(i => _sites[i].LiveBytes)
                .Take(TraceAnalysis.ListLimit)
                .Select(i => new SiteRow(_sites[i].Site, _sites[i].LiveBlocks, _sites[i].LiveBytes, Join(leakRegions, i), Join(leakCaps, i), firstRequest.GetValueOrDefault(i))),
        ];
        // Sites that allocated in the trace: a realloc of a block allocated before the trace began names a site with none.
        var allocating = Enumerable.Range(0, _sites.Count).Where(i => _sites[i].Allocations > 0).ToList();
        analysis.TopSitesByBytes = [.. allocating.OrderByDescending(i => _sites[i].Bytes).Take(TopRows).Select(Row)];
        analysis.TopSitesByCount = [.. allocating.OrderByDescending(i => _sites[i].Allocations).Take(TopRows).Select(Row)];
        analysis.UnboundedRegions.UnionWith(_unboundedRegions);

        SiteRow Row(int i) => new(_sites[i].Site, _sites[i].Allocations, _sites[i].Bytes, string.Empty, string.Empty, 0);

        static void Add(Dictionary<int, HashSet<string>> sets, int site, string value)
        {
            if (!sets.TryGetValue(site, out var set))
            {
                set = [];
                sets[site] = set;
            }

            set.Add(value);
        }

        static string Join(Dictionary<int, HashSet<string>> sets, int site) =>
            sets.TryGetValue(site, out var set) ? string.Join(", ", set.Order(StringComparer.Ordinal)) : string.Empty;
    }

    private int SiteOf(CallSite site)
    {
        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_siteIds, site, out var exists);
        if (!exists)
        {
            id = _sites.Count;
            _sites.Add(new SiteStats(site));
        }

        return id;
    }

    private Track Region(string? name)
    {
        name ??= "(no region)";
        if (!_regions.TryGetValue(name, out var track))
        {
            if (_regions.Count >= MaxTracks)
            {
                name = OtherRegions;
                if (_regions.TryGetValue(name, out track))
                {
                    return track;
                }
            }

            track = new Track(name, keepMinimum: false);
            _regions[name] = track;
        }

        return track;
    }

    private Track Caps(MallocCaps caps)
    {
        if (!_caps.TryGetValue(caps, out var track))
        {
            if (_caps.Count >= MaxTracks)
            {
                return _otherCaps ??= new Track(OtherCaps, keepMinimum: false);
            }

            track = new Track(caps.ToCapsString(), keepMinimum: false);
            _caps[caps] = track;
        }

        return track;
    }

    private readonly record struct LiveBlock(int Site, nuint Size, Track Region, Track Caps, long Request);

    private readonly record struct RegionStatistics(MallocCaps Caps, long Total, long Free, long MinimumFree, long Largest, long LowestLargest);

    private sealed class SiteStats(CallSite site)
    {
        public CallSite Site { get; } = site;

        public long Allocations { get; set; }

        public long Bytes { get; set; }

        public long LiveBlocks { get; set; }

        public long LiveBytes { get; set; }
    }

    /// <summary>Bytes in use for one region or caps value, with its series and peak.</summary>
    private sealed class Track(string name, bool keepMinimum)
    {
        public string Name { get; } = name;

        public BoundedSeries Series { get; } = new(SeriesPoints, keepMinimum);

        public long Bytes { get; private set; }

        public long Peak { get; private set; }

        public void Change(long delta, double seconds)
        {
            Bytes += delta;
            Peak = Math.Max(Peak, Bytes);
            Series.Add(seconds, Bytes);
        }
    }
}

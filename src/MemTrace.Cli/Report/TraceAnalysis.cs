// TraceAnalysis: what `memtrace report` found in a trace, as plain data for the three renderers
// (terminal tables, JSON, HTML). Everything here is bounded: lists are capped, series are
// downsampled, and call sites are as many as the program has.
using MemTrace.Diagnostics;

namespace MemTrace.Cli.Report;

internal sealed class TraceAnalysis
{
    public const int ListLimit = 200;

    public required string Source { get; init; }

    public long Bytes { get; set; }

    public long Lines { get; set; }

    public long Events { get; set; }

    public long BadLines { get; set; }

    public long DroppedEvents { get; set; }

    public bool TornLastLine { get; set; }

    public bool HasEnd { get; set; }

    public TraceHeader? Header { get; set; }

    public List<TraceProblem> Problems { get; } = [];

    public long ProblemCount { get; set; }

    public DateTimeOffset? Start { get; set; }

    public DateTimeOffset? End { get; set; }

    public double DurationSeconds => Start is { } start && End is { } end ? Math.Max(0, (end - start).TotalSeconds) : 0;

    public long Allocations { get; set; }

    public long Frees { get; set; }

    public long Reallocations { get; set; }

    public long Failures { get; set; }

    public long Errors { get; set; }

    public long Snapshots { get; set; }

    public long BytesAllocated { get; set; }

    /// <summary>Frees and reallocs of addresses the trace never showed allocated (blocks from before the trace, or dropped events).</summary>
    public long UnknownFrees { get; set; }

    /// <summary>Regions whose snapshots say they have no fixed size (the host heap).</summary>
    public HashSet<string> UnboundedRegions { get; } = new(StringComparer.Ordinal);

    public long PeakBytes { get; set; }

    public long PeakBlocks { get; set; }

    public double PeakSeconds { get; set; }

    public Dictionary<string, long> PeakByRegion { get; } = [];

    public Dictionary<string, long> PeakByCaps { get; } = [];

    public long LiveBlocksAtEnd { get; set; }

    public long LiveBytesAtEnd { get; set; }

    public List<SiteRow> LeaksBySite { get; set; } = [];

    public List<SiteRow> TopSitesByBytes { get; set; } = [];

    public List<SiteRow> TopSitesByCount { get; set; } = [];

    public List<FailureRow> FailureList { get; } = [];

    public List<ErrorRow> ErrorList { get; } = [];

    public List<CheckpointRow> Checkpoints { get; } = [];

    public List<RegionRow> Regions { get; set; } = [];

    public Dictionary<string, IReadOnlyList<(double Seconds, double Value)>> InUseByRegion { get; } = [];

    public Dictionary<string, IReadOnlyList<(double Seconds, double Value)>> InUseByCaps { get; } = [];

    public Dictionary<string, IReadOnlyList<(double Seconds, double Value)>> LargestFreeByRegion { get; } = [];

    public Dictionary<string, IReadOnlyList<(double Seconds, double Value)>> FreeByRegion { get; } = [];

    public IReadOnlyList<(double Seconds, double Value)> InUseTotal { get; set; } = [];

    /// <summary>Allocation counts by size: bucket i holds sizes in [2^i, 2^(i+1)), bucket 0 also size 0.</summary>
    public long[] SizeHistogram { get; } = new long[64];

    /// <summary>True when lines were skipped or events dropped: the figures describe part of what happened.</summary>
    public bool IsPartial => BadLines > 0 || DroppedEvents > 0;

    public static string SiteText(CallSite site) => site.IsKnown
        ? $"{site.FileName}:{site.Line} in {site.Function ?? "?"}" + (site.VariableName is { } v ? $" ({v})" : string.Empty)
        : $"(no call site, {site.Method.ToCName()})";
}

internal sealed record SiteRow(CallSite Site, long Blocks, long Bytes, string Regions, string Caps, long FirstRequest);

internal sealed record FailureRow(long Line, DateTimeOffset Time, nuint Size, MallocCaps Caps, CallSite Site, long Request);

internal sealed record ErrorRow(long Line, DateTimeOffset Time, string Kind, string Message, CallSite Site, CallSite? AllocatedAt, CallSite? FreedAt);

internal sealed record CheckpointRow(long Line, DateTimeOffset Time, string Label, long LiveBlocks, long LiveBytes);

internal sealed record RegionRow(string Name, string Caps, long Total, long Free, long MinimumFree, long Largest, long LowestLargest);

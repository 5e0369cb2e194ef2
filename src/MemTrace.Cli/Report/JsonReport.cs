// JsonReport: `memtrace report --json`, the analysis for machines: one JSON object on standard
// output with the same figures as the tables (sizes in bytes, times in seconds from the trace's
// start, problems with their line numbers). docs/tracing.md lists the fields.
using System.Text.Json;
using MemTrace.Diagnostics;

namespace MemTrace.Cli.Report;

internal static class JsonReport
{
    public static void Write(Stream output, TraceAnalysis a)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("trace");
        json.WriteString("path", a.Source);
        json.WriteNumber("bytes", a.Bytes);
        json.WriteNumber("lines", a.Lines);
        json.WriteNumber("events", a.Events);
        json.WriteNumber("badLines", a.BadLines);
        json.WriteNumber("droppedEvents", a.DroppedEvents);
        json.WriteBoolean("tornLastLine", a.TornLastLine);
        json.WriteBoolean("closed", a.HasEnd);
        json.WriteBoolean("partial", a.IsPartial);
        json.WriteNumber("problemCount", a.ProblemCount);
        json.WriteStartArray("problems");
        foreach (var problem in a.Problems)
        {
            json.WriteStartObject();
            json.WriteNumber("line", problem.Line);
            json.WriteString("kind", problem.Kind.ToString());
            json.WriteString("message", problem.Message);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();

        if (a.Start is { } start)
        {
            json.WriteString("start", TraceTime(start));
        }

        json.WriteNumber("durationSeconds", a.DurationSeconds);
        json.WriteStartObject("totals");
        json.WriteNumber("allocations", a.Allocations);
        json.WriteNumber("frees", a.Frees);
        json.WriteNumber("reallocations", a.Reallocations);
        json.WriteNumber("failures", a.Failures);
        json.WriteNumber("errors", a.Errors);
        json.WriteNumber("snapshots", a.Snapshots);
        json.WriteNumber("bytesAllocated", a.BytesAllocated);
        json.WriteNumber("unknownFrees", a.UnknownFrees);
        json.WriteEndObject();

        json.WriteStartObject("peak");
        json.WriteNumber("bytes", a.PeakBytes);
        json.WriteNumber("blocks", a.PeakBlocks);
        json.WriteNumber("seconds", a.PeakSeconds);
        WriteMap(json, "byRegion", a.PeakByRegion);
        WriteMap(json, "byCaps", a.PeakByCaps);
        json.WriteEndObject();

        json.WriteStartArray("regions");
        foreach (var region in a.Regions)
        {
            json.WriteStartObject();
            json.WriteString("name", region.Name);
            json.WriteString("caps", region.Caps);
            json.WriteNumber("total", region.Total);
            json.WriteNumber("free", region.Free);
            json.WriteNumber("minimumFree", region.MinimumFree);
            json.WriteNumber("largestFreeBlock", region.Largest);
            json.WriteNumber("lowestLargestFreeBlock", region.LowestLargest);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartObject("liveAtEnd");
        json.WriteNumber("blocks", a.LiveBlocksAtEnd);
        json.WriteNumber("bytes", a.LiveBytesAtEnd);
        WriteSites(json, "bySite", a.LeaksBySite, "blocks");
        json.WriteEndObject();
        WriteSites(json, "topSitesByBytes", a.TopSitesByBytes, "allocations");
        WriteSites(json, "topSitesByCount", a.TopSitesByCount, "allocations");

        json.WriteStartArray("failures");
        foreach (var row in a.FailureList)
        {
            json.WriteStartObject();
            json.WriteNumber("line", row.Line);
            json.WriteString("time", TraceTime(row.Time));
            json.WriteNumber("size", (ulong)row.Size);
            json.WriteString("caps", row.Caps.ToCapsString());
            json.WriteNumber("request", row.Request);
            WriteSite(json, "site", row.Site);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("errors");
        foreach (var row in a.ErrorList)
        {
            json.WriteStartObject();
            json.WriteNumber("line", row.Line);
            json.WriteString("time", TraceTime(row.Time));
            json.WriteString("kind", row.Kind);
            json.WriteString("message", row.Message);
            WriteSite(json, "detectedAt", row.Site);
            if (row.AllocatedAt is { } allocatedAt)
            {
                WriteSite(json, "allocatedAt", allocatedAt);
            }

            if (row.FreedAt is { } freedAt)
            {
                WriteSite(json, "freedAt", freedAt);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("checkpoints");
        foreach (var row in a.Checkpoints)
        {
            json.WriteStartObject();
            json.WriteNumber("line", row.Line);
            json.WriteString("time", TraceTime(row.Time));
            json.WriteString("label", row.Label);
            json.WriteNumber("liveBlocks", row.LiveBlocks);
            json.WriteNumber("liveBytes", row.LiveBytes);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("sizeHistogram");
        for (var i = 0; i < a.SizeHistogram.Length; i++)
        {
            if (a.SizeHistogram[i] == 0)
            {
                continue;
            }

            json.WriteStartObject();
            json.WriteNumber("from", i == 0 ? 0 : 1L << i);
            json.WriteNumber("to", (1L << (i + 1)) - 1);
            json.WriteNumber("count", a.SizeHistogram[i]);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteMap(Utf8JsonWriter json, string name, Dictionary<string, long> values)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in values.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            json.WriteNumber(key, value);
        }

        json.WriteEndObject();
    }

    private static void WriteSites(Utf8JsonWriter json, string name, List<SiteRow> rows, string countName)
    {
        json.WriteStartArray(name);
        foreach (var row in rows)
        {
            json.WriteStartObject();
            WriteSite(json, "site", row.Site);
            json.WriteNumber(countName, row.Blocks);
            json.WriteNumber("bytes", row.Bytes);
            if (row.Regions.Length > 0)
            {
                json.WriteString("regions", row.Regions);
                json.WriteString("caps", row.Caps);
                json.WriteNumber("firstRequest", row.FirstRequest);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteSite(Utf8JsonWriter json, string name, CallSite site)
    {
        json.WriteStartObject(name);
        json.WriteString("method", site.Method.ToCName());
        if (site.File is not null)
        {
            json.WriteString("file", site.File);
            json.WriteNumber("line", site.Line);
        }

        if (site.Function is not null)
        {
            json.WriteString("function", site.Function);
        }

        if (site.VariableName is not null)
        {
            json.WriteString("variable", site.VariableName);
        }

        json.WriteEndObject();
    }

    /// <summary>A time as the trace writes it (<see cref="TraceFormat.TimeFormat"/>).</summary>
    private static string TraceTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString(TraceFormat.TimeFormat, System.Globalization.CultureInfo.InvariantCulture);
}

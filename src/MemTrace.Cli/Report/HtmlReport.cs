// HtmlReport: `memtrace report --html FILE`, one self-contained page: inline CSS, inline SVG
// charts (memory in use over time per region and per requested caps, the largest free block
// over time, the allocation-size histogram), the leak table and the other tables, and a small
// inline script (sortable tables, series highlighting). A Content-Security-Policy forbids every
// outside resource, so the page opens the same from a disk, a mail or a CI artifact. The script
// marks the page `data-report-ready` when it has run, and `data-script-errors` if any script
// failed: the browser test reads both.
using System.Globalization;
using System.Net;
using System.Text;

namespace MemTrace.Cli.Report;

internal static class HtmlReport
{
    private const string Style = """
        :root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#ffffff; --card:#f6f8fa; --bad:#cf222e; --warn:#9a6700; --good:#1a7f37; }
        * { box-sizing: border-box; }
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 1000px; padding: 24px; }
        h1 { font-size: 24px; margin: 0 0 4px; } h3 { font-size: 14px; margin: 14px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
        .muted { color: var(--muted); } .bad { color: var(--bad); } .warn { color: var(--warn); } .good { color: var(--good); }
        .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin-top: 16px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
        .card .v { font-size: 20px; font-weight: 600; } .card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
        svg.chart { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
        svg .grid { stroke: #eaeef2; } svg .axis { stroke: #8c959f; } svg .tick, svg .legend text, svg .nodata { font-size: 11px; fill: var(--muted); }
        svg .line { fill: none; stroke-width: 1.8; } svg.focus .line:not(.on), svg.focus .bar:not(.on) { opacity: .15; } svg .legend { cursor: default; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: var(--card); cursor: pointer; user-select: none; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        th[data-dir=asc]::after { content: " \25B2"; } th[data-dir=desc]::after { content: " \25BC"; }
        code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
        footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
        """;

    private const string ErrorHook = """
        window.addEventListener('error', function (e) {
          var root = document.documentElement;
          root.setAttribute('data-script-errors', (root.getAttribute('data-script-errors') || '') + (e.message || 'error') + ';');
        });
        """;

    private const string Script = """
        (function () {
          'use strict';
          function key(cell) { return cell.getAttribute('data-v') !== null ? cell.getAttribute('data-v') : cell.textContent; }
          document.querySelectorAll('table.sortable').forEach(function (table) {
            var head = table.tHead; if (!head || !table.tBodies.length) { return; }
            Array.prototype.forEach.call(head.rows[0].cells, function (th, index) {
              th.addEventListener('click', function () {
                var body = table.tBodies[0], numeric = th.classList.contains('num');
                var dir = th.getAttribute('data-dir') === 'desc' ? 1 : -1;
                Array.prototype.forEach.call(head.rows[0].cells, function (other) { other.removeAttribute('data-dir'); });
                th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
                var rows = Array.prototype.slice.call(body.rows);
                rows.sort(function (a, b) {
                  var x = key(a.cells[index]), y = key(b.cells[index]);
                  return dir * (numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y));
                });
                rows.forEach(function (row) { body.appendChild(row); });
              });
            });
          });
          document.querySelectorAll('svg.chart').forEach(function (svg) {
            svg.querySelectorAll('.legend, .bar').forEach(function (item) {
              var series = item.getAttribute('data-series');
              item.addEventListener('mouseenter', function () {
                svg.classList.add('focus');
                svg.querySelectorAll('[data-series="' + series + '"]').forEach(function (e) { e.classList.add('on'); });
              });
              item.addEventListener('mouseleave', function () {
                svg.classList.remove('focus');
                svg.querySelectorAll('.on').forEach(function (e) { e.classList.remove('on'); });
              });
            });
          });
          document.body.setAttribute('data-report-ready', 'true');
        })();
        """;

    public static string Render(TraceAnalysis a)
    {
        var html = new StringBuilder(64 * 1024);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">");
        html.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html.Append("<title>MemTrace report: ").Append(E(Path.GetFileName(a.Source))).Append("</title>");
        html.Append("<script>").Append(ErrorHook).Append("</script>");
        html.Append("<style>").Append(Style).Append("</style></head><body>\n");

        html.Append("<header><h1>MemTrace report</h1><div class=\"muted\"><code>").Append(E(a.Source)).Append("</code> &middot; ")
            .Append(E($"{ReportText.Count(a.Events, "event")}, {ReportText.Count(a.Lines, "line")}, {ReportText.Bytes(a.Bytes)}, {ReportText.Seconds(a.DurationSeconds)}"));
        if (a.Header is { } header)
        {
            html.Append(E($" · written by {header.ProcessName ?? "?"} (pid {header.ProcessId})"));
        }

        if (a.Start is { } start)
        {
            html.Append(E(" · started " + start.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)));
        }

        html.Append("</div></header>\n<section class=\"cards\">");
        Card(html, "Peak use", ReportText.Bytes(a.PeakBytes), $"{ReportText.Count(a.PeakBlocks, "block")} at {ReportText.Seconds(a.PeakSeconds)}", null);
        Card(html, "Live at end", ReportText.Bytes(a.LiveBytesAtEnd), $"{ReportText.Count(a.LiveBlocksAtEnd, "block")}", a.LiveBlocksAtEnd > 0 ? "warn" : "good");
        Card(html, "Allocations", ReportText.Number(a.Allocations), ReportText.Bytes(a.BytesAllocated) + " in all", null);
        Card(html, "Frees", ReportText.Number(a.Frees), $"{ReportText.Count(a.Reallocations, "realloc")}" + (a.UnknownFrees > 0 ? $"; {ReportText.Number(a.UnknownFrees)} of them of blocks not allocated in the trace" : string.Empty), a.UnknownFrees > 0 ? "warn" : null);
        Card(html, "Failed allocations", ReportText.Number(a.Failures), string.Empty, a.Failures > 0 ? "bad" : "good");
        Card(html, "Memory errors", ReportText.Number(a.Errors), string.Empty, a.Errors > 0 ? "bad" : "good");
        html.Append("</section>\n");
        if (a.IsPartial || a.TornLastLine || !a.HasEnd)
        {
            html.Append("<p class=\"warn\">");
            if (a.IsPartial)
            {
                html.Append(E($"Partial report: {ReportText.Count(a.BadLines, "line")} could not be read and {ReportText.Count(a.DroppedEvents, "event")} {(a.DroppedEvents == 1 ? "was" : "were")} dropped by the writer. "));
            }

            if (a.TornLastLine)
            {
                html.Append("The last line of the trace was torn (the writer stopped mid-line). ");
            }

            if (!a.HasEnd)
            {
                html.Append("The trace has no end line: its writer did not close it.");
            }

            html.Append("</p>\n");
        }

        var duration = a.DurationSeconds;
        Section(html, "Memory in use over time, by region", "Bytes of the blocks live in each region (peak within each interval).",
            SvgChart.StepLines("Memory in use by region", Series(a.InUseByRegion), duration));
        Section(html, "Memory in use over time, by requested capabilities", "Bytes of the live blocks grouped by the capabilities they were requested with.",
            SvgChart.StepLines("Memory in use by capabilities", Series(a.InUseByCaps), duration));
        html.Append("<h2>Largest free block over time (fragmentation)</h2><p class=\"muted\">")
            .Append(E("For each region, from the periodic snapshots: its free bytes and its largest free block, the largest request it could satisfy (lowest within each interval). A gap between the two lines is fragmentation: memory free but in pieces."))
            .Append("</p>");
        if (a.LargestFreeByRegion.Count == 0)
        {
            html.Append("<p class=\"muted\">No snapshot of a bounded region in this trace.</p>");
        }

        foreach (var (name, largest) in a.LargestFreeByRegion.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            html.Append("<h3>").Append(E(name)).Append("</h3>");
            var free = a.FreeByRegion.GetValueOrDefault(name) ?? [];
            html.Append(SvgChart.StepLines("Free bytes and largest free block of " + name, [new SvgChart.Series("free bytes", free), new SvgChart.Series("largest free block", largest)], duration, plotHeight: 150)).Append('\n');
        }

        var first = Array.FindIndex(a.SizeHistogram, c => c > 0);
        var last = Array.FindLastIndex(a.SizeHistogram, c => c > 0);
        var bars = first < 0 ? [] : Enumerable.Range(first, last - first + 1).Select(i => (ReportText.SizeBucketStart(i), ReportText.SizeBucket(i), a.SizeHistogram[i])).ToList();
        Section(html, "Allocation sizes", "Allocations by requested size, in power-of-two buckets.", SvgChart.Bars("Histogram of allocation sizes", bars));

        html.Append("<h2>Blocks live at the end, by call site (leaks)</h2>");
        if (a.LeaksBySite.Count == 0)
        {
            html.Append("<p class=\"good\">No block is live at the end of the trace.</p>");
        }
        else
        {
            html.Append("<table id=\"leaks\" class=\"sortable\"><thead><tr><th>Allocated at</th><th class=\"num\">Blocks</th><th class=\"num\">Bytes</th><th>Region</th><th>Caps</th><th class=\"num\">First request</th></tr></thead><tbody>");
            foreach (var row in a.LeaksBySite)
            {
                html.Append("<tr><td>").Append(E(ReportText.Site(row.Site))).Append("</td>");
                Num(html, row.Blocks, ReportText.Number(row.Blocks));
                Num(html, row.Bytes, ReportText.Bytes(row.Bytes));
                html.Append("<td>").Append(E(row.Regions)).Append("</td><td><code>").Append(E(row.Caps)).Append("</code></td>");
                Num(html, row.FirstRequest, "#" + row.FirstRequest.ToString(CultureInfo.InvariantCulture));
                html.Append("</tr>");
            }

            html.Append("</tbody></table>");
        }

        SiteTable(html, "Top call sites by bytes allocated", a.TopSitesByBytes);
        SiteTable(html, "Top call sites by number of allocations", a.TopSitesByCount);

        if (a.FailureList.Count > 0)
        {
            html.Append("<h2>Failed allocations</h2><table class=\"sortable\"><thead><tr><th class=\"num\">Line</th><th>").Append(ReportText.TimeHeading).Append("</th><th class=\"num\">Size</th><th>Caps</th><th>Requested at</th></tr></thead><tbody>");
            foreach (var row in a.FailureList)
            {
                html.Append("<tr>");
                Num(html, row.Line, row.Line.ToString(CultureInfo.InvariantCulture));
                html.Append("<td>").Append(ReportText.Time(row.Time)).Append("</td>");
                Num(html, (ulong)row.Size, ReportText.Bytes(row.Size)); // Unsigned: an overflowing calloc is logged as nuint.MaxValue.
                html.Append("<td><code>").Append(E(row.Caps.ToCapsString())).Append("</code></td><td>").Append(E(ReportText.Site(row.Site))).Append("</td></tr>");
            }

            html.Append("</tbody></table>");
        }

        if (a.ErrorList.Count > 0)
        {
            html.Append("<h2>Memory errors</h2><table class=\"sortable\"><thead><tr><th class=\"num\">Line</th><th>Error</th><th>Detected at</th><th>Allocated at</th><th>First freed at</th></tr></thead><tbody>");
            foreach (var row in a.ErrorList)
            {
                html.Append("<tr>");
                Num(html, row.Line, row.Line.ToString(CultureInfo.InvariantCulture));
                html.Append("<td class=\"bad\">").Append(E(row.Message)).Append("</td><td>").Append(E(ReportText.Site(row.Site))).Append("</td><td>")
                    .Append(E(row.AllocatedAt is { } at ? ReportText.Site(at) : "-")).Append("</td><td>")
                    .Append(E(row.FreedAt is { } freed ? ReportText.Site(freed) : "-")).Append("</td></tr>");
            }

            html.Append("</tbody></table>");
        }

        if (a.Problems.Count > 0)
        {
            html.Append("<h2>Problems in the trace file</h2><ul>");
            foreach (var problem in a.Problems)
            {
                html.Append("<li class=\"").Append(problem.LosesEvents ? "bad" : "warn").Append("\">").Append(E(problem.ToString())).Append("</li>");
            }

            html.Append("</ul>");
        }

        html.Append("<footer>Generated by <code>memtrace report</code> from a MemTrace JSON Lines trace.</footer>\n");
        html.Append("<script>").Append(Script).Append("</script></body></html>\n");
        return html.ToString();
    }

    private static List<SvgChart.Series> Series(Dictionary<string, IReadOnlyList<(double Seconds, double Value)>> series) =>
        [.. series.OrderByDescending(p => p.Value.Count == 0 ? 0 : p.Value.Max(v => v.Value)).Select(p => new SvgChart.Series(p.Key, p.Value))];

    private static void Section(StringBuilder html, string title, string caption, string svg) =>
        html.Append("<h2>").Append(E(title)).Append("</h2><p class=\"muted\">").Append(E(caption)).Append("</p>").Append(svg).Append('\n');

    private static void Card(StringBuilder html, string name, string value, string detail, string? tone) =>
        html.Append("<div class=\"card\"><div class=\"k\">").Append(E(name)).Append("</div><div class=\"v").Append(tone is null ? string.Empty : " " + tone).Append("\">")
            .Append(E(value)).Append("</div><div class=\"muted\">").Append(E(detail)).Append("</div></div>");

    private static void SiteTable(StringBuilder html, string title, List<SiteRow> rows)
    {
        html.Append("<h2>").Append(E(title)).Append("</h2><table class=\"sortable\"><thead><tr><th>Call site</th><th class=\"num\">Allocations</th><th class=\"num\">Bytes</th></tr></thead><tbody>");
        foreach (var row in rows)
        {
            html.Append("<tr><td>").Append(E(ReportText.Site(row.Site))).Append("</td>");
            Num(html, row.Blocks, ReportText.Number(row.Blocks));
            Num(html, row.Bytes, ReportText.Bytes(row.Bytes));
            html.Append("</tr>");
        }

        html.Append("</tbody></table>");
    }

    private static void Num(StringBuilder html, long value, string text) =>
        html.Append("<td class=\"num\" data-v=\"").Append(value.ToString(CultureInfo.InvariantCulture)).Append("\">").Append(E(text)).Append("</td>");

    private static void Num(StringBuilder html, ulong value, string text) =>
        html.Append("<td class=\"num\" data-v=\"").Append(value.ToString(CultureInfo.InvariantCulture)).Append("\">").Append(E(text)).Append("</td>");

    private static string E(string text) => WebUtility.HtmlEncode(text);
}

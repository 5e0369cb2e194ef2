// ConsoleReport: the terminal form of `memtrace report`: Spectre.Console tables for the trace,
// peak use, the leaks grouped by call site, the top call sites by bytes and by count, failures,
// errors and the problems found in the file (with their line numbers).
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MemTrace.Cli.Report;

internal static class ConsoleReport
{
    private const int Shown = 20;

    public static void Render(IAnsiConsole console, TraceAnalysis a)
    {
        Show(console, new Rule($"[bold]MemTrace report[/]: {ReportText.Markup(a.Source)}").LeftJustified());
        var overview = Grid();
        overview.AddRow("Trace", $"{ReportText.Count(a.Events, "event")} on {ReportText.Count(a.Lines, "line")}, {ReportText.Bytes(a.Bytes)}, {ReportText.Seconds(a.DurationSeconds)}" + (a.Header is { } h ? $", written by {ReportText.Markup(h.ProcessName ?? "?")} (pid {h.ProcessId})" : string.Empty));
        overview.AddRow("Operations", $"{ReportText.Count(a.Allocations, "allocation")} ({ReportText.Bytes(a.BytesAllocated)}), {ReportText.Count(a.Frees, "free")}, {ReportText.Count(a.Reallocations, "realloc")}"
            + (a.UnknownFrees > 0 ? $"; [yellow]{ReportText.Number(a.UnknownFrees)} of them of blocks not allocated in the trace[/]" : string.Empty));
        overview.AddRow("Peak use", $"[bold]{ReportText.Bytes(a.PeakBytes)}[/] in {ReportText.Count(a.PeakBlocks, "block")} at {ReportText.Seconds(a.PeakSeconds)}");
        overview.AddRow("Live at end", a.LiveBlocksAtEnd == 0 ? "[green]nothing[/]" : $"[yellow]{ReportText.Count(a.LiveBlocksAtEnd, "block")}, {ReportText.Bytes(a.LiveBytesAtEnd)}[/]");
        overview.AddRow("Failures", a.Failures == 0 ? "0" : $"[red]{ReportText.Number(a.Failures)}[/]");
        overview.AddRow("Errors", a.Errors == 0 ? "0" : $"[red]{ReportText.Number(a.Errors)}[/]");
        Show(console, overview);
        console.WriteLine();

        var peak = new Table().Title("Peak use by region").AddColumns("Region", "Peak tracked").AddColumn(new TableColumn("Size").RightAligned()).AddColumn(new TableColumn("Lowest free").RightAligned()).AddColumn(new TableColumn("Largest free block (lowest)").RightAligned());
        foreach (var (name, bytes) in a.PeakByRegion.OrderByDescending(p => p.Value))
        {
            var region = a.Regions.FirstOrDefault(r => r.Name == name);
            peak.AddRow(
                ReportText.Markup(name),
                ReportText.Bytes(bytes),
                region is not null ? ReportText.Bytes(region.Total) : a.UnboundedRegions.Contains(name) ? "unbounded" : "unknown",
                region is null ? "-" : ReportText.Bytes(region.MinimumFree),
                region is null ? "-" : $"{ReportText.Bytes(region.Largest)} ({ReportText.Bytes(region.LowestLargest)})");
        }

        Show(console, peak);
        var byCaps = new Table().Title("Peak use by requested capabilities").AddColumn("Caps").AddColumn(new TableColumn("Peak tracked").RightAligned());
        foreach (var (caps, bytes) in a.PeakByCaps.OrderByDescending(p => p.Value))
        {
            byCaps.AddRow(ReportText.Markup(Wrappable(caps)), ReportText.Bytes(bytes));
        }

        Show(console, byCaps);

        var leaks = new Table().Title($"Blocks live at the end, by call site ({ReportText.Count(a.LiveBlocksAtEnd, "block")}, {ReportText.Bytes(a.LiveBytesAtEnd)})")
            .AddColumn("Allocated at").AddColumn(new TableColumn("Blocks").RightAligned()).AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn("Region, caps").AddColumn(new TableColumn("First req.").RightAligned());
        foreach (var row in a.LeaksBySite.Take(Shown))
        {
            // Region and caps share a column, one under the other: six columns did not fit 80 (a piped report's width)
            // without cutting file names and capability names in the middle.
            leaks.AddRow(ReportText.Markup(ReportText.Site(row.Site)), ReportText.Number(row.Blocks), ReportText.Bytes(row.Bytes), ReportText.Markup(row.Regions) + "\n" + ReportText.Markup(Wrappable(row.Caps)), "#" + row.FirstRequest);
        }

        if (a.LeaksBySite.Count == 0)
        {
            leaks.AddRow("[green]no block is live at the end[/]", string.Empty, string.Empty, string.Empty, string.Empty);
        }

        NoteRowsLeftOut(leaks, a.LeaksBySite.Count);

        Show(console, leaks);
        Show(console, SiteTable("Top call sites by bytes allocated", a.TopSitesByBytes));
        Show(console, SiteTable("Top call sites by allocations", a.TopSitesByCount));

        if (a.Failures > 0)
        {
            var failures = new Table().Title($"Failed allocations ({ReportText.Number(a.Failures)})").AddColumn(new TableColumn("Line").RightAligned()).AddColumn(ReportText.TimeHeading).AddColumn(new TableColumn("Size").RightAligned()).AddColumns("Caps", "Requested at");
            foreach (var row in a.FailureList.Take(Shown))
            {
                failures.AddRow(row.Line.ToString(System.Globalization.CultureInfo.InvariantCulture), ReportText.Time(row.Time), ReportText.Bytes((double)row.Size), ReportText.Markup(Wrappable(row.Caps.ToCapsString())), ReportText.Markup(ReportText.Site(row.Site)));
            }

            NoteRowsLeftOut(failures, a.Failures);
            Show(console, failures);
        }

        if (a.Errors > 0)
        {
            var errors = new Table().Title($"Memory errors ({ReportText.Number(a.Errors)})").AddColumn(new TableColumn("Line").RightAligned()).AddColumns("Error", "Detected at", "Allocated at", "First freed at");
            foreach (var row in a.ErrorList.Take(Shown))
            {
                errors.AddRow(
                    row.Line.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "[red]" + ReportText.Markup(row.Message) + "[/]",
                    ReportText.Markup(ReportText.Site(row.Site)),
                    ReportText.Markup(row.AllocatedAt is { } at ? ReportText.Site(at) : "-"),
                    ReportText.Markup(row.FreedAt is { } freed ? ReportText.Site(freed) : "-"));
            }

            NoteRowsLeftOut(errors, a.Errors);
            Show(console, errors);
        }

    }

    /// <summary>Says under a table how many of its <paramref name="total"/> rows were left out, when it shows only the first <see cref="Shown"/>.</summary>
    private static void NoteRowsLeftOut(Table table, long total)
    {
        if (total > Shown)
        {
            table.Caption($"first {Shown} of {ReportText.Number(total)} shown; --json/--html list up to {TraceAnalysis.ListLimit}");
        }
    }

    /// <summary>
    /// Writes a table or rule in box-drawing characters, or in ASCII when the terminal's encoding cannot show them
    /// (<c>LC_ALL=en_US.ISO-8859-1</c>: Spectre's default borders then came out as rows of question marks).
    /// </summary>
    private static void Show(IAnsiConsole console, IRenderable item)
    {
        if (!console.Profile.Capabilities.Unicode)
        {
            switch (item)
            {
                case Table table:
                    table.Border(TableBorder.Ascii);
                    break;
                case Rule rule:
                    rule.Border = BoxBorder.Ascii;
                    break;
            }
        }

        console.Write(item);
    }

    /// <summary>
    /// Capabilities with a space either side of each <c>|</c>, so that a narrow terminal wraps a long list between two
    /// names (<c>MALLOC_CAP_8BIT |</c> / <c>MALLOC_CAP_INTERNAL</c>) instead of in the middle of one.
    /// </summary>
    private static string Wrappable(string caps) => caps.Replace("|", " | ", StringComparison.Ordinal);

    private static Table SiteTable(string title, List<SiteRow> rows)
    {
        var table = new Table().Title(title).AddColumn("Call site").AddColumn(new TableColumn("Allocations").RightAligned()).AddColumn(new TableColumn("Bytes").RightAligned());
        foreach (var row in rows)
        {
            table.AddRow(ReportText.Markup(ReportText.Site(row.Site)), ReportText.Number(row.Blocks), ReportText.Bytes(row.Bytes));
        }

        return table;
    }

    private static Grid Grid()
    {
        var grid = new Grid();
        grid.AddColumn(new GridColumn().NoWrap().PadRight(2));
        grid.AddColumn();
        return grid;
    }

    private static Grid AddRow(this Grid grid, string name, string markup) => grid.AddRow(new IRenderable[] { new Markup($"[bold]{name}[/]"), new Markup(markup) });
}

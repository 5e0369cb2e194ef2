// `memtrace report`: the terminal tables, --json and --html on the demo's trace, and every kind
// of unusable or damaged input, with its message, line number and exit code.
using System.Text.Json;
using MemTrace.Cli;
using Xunit;

namespace MemTrace.Tests.Cli;

public sealed class ReportCommandTests : IDisposable
{
    private const string Header = "{\"kind\":\"header\",\"format\":\"memtrace-trace\",\"version\":1}";
    private const string Alloc = "{\"kind\":\"alloc\",\"seq\":1,\"time\":\"2026-11-25T14:38:00.001Z\",\"thread\":1,\"addr\":\"0x1000\",\"size\":64,\"caps\":\"MALLOC_CAP_8BIT\",\"req\":1,\"region\":\"DRAM\",\"site\":{\"method\":\"heap_caps_malloc\",\"file\":\"/src/a.cs\",\"line\":3,\"func\":\"Main\",\"var\":\"p\"}}";
    private const string End = "{\"kind\":\"end\",\"events\":1,\"dropped\":0}";

    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-report-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void The_demo_writes_a_trace_that_the_report_reads_without_problems()
    {
        Assert.Equal(0, DemoTrace.DemoExitCode);
        Assert.Contains("(the 8 MiB video_buffer request failed, as intended)", DemoTrace.DemoOutput, StringComparison.Ordinal);

        var (exitCode, console, _, error) = DemoTrace.Report(DemoTrace.Path);

        Assert.Equal(ReportCommand.ExitComplete, exitCode);
        Assert.Equal(string.Empty, error);
        Assert.Contains("Blocks live at the end, by call site (2 blocks, 16.5 KiB)", console, StringComparison.Ordinal);
        Assert.Contains("DemoWorkload.cs:53 in Run (config_table)", console, StringComparison.Ordinal);
        Assert.Contains("DemoWorkload.cs:54 in Run (wifi_rx_buffers)", console, StringComparison.Ordinal);
        Assert.Contains("Top call sites by bytes allocated", console, StringComparison.Ordinal);
        Assert.Contains("Top call sites by allocations", console, StringComparison.Ordinal);
        Assert.Contains("Peak use by region", console, StringComparison.Ordinal);
        Assert.Contains("SPIRAM", console, StringComparison.Ordinal);
        Assert.Contains("Failed allocations (1)", console, StringComparison.Ordinal);
        Assert.Contains("(video_buffer)", console, StringComparison.Ordinal);
        Assert.Contains("Memory errors (1)", console, StringComparison.Ordinal);
        Assert.Contains("double free of 0x", console, StringComparison.Ordinal);
    }

    [Fact]
    public void The_command_line_writes_the_report_to_the_writers_it_is_given()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var exitCode = MemTraceCommand.Run(["report", DemoTrace.Path], output, error);

        Assert.Equal(ReportCommand.ExitComplete, exitCode);
        Assert.Equal(string.Empty, error.ToString());
        Assert.Contains("Blocks live at the end, by call site", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", output.ToString(), StringComparison.Ordinal); // Plain text: no ANSI escapes.

        var json = new StringWriter();
        Assert.Equal(ReportCommand.ExitComplete, MemTraceCommand.Run(["report", DemoTrace.Path, "--json"], json, error));
        using var document = JsonDocument.Parse(json.ToString());
        Assert.Equal(2, document.RootElement.GetProperty("liveAtEnd").GetProperty("blocks").GetInt32());

        var missing = new StringWriter();
        Assert.Equal(ReportCommand.ExitUnusable, MemTraceCommand.Run(["report", Path.Combine(_directory, "none.jsonl")], output, missing));
        Assert.Contains("no such file", missing.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("report")]
    [InlineData("report", "x.jsonl", "--bogus")]
    [InlineData("report", "x.jsonl", "extra")]
    [InlineData("report", "x.jsonl", "--html")]
    [InlineData("demo", "--nope")]
    [InlineData("demo", "--duration", "0")]
    [InlineData("demo", "--duration", "5")]
    [InlineData("demo", "--metrics", "--duration", "abc")]
    [InlineData("demo", "--metrics", "--duration", "99999999999")]
    [InlineData("demo", "--metrics", "--duration", "-5")]
    [InlineData]
    public void A_command_line_that_cannot_be_parsed_exits_with_EX_USAGE_not_a_code_the_commands_use(params string[] args)
    {
        // 1 means the HTML could not be written, 2 unusable input, 3 a partial report: a typo must not look like one of them.
        var error = new StringWriter();
        var output = new StringWriter();

        var exitCode = MemTraceCommand.Run(args, output, error);

        Assert.Equal(MemTraceCommand.ExitUsage, exitCode);
        Assert.Equal(64, exitCode);
        Assert.NotEqual(string.Empty, error.ToString());
        Assert.Equal(string.Empty, output.ToString()); // The help that follows a usage error goes to standard error too.
        Assert.Equal(0, MemTraceCommand.Run(["report", "--help"], new StringWriter(), new StringWriter()));
    }

    [Fact]
    public void Json_output_carries_the_same_figures_for_machines()
    {
        var (exitCode, console, output, _) = DemoTrace.Report(DemoTrace.Path, json: true);

        Assert.Equal(0, exitCode);
        Assert.Equal(string.Empty, console);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.False(root.GetProperty("trace").GetProperty("partial").GetBoolean());
        Assert.True(root.GetProperty("trace").GetProperty("closed").GetBoolean());
        Assert.Equal(2, root.GetProperty("liveAtEnd").GetProperty("blocks").GetInt64());
        Assert.Equal(4096 + (8 * 1600), root.GetProperty("liveAtEnd").GetProperty("bytes").GetInt64());
        var leaks = root.GetProperty("liveAtEnd").GetProperty("bySite").EnumerateArray().Select(s => s.GetProperty("site").GetProperty("variable").GetString()).ToList();
        Assert.Equal(["wifi_rx_buffers", "config_table"], leaks);
        Assert.True(root.GetProperty("totals").GetProperty("allocations").GetInt64() > 1600);
        Assert.Equal(root.GetProperty("totals").GetProperty("allocations").GetInt64() - 2, root.GetProperty("totals").GetProperty("frees").GetInt64());
        Assert.Equal(8 * 1024 * 1024, root.GetProperty("failures")[0].GetProperty("size").GetInt64());
        Assert.Equal("DoubleFree", root.GetProperty("errors")[0].GetProperty("kind").GetString());
        Assert.Equal("scratch", root.GetProperty("errors")[0].GetProperty("allocatedAt").GetProperty("variable").GetString());
        Assert.True(root.GetProperty("peak").GetProperty("bytes").GetInt64() > 64 * 1024);
        Assert.True(root.GetProperty("peak").GetProperty("byRegion").GetProperty("SPIRAM").GetInt64() > 64 * 1024);
        Assert.Contains(root.GetProperty("regions").EnumerateArray(), r => r.GetProperty("name").GetString() == "DRAM" && r.GetProperty("lowestLargestFreeBlock").GetInt64() < r.GetProperty("largestFreeBlock").GetInt64());
        Assert.True(root.GetProperty("sizeHistogram").GetArrayLength() >= 5);

        // Times are written as the trace writes them, and a failure's is its line's.
        const string TraceTime = @"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$";
        Assert.Matches(TraceTime, root.GetProperty("start").GetString());
        var failure = root.GetProperty("failures")[0];
        var failedLine = File.ReadLines(DemoTrace.Path).ElementAt(failure.GetProperty("line").GetInt32() - 1);
        Assert.Contains($"\"time\":\"{failure.GetProperty("time").GetString()}\"", failedLine, StringComparison.Ordinal);
        Assert.Matches(TraceTime, root.GetProperty("errors")[0].GetProperty("time").GetString());
        Assert.All(root.GetProperty("checkpoints").EnumerateArray(), c => Assert.Matches(TraceTime, c.GetProperty("time").GetString()));
    }

    [Fact]
    public void Html_output_is_one_self_contained_page_with_four_kinds_of_chart_and_the_leak_table()
    {
        var html = Path.Combine(_directory, "report.html");

        var (exitCode, console, _, _) = DemoTrace.Report(DemoTrace.Path, html);

        Assert.Equal(0, exitCode);
        Assert.Contains("HTML report written to", console, StringComparison.Ordinal);
        var page = File.ReadAllText(html);
        Assert.Contains("Memory in use over time, by region", page, StringComparison.Ordinal);
        Assert.Contains("Memory in use over time, by requested capabilities", page, StringComparison.Ordinal);
        Assert.Contains("Largest free block over time (fragmentation)", page, StringComparison.Ordinal);
        Assert.Contains("Allocation sizes", page, StringComparison.Ordinal);
        Assert.True(page.Split("<svg class=\"chart\"").Length - 1 >= 6, "expected the in-use, caps, per-region fragmentation and histogram charts");
        Assert.Contains("<table id=\"leaks\"", page, StringComparison.Ordinal);
        Assert.Contains("DemoWorkload.cs:53 in Run (config_table)", page, StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", page, StringComparison.Ordinal);
        Assert.DoesNotContain(" src=", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<link", page, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", page, StringComparison.Ordinal);
    }

    [Fact]
    public void The_html_sort_key_of_an_overflowing_calloc_is_its_unsigned_size()
    {
        // A calloc whose size overflowed is logged as nuint.MaxValue bytes: as a signed key it sorted below every other failure.
        var failed = "{\"kind\":\"failed\",\"seq\":2,\"size\":18446744073709551615,\"caps\":\"MALLOC_CAP_8BIT\"}";
        var trace = Write("overflow.jsonl", string.Join('\n', Header, Alloc, failed, End) + "\n");
        var html = Path.Combine(_directory, "overflow.html");

        var (exitCode, _, _, _) = DemoTrace.Report(trace, html);

        Assert.Equal(0, exitCode);
        var page = File.ReadAllText(html);
        Assert.Contains("<td class=\"num\" data-v=\"18446744073709551615\">16.00 EiB</td>", page, StringComparison.Ordinal);
        Assert.DoesNotContain("data-v=\"-", page, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void Counts_of_one_are_written_in_the_singular_in_the_terminal_and_the_page()
    {
        var trace = Path.Combine(_directory, "one-of-each.jsonl");
        using (var writer = new MemTrace.Diagnostics.TraceFileWriter(trace))
        using (var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null }))
        using (var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = writer, SnapshotInterval = TimeSpan.Zero }))
        {
            tracker.Malloc(out byte* p, 64, MallocCaps.Bit8);
            tracker.Realloc(ref p, 128, MallocCaps.Bit8);
            tracker.Free(ref p);
            tracker.Malloc(out byte* kept, 32, MallocCaps.Bit8); // Live at the end: one block.
        }

        var html = Path.Combine(_directory, "one-of-each.html");
        var (exitCode, console, _, _) = DemoTrace.Report(trace, html);

        Assert.Equal(0, exitCode);
        Assert.Contains("2 allocations (96 B), 1 free, 1 realloc", console, StringComparison.Ordinal);
        Assert.Contains("in 1 block at", console, StringComparison.Ordinal);
        Assert.Contains("1 block, 32 B", console, StringComparison.Ordinal);
        var page = File.ReadAllText(html);
        Assert.Contains(">1 realloc<", page, StringComparison.Ordinal);
        Assert.DoesNotContain(" 1 blocks", page + console, StringComparison.Ordinal);
        Assert.DoesNotContain(" 1 reallocs", page + console, StringComparison.Ordinal);
    }

    [Fact]
    public void At_80_columns_the_tables_wrap_between_words_not_inside_capability_or_file_names()
    {
        // A piped report is 80 columns wide: the leaks table cut "MALLOC_CAP_8BI|T|MALLOC_CAP_I|NTERNAL" and
        // "DemoWorkload.c|s:53" across lines.
        var (console, text) = DemoTrace.Console();
        console.Profile.Width = 80;

        var exitCode = ReportCommand.Run(DemoTrace.Path, null, false, console, new MemoryStream(), new StringWriter());

        Assert.Equal(ReportCommand.ExitComplete, exitCode);
        var report = text.ToString();
        Assert.All(report.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 80, line));
        foreach (var whole in new[] { "MALLOC_CAP_INTERNAL", "MALLOC_CAP_8BIT", "MALLOC_CAP_DMA", "DemoWorkload.cs:53", "DemoWorkload.cs:54", "(wifi_rx_buffers)", "(config_table)" })
        {
            Assert.Contains(whole, report, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("MALLOC_CAP_8BI ", report, StringComparison.Ordinal);
        Assert.DoesNotContain("DemoWorkload.c ", report, StringComparison.Ordinal);
    }

    [Fact]
    public void A_terminal_that_cannot_show_box_drawing_characters_gets_ascii_borders()
    {
        var (console, text) = DemoTrace.Console();
        console.Profile.Capabilities.Unicode = false; // As Spectre finds a terminal whose encoding is ISO-8859-1.

        var exitCode = ReportCommand.Run(DemoTrace.Path, null, false, console, new MemoryStream(), new StringWriter());

        Assert.Equal(ReportCommand.ExitComplete, exitCode);
        var report = text.ToString();
        Assert.Contains("| Region ", report, StringComparison.Ordinal);
        Assert.Contains("-- MemTrace report", report, StringComparison.Ordinal);
        Assert.DoesNotContain(report, c => c > '\u007F' && c != '\u2060');
    }

    [Fact]
    public void Failure_times_are_shown_in_utc_under_a_heading_that_says_so()
    {
        // The trace's times are UTC and the report shows them so; ConsoleSink and most logs show local time, so a bare
        // "Time" heading left a reader east or west of Greenwich hours away from the same event in their log.
        var failed = "{\"kind\":\"failed\",\"seq\":2,\"time\":\"2026-11-25T14:38:00.250Z\",\"size\":100,\"caps\":\"MALLOC_CAP_8BIT\"}";
        var trace = Write("failure-time.jsonl", string.Join('\n', Header, Alloc, failed, End) + "\n");
        var html = Path.Combine(_directory, "failure-time.html");

        var (exitCode, console, _, _) = DemoTrace.Report(trace, html);

        Assert.Equal(0, exitCode);
        var row = Assert.Single(console.Split('\n'), l => l.Contains("14:38:00.250", StringComparison.Ordinal));
        Assert.Contains(" 3 ", row, StringComparison.Ordinal); // The failure's line.
        Assert.Contains("│ Time (UTC) ", console, StringComparison.Ordinal);
        var page = File.ReadAllText(html);
        Assert.Contains("<th>Time (UTC)</th>", page, StringComparison.Ordinal);
        Assert.Contains("<td>14:38:00.250</td>", page, StringComparison.Ordinal);
    }

    [Fact]
    public void A_terminal_table_cut_at_twenty_rows_says_how_many_it_left_out()
    {
        var failures = Enumerable.Range(2, 25).Select(seq => $"{{\"kind\":\"failed\",\"seq\":{seq},\"size\":{100 + seq},\"caps\":\"MALLOC_CAP_8BIT\"}}");
        var trace = Write("many-failures.jsonl", string.Join('\n', [Header, Alloc, .. failures, End]) + "\n");

        var (exitCode, console, _, _) = DemoTrace.Report(trace);

        Assert.Equal(0, exitCode);
        Assert.Contains("Failed allocations (25)", console, StringComparison.Ordinal);
        Assert.Contains("first 20 of 25 shown; --json/--html list up to 200", console, StringComparison.Ordinal);
        Assert.Single(console.Split('\n'), l => l.Contains("shown; --json/--html", StringComparison.Ordinal)); // One leak row: nothing left out there.
    }

    [Fact]
    public void An_html_path_that_names_the_trace_itself_does_not_overwrite_it()
    {
        // `memtrace report t.jsonl --html t.jsonl` replaced the trace with the page, and said all went well.
        var text = string.Join('\n', Header, Alloc, End) + "\n";
        var trace = Write("self.jsonl", text);
        var link = Path.Combine(_directory, "link.html");
        File.CreateSymbolicLink(link, trace);

        foreach (var html in new[] { trace, Path.Combine(_directory, ".", "self.jsonl"), link })
        {
            var (exitCode, console, _, error) = DemoTrace.Report(trace, html);

            Assert.Equal(ReportCommand.ExitOutputFailed, exitCode);
            Assert.Contains($"memtrace: cannot write '{html}': it is the trace being reported on.", error, StringComparison.Ordinal);
            Assert.Contains("Blocks live at the end", console, StringComparison.Ordinal); // The tables are still shown.
            Assert.Equal(text, File.ReadAllText(trace));
        }
    }

    [Fact]
    public void An_html_path_that_is_a_directory_is_named_as_one()
    {
        // It said "Access to the path '...' is denied.", as if permissions were at fault.
        var trace = Write("t.jsonl", string.Join('\n', Header, Alloc, End) + "\n");

        var (exitCode, _, _, error) = DemoTrace.Report(trace, _directory);

        Assert.Equal(ReportCommand.ExitOutputFailed, exitCode);
        Assert.Equal($"memtrace: cannot write '{_directory}': it is a directory.", error.Trim());
    }

    [Fact]
    public void A_missing_file_is_unusable_with_a_clear_message()
    {
        var (exitCode, console, _, error) = DemoTrace.Report(Path.Combine(_directory, "nope.jsonl"));

        Assert.Equal(ReportCommand.ExitUnusable, exitCode);
        Assert.Contains("nope.jsonl': no such file.", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, console);
    }

    [Fact]
    public void A_directory_is_unusable_with_a_clear_message()
    {
        var (exitCode, _, _, error) = DemoTrace.Report(_directory);

        Assert.Equal(ReportCommand.ExitUnusable, exitCode);
        Assert.Contains("memtrace: cannot read '" + _directory + "': it is a directory, not a trace file.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_file_is_unusable()
    {
        var (exitCode, console, _, error) = DemoTrace.Report(Write("empty.jsonl", string.Empty));

        Assert.Equal(ReportCommand.ExitUnusable, exitCode);
        Assert.Contains("the trace is empty", error, StringComparison.Ordinal);
        Assert.Contains("is not a usable trace: the file is empty.", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, console);
    }

    [Fact]
    public void A_file_that_is_not_a_trace_is_unusable_and_its_lines_are_named()
    {
        var (exitCode, _, _, error) = DemoTrace.Report(Write("notes.txt", "shopping list\nmilk\n"));

        Assert.Equal(ReportCommand.ExitUnusable, exitCode);
        Assert.Contains("notes.txt: error: line 1: not valid JSON", error, StringComparison.Ordinal);
        Assert.Contains("notes.txt: error: line 2: not valid JSON", error, StringComparison.Ordinal);
        Assert.Contains("none of its 2 lines is a MemTrace event", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_file_with_no_event_is_not_called_a_partial_report_nor_sent_to_json_for_more(bool json)
    {
        // A pretty-printed JSON file given by mistake (a --json report): 30 lines, none a MemTrace event.
        var notTrace = Write("report.json", "{\n" + string.Concat(Enumerable.Range(1, 28).Select(i => $"  \"k{i}\": {i},\n")) + "}\n");

        var (exitCode, _, output, error) = DemoTrace.Report(notTrace, json: json);

        Assert.Equal(ReportCommand.ExitUnusable, exitCode);
        Assert.Equal(string.Empty, output); // No report, --json or not.
        Assert.Contains("more problems.", error, StringComparison.Ordinal);
        Assert.DoesNotContain("--json lists", error, StringComparison.Ordinal);
        Assert.DoesNotContain("the report is partial", error, StringComparison.Ordinal);
        Assert.Contains("none of its 30 lines is a MemTrace event", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Corrupt_lines_and_unknown_kinds_give_a_partial_report_with_their_line_numbers()
    {
        var trace = Write("partial.jsonl", string.Join('\n', Header, Alloc, "{\"kind\":\"alloc\",\"addr\":", "{\"kind\":\"warp\"}", End) + "\n");

        var (exitCode, console, _, error) = DemoTrace.Report(trace);

        Assert.Equal(ReportCommand.ExitPartial, exitCode);
        Assert.Contains("error: line 3: not valid JSON", error, StringComparison.Ordinal);
        Assert.Contains("error: line 4: unknown event kind 'warp'; line skipped", error, StringComparison.Ordinal);
        Assert.Contains("the report is partial: 2 lines could not be read", error, StringComparison.Ordinal);
        Assert.Contains("a.cs:3 in Main (p)", console, StringComparison.Ordinal); // The report itself is still made.
    }

    [Fact]
    public void Dropped_events_make_the_report_partial()
    {
        var trace = Write("dropped.jsonl", string.Join('\n', Header, Alloc, "{\"kind\":\"dropped\",\"count\":5,\"reason\":\"full\"}", End) + "\n");

        var (exitCode, _, output, error) = DemoTrace.Report(trace, json: true);

        Assert.Equal(ReportCommand.ExitPartial, exitCode);
        Assert.Contains("line 3: the writer dropped 5 events here", error, StringComparison.Ordinal);
        Assert.Equal(5, JsonDocument.Parse(output).RootElement.GetProperty("trace").GetProperty("droppedEvents").GetInt64());
    }

    [Fact]
    public void A_torn_last_line_is_a_warning_and_the_report_is_complete()
    {
        var trace = Write("torn.jsonl", string.Join('\n', Header, Alloc, Alloc[..30]));

        var (exitCode, console, _, error) = DemoTrace.Report(trace);

        Assert.Equal(ReportCommand.ExitComplete, exitCode);
        Assert.Contains("torn.jsonl: warning: line 3: the last line is incomplete", error, StringComparison.Ordinal);
        Assert.Contains("note: the trace has no end line", error, StringComparison.Ordinal);
        Assert.Contains("1 block, 64 B", console, StringComparison.Ordinal);
    }

    [Fact]
    public void An_html_file_that_cannot_be_written_fails_with_exit_code_1()
    {
        var trace = Write("ok.jsonl", string.Join('\n', Header, Alloc, End) + "\n");

        var (exitCode, _, _, error) = DemoTrace.Report(trace, Path.Combine(_directory, "no-such-dir", "r.html"));

        Assert.Equal(ReportCommand.ExitOutputFailed, exitCode);
        Assert.Contains("memtrace: cannot write", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_memtrace_command_line_runs_demo_with_trace_then_report_as_the_README_shows()
    {
        var root = _directory;
        var cli = Path.Combine(AppContext.BaseDirectory, "MemTrace.Cli.dll");
        var demo = MemTrace.Tests.Diagnostics.ChildProcess.Run("dotnet", [cli, "demo", "--trace", "out.jsonl"], root, TimeSpan.FromSeconds(90));
        Assert.True(demo.ExitCode == 0, demo.Output + demo.Error);

        var report = MemTrace.Tests.Diagnostics.ChildProcess.Run("dotnet", [cli, "report", "out.jsonl", "--html", "report.html"], root, TimeSpan.FromSeconds(90));
        Assert.True(report.ExitCode == 0, report.Output + report.Error);
        Assert.Contains("Blocks live at the end", report.Output, StringComparison.Ordinal);
        Assert.True(new FileInfo(Path.Combine(root, "report.html")).Length > 10_000);

        var missing = MemTrace.Tests.Diagnostics.ChildProcess.Run("dotnet", [cli, "report", "missing.jsonl"], root, TimeSpan.FromSeconds(90));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no such file", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Control_characters_from_the_trace_never_reach_the_terminal()
    {
        // A trace is input: an ESC or BEL in a kind or a site name must not retitle the window or recolour the terminal.
        var hostileSite = Alloc.Replace("\"func\":\"Main\"", "\"func\":\"Main\\u001b[31mRED\\u0007\"", StringComparison.Ordinal);
        var path = Write("hostile.jsonl", string.Join('\n', Header, hostileSite, "{\"kind\":\"w\\u001b]0;PWNED\\u0007\"}", End) + "\n");

        var (exitCode, console, _, error) = DemoTrace.Report(path);

        Assert.Equal(ReportCommand.ExitPartial, exitCode);
        Assert.DoesNotContain('\u001b', console);
        Assert.DoesNotContain('\u0007', console);
        Assert.DoesNotContain('\u001b', error);
        Assert.DoesNotContain('\u0007', error);
        Assert.Contains("Main\uFFFD[31mRED\uFFFD", console, StringComparison.Ordinal);
        Assert.Contains("unknown event kind 'w\uFFFD]0;PWNED\uFFFD'", error, StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}

public sealed class ReportProgressTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-progress-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_large_trace_shows_a_progress_bar_on_an_interactive_terminal_only()
    {
        var path = Path.Combine(_directory, "large.jsonl");
        using (var file = new StreamWriter(path))
        {
            file.WriteLine("{\"kind\":\"header\",\"format\":\"memtrace-trace\",\"version\":1}");
            for (var i = 0; i < 40_000; i++)
            {
                var kind = i % 2 == 0 ? "alloc" : "free";
                file.WriteLine($"{{\"kind\":\"{kind}\",\"seq\":{i + 1},\"time\":\"2026-11-25T14:38:00.001Z\",\"thread\":1,\"addr\":\"0x{0x1000 + (i / 2 * 64):x}\",\"size\":64,\"caps\":\"MALLOC_CAP_8BIT\",\"req\":{(i / 2) + 1},\"region\":\"DRAM\",\"site\":{{\"method\":\"heap_caps_malloc\",\"file\":\"/home/dev/firmware/src/network/PacketQueue.cs\",\"line\":118,\"func\":\"Enqueue\",\"var\":\"packet\"}}}}");
            }
        }

        Assert.True(new FileInfo(path).Length >= ReportCommand.ProgressThreshold);
        var text = new StringWriter();
        var interactive = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Ansi = Spectre.Console.AnsiSupport.Yes,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Interactive = Spectre.Console.InteractionSupport.Yes,
            Out = new Spectre.Console.AnsiConsoleOutput(text),
        });

        var exitCode = ReportCommand.Run(path, null, false, interactive, new MemoryStream(), new StringWriter());
        var (plainExit, plain, _, _) = DemoTrace.Report(path);

        Assert.Equal(0, exitCode);
        Assert.Contains("Reading large.jsonl", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("%", text.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, plainExit);
        Assert.DoesNotContain("Reading large.jsonl", plain, StringComparison.Ordinal);
    }
}

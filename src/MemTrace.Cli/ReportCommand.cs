// `memtrace report TRACE.jsonl [--html FILE] [--json]`: reads a trace in one streaming pass and
// shows peak use, the blocks live at the end grouped by call site, the top call sites, failures
// and errors — as tables, as JSON, and as an HTML page with charts.
//
// Exit codes: 0 the report is complete (a torn last line, normal after a crash, is only a
// warning); 3 a report was made but lines were unreadable or the writer dropped events, so it
// is partial; 2 the input is unusable (missing, unreadable, empty, no event in it); 1 the HTML
// file could not be written; 64 (MemTraceCommand.ExitUsage) the command line could not be parsed. Problems go
// to standard error with their line numbers.
using System.CommandLine;
using MemTrace.Cli.Report;
using MemTrace.Diagnostics;
using Spectre.Console;

namespace MemTrace.Cli;

/// <summary>The <c>report</c> command.</summary>
internal static class ReportCommand
{
    public const int ExitComplete = 0;
    public const int ExitOutputFailed = 1;
    public const int ExitUnusable = 2;
    public const int ExitPartial = 3;

    /// <summary>Traces at least this large show a progress bar on an interactive terminal.</summary>
    public const long ProgressThreshold = 8L * 1024 * 1024;

    private const int ProblemsShown = 20;

    public static Command Create()
    {
        var trace = new Argument<string>("trace") { Description = "A JSON Lines trace written by MemTrace (memtrace demo --trace FILE, or TraceFileWriter)." };
        var html = new Option<string?>("--html") { Description = "Also write a self-contained HTML page with charts to this file." };
        var json = new Option<bool>("--json") { Description = "Write the report as JSON on standard output instead of tables." };
        var command = new Command("report", "Report on a trace: peak use, leaks by call site, top call sites, failures and errors; --html for charts.")
        {
            trace,
            html,
            json,
        };
        command.SetAction(result =>
        {
            var output = result.InvocationConfiguration.Output;
            var error = result.InvocationConfiguration.Error;
            var path = result.GetValue(trace)!;
            if (ReferenceEquals(output, Console.Out))
            {
                // The process's own standard output: JSON goes to the raw stream, tables to the terminal (colours, progress bar).
                using var stdout = Console.OpenStandardOutput();
                return Run(path, result.GetValue(html), result.GetValue(json), AnsiConsole.Console, stdout, error);
            }

            return RunToWriter(path, result.GetValue(html), result.GetValue(json), output, error);
        });
        return command;
    }

    /// <summary>Runs the report with a caller's writer as standard output (a host that embeds the command, or a test): plain text, no progress bar.</summary>
    private static int RunToWriter(string tracePath, string? htmlPath, bool json, TextWriter output, TextWriter error)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        using var buffer = new MemoryStream(); // The JSON report, small and bounded whatever the trace's size.
        var exitCode = Run(tracePath, htmlPath, json, console, buffer, error);
        if (buffer.Length > 0)
        {
            output.Write(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        }

        output.Flush();
        return exitCode;
    }

    /// <summary>Runs the report; returns the exit code.</summary>
    public static int Run(string tracePath, string? htmlPath, bool json, IAnsiConsole console, Stream standardOutput, TextWriter standardError)
    {
        if (Directory.Exists(tracePath))
        {
            standardError.WriteLine($"memtrace: cannot read '{tracePath}': it is a directory, not a trace file.");
            return ExitUnusable;
        }

        TraceReader reader;
        try
        {
            reader = TraceReader.Open(tracePath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            standardError.WriteLine($"memtrace: cannot read '{tracePath}': no such file.");
            return ExitUnusable;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            standardError.WriteLine($"memtrace: cannot read '{tracePath}': {e.Message}");
            return ExitUnusable;
        }

        TraceAnalysis analysis;
        using (reader)
        {
            try
            {
                var showProgress = !json && console.Profile.Capabilities.Interactive && reader.Length >= ProgressThreshold;
                analysis = showProgress ? AnalyzeWithProgress(console, reader, tracePath) : TraceAnalyzer.Analyze(reader, tracePath);
            }
            catch (IOException e)
            {
                standardError.WriteLine($"memtrace: reading '{tracePath}' failed at line {reader.LineNumber + 1}: {e.Message}");
                return ExitUnusable;
            }
        }

        WriteProblems(standardError, analysis);
        if (analysis.Events == 0)
        {
            var why = analysis.Lines == 0 ? "the file is empty" : $"none of its {analysis.Lines} lines is a MemTrace event";
            standardError.WriteLine($"memtrace: '{tracePath}' is not a usable trace: {why}.");
            return ExitUnusable;
        }

        if (json)
        {
            JsonReport.Write(standardOutput, analysis);
            standardOutput.Flush();
        }
        else
        {
            ConsoleReport.Render(console, analysis);
        }

        if (htmlPath is not null)
        {
            if (IsSameFile(htmlPath, tracePath))
            {
                standardError.WriteLine($"memtrace: cannot write '{htmlPath}': it is the trace being reported on.");
                return ExitOutputFailed;
            }

            if (Directory.Exists(htmlPath))
            {
                standardError.WriteLine($"memtrace: cannot write '{htmlPath}': it is a directory.");
                return ExitOutputFailed;
            }

            try
            {
                File.WriteAllText(htmlPath, HtmlReport.Render(analysis));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                standardError.WriteLine($"memtrace: cannot write '{htmlPath}': {e.Message}");
                return ExitOutputFailed;
            }

            if (!json)
            {
                console.MarkupLine($"HTML report written to [bold]{Markup.Escape(htmlPath)}[/]");
            }
        }

        return analysis.IsPartial ? ExitPartial : ExitComplete;
    }

    /// <summary>Whether two paths name one file, through symbolic links: the HTML page must not overwrite the trace it is made from.</summary>
    private static bool IsSameFile(string first, string second)
    {
        try
        {
            var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            return string.Equals(FinalPath(first), FinalPath(second), comparison);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return false; // The write that follows reports what is wrong with the path.
        }

        static string FinalPath(string path) => File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
    }

    private static TraceAnalysis AnalyzeWithProgress(IAnsiConsole console, TraceReader reader, string tracePath)
    {
        TraceAnalysis? analysis = null;
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("Reading " + Markup.Escape(Path.GetFileName(tracePath)), maxValue: reader.Length ?? 1);
                analysis = TraceAnalyzer.Analyze(reader, tracePath, (position, _) => task.Value = position);
            });
        return analysis!;
    }

    private static void WriteProblems(TextWriter error, TraceAnalysis analysis)
    {
        foreach (var problem in analysis.Problems.Take(ProblemsShown))
        {
            var severity = problem.LosesEvents ? "error" : "warning";
            error.WriteLine($"memtrace: {analysis.Source}: {severity}: {ReportText.Printable(problem.ToString())}");
        }

        if (analysis.ProblemCount > ProblemsShown)
        {
            // With no event there is no report, in --json either: pointing there would send the reader nowhere.
            var more = analysis.Events > 0 ? $" (--json lists the first {TraceReaderOptionsLimit})" : string.Empty;
            error.WriteLine($"memtrace: {analysis.Source}: … and {analysis.ProblemCount - ProblemsShown} more problems{more}.");
        }

        if (!analysis.HasEnd && analysis.Events > 0)
        {
            error.WriteLine($"memtrace: {analysis.Source}: note: the trace has no end line: its writer did not close it (killed, or still running).");
        }

        if (analysis.IsPartial && analysis.Events > 0) // With no event, no report is made: the unusable-trace line says why.
        {
            error.WriteLine($"memtrace: {analysis.Source}: the report is partial: {ReportText.Count(analysis.BadLines, "line")} could not be read and the writer dropped {ReportText.Count(analysis.DroppedEvents, "event")}.");
        }
    }

    private static int TraceReaderOptionsLimit => new TraceReaderOptions().MaxProblemsKept;
}

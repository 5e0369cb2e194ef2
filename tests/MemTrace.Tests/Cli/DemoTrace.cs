// One trace of `memtrace demo --trace`, made once per test run and shared by the report tests
// (the demo's workload takes about a second and a half); kept in TestArtifacts/ as demo.jsonl.
using MemTrace.Cli;
using Spectre.Console;

namespace MemTrace.Tests.Cli;

internal static class DemoTrace
{
    private static readonly Lazy<(string Path, int ExitCode, string Output)> s_trace = new(Create);

    public static string Path => s_trace.Value.Path;

    public static int DemoExitCode => s_trace.Value.ExitCode;

    public static string DemoOutput => s_trace.Value.Output;

    /// <summary>A console that records plain text, wide enough that tables do not wrap.</summary>
    public static (IAnsiConsole Console, StringWriter Text) Console()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(text),
        });
        console.Profile.Width = 220;
        return (console, text);
    }

    /// <summary>Runs `memtrace report` in process; returns the exit code, what went to the console, standard output and standard error.</summary>
    public static (int ExitCode, string Console, string Output, string Error) Report(string trace, string? html = null, bool json = false)
    {
        var (console, text) = Console();
        var output = new MemoryStream();
        var error = new StringWriter();
        var exitCode = ReportCommand.Run(trace, html, json, console, output, error);
        return (exitCode, text.ToString(), System.Text.Encoding.UTF8.GetString(output.ToArray()), error.ToString());
    }

    private static (string, int, string) Create()
    {
        // In the test output folder, replaced by each run (nothing piles up in the temporary folder).
        var directory = Directory.CreateDirectory(System.IO.Path.Combine(AppContext.BaseDirectory, "TestArtifacts")).FullName;
        var path = System.IO.Path.Combine(directory, "demo.jsonl");
        var output = new StringWriter();
        var exitCode = DemoCommand.Run(output, HeapLayout.FromName(LayoutOption.DefaultName), path);
        return (path, exitCode, output.ToString());
    }
}

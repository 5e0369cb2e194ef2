using MemTrace.Cli;
using Xunit;

namespace MemTrace.Tests.Cli;

public class DemoCommandTests
{
    [Fact]
    public void The_demo_runs_the_seeds_example_step_by_step()
    {
        var output = new StringWriter();

        var exitCode = DemoCommand.Run(output);

        var text = output.ToString();
        Assert.Equal(0, exitCode);
        Assert.Contains("buffer holds: \"Hello from memory tracking!\"", text, StringComparison.Ordinal);
        Assert.Contains("Total: 2 live blocks, 768 bytes", text, StringComparison.Ordinal);
        Assert.Contains("Total: 1 live block, 512 bytes", text, StringComparison.Ordinal);
        Assert.Contains("Total: 0 live blocks, 0 bytes", text, StringComparison.Ordinal);
        Assert.Contains("buffer is now NULL", text, StringComparison.Ordinal);
        Assert.Contains("debug_string is now NULL", text, StringComparison.Ordinal);
        Assert.Contains("debug_string", text, StringComparison.Ordinal);
        Assert.Contains("MALLOC_CAP_SPIRAM", text, StringComparison.Ordinal);
        Assert.Contains("[demo] Memory info", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("Total: 2 live", StringComparison.Ordinal) < text.IndexOf("Total: 1 live", StringComparison.Ordinal));
    }

    [Fact]
    public void With_metrics_the_demo_keeps_traffic_failures_and_errors_going_for_the_duration_without_printing_them()
    {
        var output = new StringWriter();
        var started = Environment.TickCount64;

        var exitCode = DemoCommand.RunWithMetrics(output, HeapLayout.FromName(LayoutOption.DefaultName), null, TimeSpan.FromMilliseconds(600), TestContext.Current.CancellationToken);

        var text = output.ToString();
        Assert.Equal(0, exitCode);
        Assert.True(Environment.TickCount64 - started >= 600);
        Assert.Contains($"== metrics: meter 'MemTrace' of process {Environment.ProcessId}", text, StringComparison.Ordinal);
        Assert.Contains("dotnet-counters monitor -p", text, StringComparison.Ordinal);
        var summary = System.Text.RegularExpressions.Regex.Match(text, @"== metrics: (\d+) allocations, (\d+) failed, (\d+) memory errors");
        Assert.True(summary.Success, text);
        Assert.True(int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 500);
        Assert.True(int.Parse(summary.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) >= 2);
        Assert.True(int.Parse(summary.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) >= 2);
        Assert.DoesNotContain("double free", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("video_buffer", text, StringComparison.Ordinal);
    }

    [Fact]
    public void With_metrics_the_demo_stops_early_when_asked()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var started = Environment.TickCount64;

        var exitCode = DemoCommand.RunWithMetrics(TextWriter.Null, HeapLayout.FromName(LayoutOption.DefaultName), null, TimeSpan.FromMinutes(5), stop.Token);

        Assert.Equal(0, exitCode);
        Assert.True(Environment.TickCount64 - started < 60_000);
    }
}

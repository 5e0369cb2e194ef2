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
    public void The_listings_name_each_blocks_variable_in_its_own_row()
    {
        var output = new StringWriter();

        Assert.Equal(0, DemoCommand.Run(output));

        var listings = Listings(output.ToString());
        Assert.Equal(3, listings.Count);

        // After two allocations: request 1 is `buffer` (256 bytes, 8BIT), request 2 `debug_string` (512 bytes, SPIRAM).
        Assert.Equal(2, listings[0].Count);
        AssertRow(listings[0][0], 1, 256, "MALLOC_CAP_8BIT", "buffer");
        AssertRow(listings[0][1], 2, 512, "MALLOC_CAP_SPIRAM", "debug_string");

        // After freeing `buffer`: only `debug_string` is left; then nothing.
        AssertRow(Assert.Single(listings[1]), 2, 512, "MALLOC_CAP_SPIRAM", "debug_string");
        Assert.Empty(listings[2]);
    }

    /// <summary>The rows of each listing: the lines between a listing's column header and its totals line.</summary>
    private static List<List<string[]>> Listings(string text)
    {
        var listings = new List<List<string[]>>();
        List<string[]>? current = null;
        foreach (var line in text.Split('\n'))
        {
            var fields = line.TrimEnd('\r').Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields is ["#", "address", ..])
            {
                current = [];
                listings.Add(current);
            }
            else if (fields is ["Total:", ..])
            {
                current = null;
            }
            else if (current is not null)
            {
                current.Add(fields);
            }
        }

        return listings;
    }

    private static void AssertRow(string[] row, int request, int size, string caps, string variable)
    {
        Assert.Equal(request.ToString(System.Globalization.CultureInfo.InvariantCulture), row[0]);
        Assert.StartsWith("0x", row[1], StringComparison.Ordinal);
        Assert.Equal(size.ToString(System.Globalization.CultureInfo.InvariantCulture), row[2]);
        Assert.Equal(caps, row[3]);
        Assert.Equal("heap_caps_calloc", row[4]);
        Assert.Matches(@"^DemoCommand\.cs:\d+$", row[5]);
        Assert.Equal(variable, row[^1]);
    }

    [Fact]
    public void With_metrics_the_demo_keeps_traffic_failures_and_errors_going_for_the_duration_without_printing_them()
    {
        var output = new StringWriter();
        var started = Environment.TickCount64;

        // 1.5 s: the traffic runs in rounds of 50 allocations with a 50 ms pause, a failure and a double free every fifth
        // round; "more than 500 allocations" needs 9 rounds, which 600 ms only gave with rounds of at most 66 ms (about
        // 11 rounds unloaded), too tight for a loaded machine.
        var exitCode = DemoCommand.RunWithMetrics(output, HeapLayout.FromName(LayoutOption.DefaultName), null, TimeSpan.FromMilliseconds(1500), TestContext.Current.CancellationToken);

        var text = output.ToString();
        Assert.Equal(0, exitCode);
        Assert.True(Environment.TickCount64 - started >= 1500);
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

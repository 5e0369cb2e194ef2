// The meter as operators see it: the real dotnet-counters tool (a local tool of this repository,
// .config/dotnet-tools.json) attached to a running process reads MemTrace's instruments.
using System.Text.Json;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public sealed class DotnetCountersTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-counters-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Dotnet_counters_reads_the_MemTrace_meter_of_a_running_program()
    {
        var root = ChildProcess.RepositoryRoot();
        var restore = ChildProcess.Run("dotnet", ["tool", "restore"], root, TimeSpan.FromMinutes(3));
        Assert.True(restore.ExitCode == 0, "dotnet tool restore failed: " + restore.Output + restore.Error);

        var (host, first) = ChildProcess.StartHost("metrics-demo", "40");
        using (host)
        {
            try
            {
                Assert.StartsWith("ready ", first, StringComparison.Ordinal);
                var output = Path.Combine(_directory, "counters.json");
                string[] arguments = ["tool", "run", "dotnet-counters", "collect", "-p", host.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--counters", "MemTrace", "--format", "json", "-o", output, "--refresh-interval", "1", "--duration", "00:00:00:03"];
                var collect = ChildProcess.Run("dotnet", arguments, root, TimeSpan.FromSeconds(90));
                Assert.True(collect.ExitCode == 0 && File.Exists(output), "dotnet-counters failed: " + collect.Output + collect.Error);

                using var json = JsonDocument.Parse(File.ReadAllText(output));
                var values = json.RootElement.GetProperty("Events").EnumerateArray()
                    .Where(e => e.GetProperty("provider").GetString() == "MemTrace")
                    .Select(e => (Name: e.GetProperty("name").GetString()!, Tags: e.GetProperty("tags").GetString()!, Value: e.GetProperty("value").GetDouble()))
                    .ToList();

                // The scenario keeps 100 blocks of 1000 bytes live and churns small ones around them.
                Assert.Contains(values, v => v.Name.StartsWith("memtrace.live.bytes", StringComparison.Ordinal) && v.Value is >= 100_000 and <= 101_000);
                Assert.Contains(values, v => v.Name.StartsWith("memtrace.live.blocks", StringComparison.Ordinal) && v.Value is >= 100 and <= 101);
                Assert.Contains(values, v => v.Name.StartsWith("memtrace.region.free", StringComparison.Ordinal) && v.Tags.Contains("region=SPIRAM", StringComparison.Ordinal) && v.Value > 4_000_000);
                Assert.Contains(values, v => v.Name.StartsWith("memtrace.caps.largest_free_block", StringComparison.Ordinal) && v.Tags.Contains("caps=MALLOC_CAP_INTERNAL", StringComparison.Ordinal) && v.Value > 0);
                Assert.Contains(values, v => v.Name.StartsWith("memtrace.allocations", StringComparison.Ordinal) && v.Value > 0);
                Assert.Contains(values, v => v.Name.StartsWith("memtrace.allocation.size", StringComparison.Ordinal) && v.Tags.Contains("Percentile=50", StringComparison.Ordinal) && v.Value is >= 32 and <= 824);
            }
            finally
            {
                host.Kill();
                host.WaitForExit();
            }
        }
    }
}

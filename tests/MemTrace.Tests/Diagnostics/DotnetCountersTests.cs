// The meter as operators see it: the real dotnet-counters tool (a local tool of this repository,
// .config/dotnet-tools.json) attached to a running `memtrace demo --metrics` reads every kind of
// MemTrace instrument: live figures, the four counters, free / minimum free / largest free block
// per region and caps, and the size histogram.
using System.Globalization;
using System.Text.Json;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public sealed class DotnetCountersTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-counters-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Dotnet_counters_reads_the_MemTrace_meter_of_a_running_memtrace_demo()
    {
        var root = ChildProcess.RepositoryRoot();
        var restore = ChildProcess.Run("dotnet", ["tool", "restore"], root, TimeSpan.FromMinutes(3));
        Assert.True(restore.ExitCode == 0, "dotnet tool restore failed: " + restore.Output + restore.Error);

        var (demo, ready) = ChildProcess.StartCli("== metrics:", "demo", "--metrics", "--duration", "30");
        using (demo)
        {
            try
            {
                Assert.Contains($"of process {demo.Id},", ready, StringComparison.Ordinal);
                var output = Path.Combine(_directory, "counters.json");
                string[] arguments = ["tool", "run", "dotnet-counters", "collect", "-p", demo.Id.ToString(CultureInfo.InvariantCulture), "--counters", "MemTrace", "--format", "json", "-o", output, "--refresh-interval", "1", "--duration", "00:00:00:03"];
                var collect = ChildProcess.Run("dotnet", arguments, root, TimeSpan.FromSeconds(90));
                Assert.True(collect.ExitCode == 0 && File.Exists(output), "dotnet-counters failed: " + collect.Output + collect.Error);
                Assert.False(demo.HasExited, "the demo ended before dotnet-counters finished");

                using var json = JsonDocument.Parse(File.ReadAllText(output));
                var values = json.RootElement.GetProperty("Events").EnumerateArray()
                    .Where(e => e.GetProperty("provider").GetString() == "MemTrace")
                    .Select(e => (Name: e.GetProperty("name").GetString()!, Tags: e.GetProperty("tags").GetString()!, Value: e.GetProperty("value").GetDouble()))
                    .ToList();
                double[] Values(string name, string? tag = null) =>
                    [.. values.Where(v => v.Name.StartsWith(name + " ", StringComparison.Ordinal) || v.Name == name).Where(v => tag is null || v.Tags.Contains(tag, StringComparison.Ordinal)).Select(v => v.Value)];

                // Two tables of 2 KiB and 4 KiB live for the whole run, and at most 33 packets of at most 1536 bytes around them.
                Assert.NotEmpty(Values("memtrace.live.bytes"));
                Assert.All(Values("memtrace.live.bytes"), v => Assert.InRange(v, 6144, 6144 + (33 * 1536) + 96));
                Assert.All(Values("memtrace.live.blocks"), v => Assert.InRange(v, 2, 2 + 33 + 1));
                Assert.NotEmpty(Values("memtrace.live.blocks"));

                // Counters are shown as rates: traffic, a failure and a double free every quarter second keep each above 0.
                Assert.Contains(Values("memtrace.allocations"), v => v > 100);
                Assert.Contains(Values("memtrace.frees"), v => v > 100);
                Assert.Contains(Values("memtrace.allocation_failures"), v => v >= 1);
                Assert.Contains(Values("memtrace.errors"), v => v >= 1);

                // Per region and per caps: free, minimum free (never above free) and largest free block (never above free).
                var dramFree = Values("memtrace.region.free", "region=DRAM");
                Assert.NotEmpty(dramFree);
                Assert.All(Values("memtrace.region.minimum_free", "region=DRAM"), v => Assert.InRange(v, 1, dramFree.Max()));
                Assert.NotEmpty(Values("memtrace.region.minimum_free", "region=DRAM"));
                Assert.All(Values("memtrace.region.largest_free_block", "region=DRAM"), v => Assert.InRange(v, 1, dramFree.Max()));
                Assert.NotEmpty(Values("memtrace.region.largest_free_block", "region=DRAM"));
                Assert.Contains(Values("memtrace.region.free", "region=SPIRAM"), v => v > 4_000_000);
                Assert.Contains(Values("memtrace.caps.minimum_free", "caps=MALLOC_CAP_INTERNAL"), v => v > 0);
                Assert.Contains(Values("memtrace.caps.largest_free_block", "caps=MALLOC_CAP_DMA"), v => v > 0);

                // The size histogram, with no sink added: packets are 64..1536 bytes, and the table, the scratch blocks are smaller.
                Assert.Contains(Values("memtrace.allocation.size", "Percentile=50"), v => v is >= 64 and <= 1536);
            }
            finally
            {
                demo.Kill(entireProcessTree: true);
                demo.WaitForExit();
            }
        }
    }
}

// `memtrace demo --trace FILE`: the trace it writes (see DemoTrace) and a trace file that
// cannot be created.
using MemTrace.Cli;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

public class DemoTraceOptionTests
{
    [Fact]
    public void The_demo_trace_holds_every_kind_the_demo_causes_and_closes_cleanly()
    {
        using var reader = TraceReader.Open(DemoTrace.Path);
        var kinds = reader.ReadAll().Select(e => e.Kind).ToHashSet();

        Assert.Empty(reader.Problems);
        Assert.True(reader.HasEnd);
        Assert.Equal("MemTrace.Tests", reader.Header!.ProcessName);
        Assert.Superset(new HashSet<HeapEventKind> { HeapEventKind.Allocation, HeapEventKind.Free, HeapEventKind.FailedAllocation, HeapEventKind.MemoryError, HeapEventKind.Snapshot }, kinds);
    }

    [Fact]
    public void A_trace_file_that_cannot_be_created_stops_the_demo_with_exit_code_2_and_says_why()
    {
        var output = new StringWriter();
        var path = Path.Combine(Path.GetTempPath(), "memtrace-no-such-dir-" + Guid.NewGuid().ToString("N"), "out.jsonl");

        var exitCode = DemoCommand.Run(output, HeapLayout.FromName(LayoutOption.DefaultName), path);

        Assert.Equal(2, exitCode);
        Assert.Contains("memtrace: cannot create trace file", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("MemTrace demo on", output.ToString(), StringComparison.Ordinal);
    }
}

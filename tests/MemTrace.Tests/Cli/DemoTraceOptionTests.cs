// `memtrace demo --trace FILE`: the trace it writes (see DemoTrace), which holds every kind of
// event, a trace file that cannot be created, and one whose writes all fail.
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
        Assert.Equal(Enum.GetValues<HeapEventKind>().ToHashSet(), kinds);
    }

    [Fact]
    public void The_demo_trace_holds_the_grown_packet_and_the_traffic_checkpoint()
    {
        using var reader = TraceReader.Open(DemoTrace.Path);
        var events = reader.ReadAll().ToList();

        var realloc = Assert.Single(events, e => e.Kind == HeapEventKind.Reallocation);
        Assert.Equal((nuint)1600, realloc.Size);
        Assert.InRange(realloc.PreviousSize, (nuint)64, (nuint)1536);
        Assert.Equal("packet", realloc.Site.VariableName);
        Assert.Equal(AllocationMethod.Realloc, realloc.Site.Method);
        Assert.Equal("packet", realloc.AllocatedAt!.Value.VariableName);
        Assert.Contains(events, e => e.Kind == HeapEventKind.Free && e.Address == realloc.Address && e.Sequence > realloc.Sequence);

        var checkpoint = Assert.Single(events, e => e.Kind == HeapEventKind.Checkpoint);
        Assert.Equal("traffic", checkpoint.Label);
        Assert.Equal(2, checkpoint.LiveBlocks); // The two boot tables.
        Assert.NotEmpty(checkpoint.Regions!);
        Assert.True(events.IndexOf(checkpoint) < events.FindIndex(e => e.Kind == HeapEventKind.Reallocation));
    }

    [Fact]
    public void A_trace_file_that_cannot_be_created_stops_the_demo_with_exit_code_2_and_says_why_on_standard_error()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var path = Path.Combine(Path.GetTempPath(), "memtrace-no-such-dir-" + Guid.NewGuid().ToString("N"), "out.jsonl");

        var exitCode = DemoCommand.Run(output, HeapLayout.FromName(LayoutOption.DefaultName), path, error);

        Assert.Equal(2, exitCode);
        Assert.Contains("memtrace: cannot create trace file", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString()); // It went to standard output before: `demo --trace bad/path > log` never said why.
    }

    [Fact]
    public void A_directory_as_the_trace_file_is_named_as_such_on_standard_error()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var exitCode = DemoCommand.Run(output, HeapLayout.FromName(LayoutOption.DefaultName), Path.GetTempPath(), error);

        Assert.Equal(2, exitCode);
        Assert.Contains("it is a directory", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public void A_trace_whose_writes_fail_makes_the_demo_say_how_many_events_were_lost_and_exit_with_1()
    {
        Assert.SkipUnless(File.Exists("/dev/full"), "needs /dev/full (Linux), a device where every write fails with ENOSPC");
        var output = new StringWriter();
        var error = new StringWriter();

        var exitCode = DemoCommand.Run(output, HeapLayout.FromName(LayoutOption.DefaultName), "/dev/full", error);

        Assert.Equal(1, exitCode);
        Assert.Matches(@"memtrace: \d+ of \d+ events could not be written to the trace '/dev/full'; it is incomplete\.", error.ToString());
        Assert.DoesNotContain("written to /dev/full", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("== trace:", output.ToString(), StringComparison.Ordinal); // The workload itself ran.
    }
}

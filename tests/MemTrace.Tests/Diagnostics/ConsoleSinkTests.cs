// ConsoleSink: one readable line per event, with the facts a person looks for.
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class ConsoleSinkTests
{
    [Fact]
    public void An_event_of_a_kind_outside_the_enum_is_not_printed_as_a_snapshot()
    {
        var line = ConsoleSink.Format(TestEvents.Allocation() with { Kind = (HeapEventKind)42 });

        Assert.Contains("unknown    event of kind 42", line, StringComparison.Ordinal);
        Assert.DoesNotContain("live blocks", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_kind_is_one_line_with_its_facts()
    {
        var output = new StringWriter();
        var sink = new ConsoleSink(output);

        foreach (var e in TestEvents.OneOfEachKind())
        {
            sink.Emit(e);
        }

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains("alloc", StringComparison.Ordinal) && l.Contains("256 B", StringComparison.Ordinal) && l.Contains("0x3ffb0a10", StringComparison.Ordinal) && l.Contains("Demo.cs:30 in Run (buffer)", StringComparison.Ordinal) && l.Contains("MALLOC_CAP_8BIT", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("free", StringComparison.Ordinal) && l.Contains("Demo.cs:62", StringComparison.Ordinal) && l.Contains("allocated at Demo.cs:30", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("realloc", StringComparison.Ordinal) && l.Contains("from 256 B at 0x3ffb0a10", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("FAILED", StringComparison.Ordinal) && l.Contains("8388608 B", StringComparison.Ordinal) && l.Contains("(video_buffer)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("ERROR", StringComparison.Ordinal) && l.Contains("double free of 0x3ffb0a10", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("checkpoint", StringComparison.Ordinal) && l.Contains("'after init ✓': 2 live blocks, 768 B", StringComparison.Ordinal) && l.Contains("host unbounded", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("snapshot", StringComparison.Ordinal) && l.Contains("DRAM free 183000 largest 180224 min 170000", StringComparison.Ordinal));
    }

    [Fact]
    public void A_memory_error_keeps_its_whole_report_indented_under_the_line()
    {
        var text = ConsoleSink.Format(TestEvents.Error());

        Assert.Contains("\n      first freed at /src/App/Demo.cs:62 in Run (buffer) on thread 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Control_characters_in_labels_sites_and_regions_cannot_break_the_line_or_reach_the_terminal()
    {
        // A checkpoint label, region name or call-site text with a newline or an escape sequence was written as is:
        // one event became two lines (the second with no time or kind), and ESC recoloured the terminal.
        var site = TestEvents.AllocSite with { VariableName = "buf\u001b[31m", Function = "Run\r\n" };
        var events = new[]
        {
            TestEvents.Checkpoint() with { Label = "phase 1\nphase 2\u0007" },
            TestEvents.Allocation() with { Site = site, RegionName = "DR\tAM" },
            TestEvents.Free() with { AllocatedAt = site with { File = "/src/a\u009bb.cs" } },
        };

        foreach (var e in events)
        {
            var text = ConsoleSink.Format(e);
            Assert.DoesNotContain(text, char.IsControl);
            Assert.Contains('\uFFFD', text);
        }

        var error = TestEvents.Error() with { Error = TestEvents.Error().Error! with { DetectedAt = site } };
        var report = ConsoleSink.Format(error);
        Assert.DoesNotContain(report, c => char.IsControl(c) && c != '\n');
        Assert.Contains("\n      first freed at /src/App/Demo.cs:62 in Run (buffer) on thread 1", report, StringComparison.Ordinal);
    }

    [Fact]
    public void A_null_writer_is_refused() => Assert.Throws<ArgumentNullException>(() => new ConsoleSink(null!));
}

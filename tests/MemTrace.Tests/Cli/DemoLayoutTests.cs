using MemTrace.Cli;
using Xunit;

namespace MemTrace.Tests.Cli;

public class DemoLayoutTests
{
    [Fact]
    public void The_demo_puts_the_SPIRAM_request_in_PSRAM_on_the_default_layout()
    {
        var output = new StringWriter();

        Assert.Equal(0, DemoCommand.Run(output));

        var text = output.ToString();
        Assert.Contains("on the 'esp32-psram4m' layout", text, StringComparison.Ordinal);
        Assert.Contains("[demo] Memory info (esp32-psram4m):", text, StringComparison.Ordinal);
        Assert.Contains("Heap summary for capabilities 0x00001000:", text, StringComparison.Ordinal);
        Assert.Contains("len 4194304 free", text, StringComparison.Ordinal);
        Assert.DoesNotContain("unbounded", text, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void The_demo_runs_on_every_built_in_layout(string name)
    {
        var output = new StringWriter();

        Assert.Equal(0, DemoCommand.Run(output, HeapLayout.FromName(name)));
        Assert.Contains($"on the '{name}' layout", output.ToString(), StringComparison.Ordinal);
    }

    public static TheoryData<string> Names() => [.. HeapLayout.BuiltInNames];

    [Fact]
    public void A_layout_file_is_accepted()
    {
        var path = Path.Combine(Path.GetTempPath(), $"memtrace-layout-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "name": "file-board", "regions": [ { "name": "DRAM", "size": 65536, "caps": ["8BIT|DEFAULT", "INTERNAL|32BIT|DMA"] }, { "name": "SPIRAM", "size": 65536, "caps": ["SPIRAM|DEFAULT", "0", "8BIT|32BIT"] } ] }""");
        try
        {
            var layout = LayoutOption.Resolve(path, TextWriter.Null);

            Assert.NotNull(layout);
            Assert.Equal(0, DemoCommand.Run(new StringWriter(), layout));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_unknown_layout_or_a_bad_file_is_a_clear_error()
    {
        var error = new StringWriter();
        Assert.Null(LayoutOption.Resolve("esp8266", error));
        Assert.Contains("neither a built-in layout", error.ToString(), StringComparison.Ordinal);

        var path = Path.Combine(Path.GetTempPath(), $"memtrace-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "name": "bad", "regions": [ { "name": "r", "size": 4096, "caps": ["WARP"] } ] }""");
        try
        {
            error = new StringWriter();
            Assert.Null(LayoutOption.Resolve(path, error));
            Assert.Contains("unknown capability 'WARP'", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

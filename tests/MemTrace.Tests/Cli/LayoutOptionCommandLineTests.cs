// `memtrace demo --layout esp32-psram4m | esp32s3 | host | FILE` through the real command line:
// MemTraceCommand.Run is what Program.cs calls (one test also starts the built tool). Every bad
// layout file must end in exit code 2 with the reason on standard error (docs/layouts.md), never
// in an exception from inside the demo.
using System.Globalization;
using System.Text.RegularExpressions;
using MemTrace.Cli;
using MemTrace.Tests.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

public sealed partial class LayoutOptionCommandLineTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-layout-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("esp32-psram4m", new[] { "len 4194304 free", "len 6432 free", "len 184632 free" })]
    [InlineData("esp32s3", new[] { "len 338968 free", "len 32768 free", "len 8152 free" })]
    [InlineData("host", new[] { "At (process heap) len unbounded" })]
    public void A_built_in_layout_named_on_the_command_line_is_the_memory_map_the_demo_runs_on(string name, string[] regionLines)
    {
        var (exitCode, output, error) = Run("demo", "--layout", name);

        Assert.Equal(0, exitCode);
        Assert.Equal(string.Empty, error);
        Assert.Contains($"MemTrace demo on the '{name}' layout", output, StringComparison.Ordinal);
        Assert.All(regionLines, line => Assert.Contains(line, output, StringComparison.Ordinal));
    }

    [Fact]
    public void Without_layout_the_demo_runs_on_esp32_psram4m_and_the_short_option_works_too()
    {
        Assert.Contains("on the 'esp32-psram4m' layout", Run("demo").Output, StringComparison.Ordinal);
        Assert.Contains("on the 'esp32s3' layout", Run("demo", "-l", "ESP32S3").Output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_layout_file_on_the_command_line_is_the_memory_map_the_demo_runs_on()
    {
        var path = Write("board.json", """{ "name": "file-board", "alignment": 4, "regions": [ { "name": "DRAM", "size": 65536, "caps": ["8BIT|DEFAULT", "INTERNAL|32BIT|DMA"] }, { "name": "SPIRAM", "size": 131072, "caps": ["SPIRAM|DEFAULT", "0", "8BIT|32BIT"], "addedAtRuntime": true } ] }""");

        var (exitCode, output, error) = Run("demo", "--layout", path);

        Assert.Equal(0, exitCode);
        Assert.Equal(string.Empty, error);
        Assert.Contains("MemTrace demo on the 'file-board' layout", output, StringComparison.Ordinal);
        Assert.Contains("len 131072 free", output, StringComparison.Ordinal);
        Assert.Contains("len 65536 free", output, StringComparison.Ordinal);
        AssertSpiramBlockInPsram(output, 131072);
    }

    [Fact]
    public void The_demos_SPIRAM_block_lands_in_the_PSRAM_region()
    {
        var (exitCode, output, _) = Run("demo", "--layout", "esp32-psram4m");

        Assert.Equal(0, exitCode);
        AssertSpiramBlockInPsram(output, 4 * 1024 * 1024);
    }

    [Theory]
    [InlineData("""{ "name": "x", "alignment": 32, "regions": [ { "name": "DRAM", "size": 65536, "caps": ["8BIT|DEFAULT"] } ] }""", "$.alignment: The alignment of plain allocations must be 4 (as on the chip), 8 or 16, not 32")]
    [InlineData("""{ "name": "x", "alignment": 3, "regions": [ { "name": "DRAM", "size": 65536, "caps": ["8BIT|DEFAULT"] } ] }""", "$.alignment: The alignment of plain allocations must be 4 (as on the chip), 8 or 16, not 3")]
    [InlineData("""{ "name": "x", "alignment": 0, "regions": [ { "name": "DRAM", "size": 65536, "caps": ["8BIT|DEFAULT"] } ] }""", "$.alignment: a positive whole number of bytes is required")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "DRAM", "size": 100, "caps": ["8BIT|DEFAULT"] } ] }""", "$.regions[0].size: A TLSF region must be between 1024 bytes and 1 GiB, not 100 bytes")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "DRAM", "size": 2147483648, "caps": ["8BIT|DEFAULT"] } ] }""", "$.regions[0].size: A TLSF region must be between 1024 bytes and 1 GiB")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "DRAM", "size": 65536, "caps": ["0"] } ] }""", "$.regions[0]: A region must offer at least one capability.")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "DRAM", "size": 65536, "caps": ["INVALID"] } ] }""", "$.regions[0]: No region may offer MALLOC_CAP_INVALID.")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "DRAM", "size": 65536, "caps": ["WARP"] } ] }""", "$.regions[0].caps[0]: unknown capability 'WARP'")]
    [InlineData("""{ "name": "x", "regions": [] }""", "$.regions: a non-empty array of regions is required")]
    [InlineData("""{ "name": "x", "regions": [ { "name": "DRAM", "kind": "flash", "caps": ["8BIT"] } ] }""", "$.regions[0].kind: 'flash' is not a region kind")]
    [InlineData("""{ "name": """, "The layout is not valid JSON")]
    [InlineData("", "The layout is not valid JSON")]
    public void Every_bad_layout_file_gives_exit_code_2_and_the_reason(string json, string reason)
    {
        var path = Write("bad.json", json);

        var (exitCode, output, error) = Run("demo", "--layout", path);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"memtrace: cannot use layout file '{path}': ", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.DoesNotContain("MemTrace demo on", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_that_is_neither_a_layout_nor_a_file_gives_exit_code_2()
    {
        var (exitCode, _, error) = Run("demo", "--layout", Path.Combine(_directory, "missing.json"));
        Assert.Equal(2, exitCode);
        Assert.Contains("is neither a built-in layout (host, esp32, esp32-psram2m", error, StringComparison.Ordinal);

        (exitCode, _, error) = Run("demo", "--layout", _directory); // A directory is not a layout file.
        Assert.Equal(2, exitCode);
        Assert.Contains("is neither a built-in layout", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_built_tool_exits_with_code_2_and_the_reason_for_a_bad_layout_file()
    {
        var path = Write("bad-alignment.json", """{ "name": "x", "alignment": 32, "regions": [ { "name": "DRAM", "size": 65536, "caps": ["8BIT|DEFAULT"] } ] }""");
        var cli = Path.Combine(AppContext.BaseDirectory, "MemTrace.Cli.dll");

        var (exitCode, output, error) = ChildProcess.Run("dotnet", [cli, "demo", "--layout", path], _directory, TimeSpan.FromSeconds(90));

        Assert.Equal(2, exitCode);
        Assert.Contains("$.alignment: The alignment of plain allocations must be 4 (as on the chip), 8 or 16, not 32", error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output);
    }

    /// <summary>The demo's debug_string (512 bytes, MALLOC_CAP_SPIRAM) lies inside the region of <paramref name="psramSize"/> bytes that heap_caps_print_heap_info lists.</summary>
    private static void AssertSpiramBlockInPsram(string output, long psramSize)
    {
        var block = SpiramBlock().Match(output);
        Assert.True(block.Success, "no SPIRAM block in the listing:\n" + output);
        var address = ulong.Parse(block.Groups[1].ValueSpan, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        var regions = RegionLine().Matches(output).Select(static m => (
            Start: ulong.Parse(m.Groups[1].ValueSpan, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
            Length: long.Parse(m.Groups[2].ValueSpan, CultureInfo.InvariantCulture))).ToList();
        var containing = Assert.Single(regions, r => address >= r.Start && address < r.Start + (ulong)r.Length);
        Assert.Equal(psramSize, containing.Length);
        Assert.True(address + 512 <= containing.Start + (ulong)containing.Length);
    }

    private (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter(CultureInfo.InvariantCulture);
        var error = new StringWriter(CultureInfo.InvariantCulture);
        var exitCode = MemTraceCommand.Run(args, output, error);
        return (exitCode, output.ToString(), error.ToString());
    }

    private string Write(string name, string json)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, json);
        return path;
    }

    [GeneratedRegex(@"^\s+\d+\s+0x([0-9a-f]+)\s+512\s+MALLOC_CAP_SPIRAM\s", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex SpiramBlock();

    [GeneratedRegex(@"^  At 0x([0-9a-f]+) len (\d+) free", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex RegionLine();
}

// ReportText.Bytes: the unit grows with the size, up to the failed request of nuint.MaxValue bytes
// that an overflowing calloc is logged as; ReportText.Printable: control characters become U+FFFD.
using MemTrace.Cli.Report;
using Xunit;

namespace MemTrace.Tests.Cli;

public class ReportTextTests
{
    [Theory]
    [InlineData(0d, "0 B")]
    [InlineData(768d, "768 B")]
    [InlineData(12_800d, "12.5 KiB")]
    [InlineData(3_145_728d, "3.0 MiB")]
    [InlineData(1_288_490_189d, "1.20 GiB")]
    [InlineData(4_398_046_511_104d, "4.00 TiB")]
    [InlineData(2_251_799_813_685_248d, "2.00 PiB")]
    [InlineData(18_446_744_073_709_551_615d, "16.00 EiB")]
    [InlineData(-1536d, "-1.5 KiB")]
    public void Bytes_picks_the_unit_that_keeps_the_number_short(double bytes, string expected) =>
        Assert.Equal(expected, ReportText.Bytes(bytes));

    [Fact]
    public void Printable_replaces_control_characters_and_keeps_everything_else()
    {
        Assert.Equal("plain Ünïcödé ✓", ReportText.Printable("plain Ünïcödé ✓"));
        Assert.Equal("a\uFFFD[31mb\uFFFDc\uFFFDd\uFFFD", ReportText.Printable("a\u001b[31mb\u0007c\u009bd\u007f"));
        Assert.Equal("x\uFFFD[[y]]", ReportText.Markup("x\u001b[y]")); // Then escaped for Spectre's markup.
    }

    [Fact]
    public void Printable_replaces_bidirectional_overrides_and_line_separators()
    {
        // Trojan Source: U+202E would show "evil\u202Egnp.c" reversed; U+2028 would break the table's line.
        Assert.Equal("evil\uFFFDgnp.c\uFFFDx\uFFFDy\uFFFD", ReportText.Printable("evil\u202Egnp.c\u2066x\u2028y\u200F"));
    }

    [Fact]
    public void Markup_keeps_emoji_codes_from_the_trace_as_text()
    {
        var output = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Ansi = Spectre.Console.AnsiSupport.No,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Out = new Spectre.Console.AnsiConsoleOutput(output),
        });
        console.Write(new Spectre.Console.Markup(ReportText.Markup("func :skull: at C:\\x:y [red]")));
        Assert.DoesNotContain("\U0001F480", output.ToString(), StringComparison.Ordinal);
        Assert.Equal("func :skull: at C:\\x:y [red]", output.ToString().Replace("\u2060", string.Empty, StringComparison.Ordinal));
        Assert.Equal("a.c:12 in f", ReportText.Markup("a.c:12 in f")); // No emoji code: unchanged.
    }
}

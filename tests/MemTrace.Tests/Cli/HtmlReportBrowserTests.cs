// The HTML report in a real browser: Debian's headless Chromium loads the page made from the
// demo's trace, its scripts must run to the end with no error, and a screenshot is kept as a test
// artifact (TestArtifacts/ in the test output folder). A page with a broken script shows that the
// check can fail. Without Chromium the test fails: .ci/run installs it.
using System.Diagnostics;
using MemTrace.Tests.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

public sealed class HtmlReportBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";

    private static readonly string s_artifacts = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "TestArtifacts")).FullName;

    [Fact]
    public void The_report_loads_in_headless_Chromium_with_no_script_error_and_a_screenshot_is_kept()
    {
        var html = Path.Combine(s_artifacts, "report.html");
        var (exitCode, _, _, error) = DemoTrace.Report(DemoTrace.Path, html);
        Assert.True(exitCode == 0, error);

        var (dom, console) = Open(html, "--dump-dom");

        Assert.Contains("data-report-ready=\"true\"", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("data-script-errors=\"", dom, StringComparison.Ordinal);
        Assert.Empty(console);
        Assert.Contains("config_table", dom, StringComparison.Ordinal);

        var screenshot = Path.Combine(s_artifacts, "report.png");
        File.Delete(screenshot);
        Open(html, "--screenshot=" + screenshot, "--window-size=1200,3400", "--hide-scrollbars");
        var bytes = File.ReadAllBytes(screenshot);
        Assert.True(bytes.Length > 20_000, $"screenshot of only {bytes.Length} bytes");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
    }

    [Fact]
    public void A_page_with_a_script_error_is_caught_by_the_same_check()
    {
        var html = Path.Combine(s_artifacts, "broken.html");
        var (exitCode, _, _, error) = DemoTrace.Report(DemoTrace.Path, html);
        Assert.True(exitCode == 0, error);
        File.WriteAllText(html, File.ReadAllText(html).Replace("</body>", "<script>console.error('boom'); undefinedFunction();</script></body>", StringComparison.Ordinal));

        var (dom, console) = Open(html, "--dump-dom");

        Assert.Contains("data-script-errors=\"Uncaught ReferenceError: undefinedFunction is not defined;\"", dom, StringComparison.Ordinal);
        Assert.Contains(console, line => line.Contains("boom", StringComparison.Ordinal));
    }

    /// <summary>Opens a page in headless Chromium; returns standard output and the page's console messages.</summary>
    private static (string Output, List<string> Console) Open(string page, params string[] action)
    {
        Assert.True(File.Exists(Chromium), $"Chromium is not installed at {Chromium}: install Debian's chromium package (apt-get install -y chromium chromium-driver), as .ci/run does.");
        var profile = Directory.CreateTempSubdirectory("memtrace-chromium-");
        try
        {
            string[] arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile.FullName, "--enable-logging=stderr", "--v=0",
                .. action, new Uri(page).AbsoluteUri,
            ];
            var (exitCode, output, error) = ChildProcess.Run(Chromium, arguments, s_artifacts, TimeSpan.FromSeconds(90));
            Assert.True(exitCode == 0, $"Chromium exited with {exitCode}: {error}");

            // Chromium logs the page's console as ":INFO:CONSOLE(line)] \"message\", source: …"; errors thrown by scripts appear there too.
            var console = error.Split('\n').Where(l => l.Contains(":CONSOLE", StringComparison.Ordinal)).ToList();
            return (output, console);
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}

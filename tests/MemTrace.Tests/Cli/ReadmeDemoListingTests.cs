// The README shows the demo's listing: its call sites (DemoCommand.cs:N) must be the ones the demo prints,
// so that moving a line of the demo cannot leave the README behind unnoticed (it did once).
using System.Text.RegularExpressions;
using MemTrace.Cli;
using MemTrace.Tests.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

public partial class ReadmeDemoListingTests
{
    [Fact]
    public void The_call_sites_of_the_demo_listing_in_the_README_are_those_the_demo_prints()
    {
        var readme = File.ReadAllText(Path.Combine(ChildProcess.RepositoryRoot(), "README.md"));
        var documented = Site().Matches(readme).Select(m => m.Value).Distinct().ToList();
        var output = new StringWriter();

        Assert.Equal(0, MemTraceCommand.Run(["demo"], output, new StringWriter()));

        Assert.NotEmpty(documented);
        var printed = Site().Matches(output.ToString()).Select(m => m.Value).Distinct().ToList();
        Assert.Equal(printed.Order(StringComparer.Ordinal), documented.Order(StringComparer.Ordinal));
    }

    [GeneratedRegex(@"DemoCommand\.cs:\d+ \(\w+\)")]
    private static partial Regex Site();
}

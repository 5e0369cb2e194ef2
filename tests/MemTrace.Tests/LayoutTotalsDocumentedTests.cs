// The per-caps totals docs/layouts.md states for each built-in layout, read from the document
// itself and checked against the layouts, so that the docs and the code cannot drift apart: every
// table row under "### <layout>[, <layout>]" (total, free, largest free block of a fresh heap), and
// every "`CAPS`, … as `<layout>`." line (those caps give the same figures on both layouts).
using System.Globalization;
using System.Text.RegularExpressions;
using MemTrace.Tests.Diagnostics;
using Xunit;

namespace MemTrace.Tests;

public sealed partial class LayoutTotalsDocumentedTests
{
    [Fact]
    public void Every_figure_of_docs_layouts_md_is_what_the_built_in_layout_gives()
    {
        var section = ResultingTotals();
        var checkedRows = new Dictionary<string, int>(StringComparer.Ordinal);
        var sameAs = 0;
        string[] layouts = [];
        foreach (var line in section)
        {
            if (line.StartsWith("### ", StringComparison.Ordinal))
            {
                layouts = line[4..].Split(", ", StringSplitOptions.TrimEntries);
                continue;
            }

            if (Row().Match(line) is { Success: true } row)
            {
                Assert.NotEmpty(layouts);
                var caps = Caps(row.Groups[1].Value);
                var expected = (Number(row.Groups[2]), Number(row.Groups[3]), Number(row.Groups[4]));
                foreach (var name in layouts)
                {
                    Assert.True(expected == Figures(name, caps), $"docs/layouts.md, {name}, {row.Groups[1].Value}: the doc says {expected}, the layout gives {Figures(name, caps)}");
                    checkedRows[name] = checkedRows.GetValueOrDefault(name) + 1;
                }
            }
            else if (SameAs().Match(line) is { Success: true } same)
            {
                var reference = same.Groups[2].Value;
                foreach (var name in layouts)
                {
                    foreach (Match capsName in CapsName().Matches(same.Groups[1].Value))
                    {
                        var caps = Caps(capsName.Groups[1].Value);
                        Assert.True(Figures(reference, caps) == Figures(name, caps), $"docs/layouts.md: {capsName.Value} of {name} is not as {reference}");
                        sameAs++;
                    }
                }
            }
        }

        // Every chip layout is documented (the host layout is unbounded: no figures).
        Assert.Equal(HeapLayout.BuiltInNames.Where(static n => n != "host").Order(), checkedRows.Keys.Order());
        Assert.True(checkedRows.Values.Sum() >= 40, $"only {checkedRows.Values.Sum()} rows were read");
        Assert.True(sameAs >= 15, $"only {sameAs} 'as' figures were read");
    }

    [Fact]
    public void A_figure_the_layout_does_not_give_is_caught()
    {
        // The check itself can fail: a doctored row does not match.
        var row = Row().Match("| `MALLOC_CAP_DEFAULT` | 319976 | 317289 | 180224 |");
        Assert.True(row.Success);
        Assert.NotEqual((Number(row.Groups[2]), Number(row.Groups[3]), Number(row.Groups[4])), Figures("esp32", Caps("DEFAULT")));
        Assert.Equal((319976UL, 317288UL, 180224UL), Figures("esp32", Caps("DEFAULT")));
    }

    private static (ulong Total, ulong Free, ulong Largest) Figures(string layout, MallocCaps caps)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout));
        return (heap.GetTotalSize(caps), heap.GetFreeSize(caps), heap.GetLargestFreeBlock(caps));
    }

    private static List<string> ResultingTotals()
    {
        var lines = File.ReadAllLines(Path.Combine(ChildProcess.RepositoryRoot(), "docs", "layouts.md"));
        var start = Array.IndexOf(lines, "## Resulting totals");
        Assert.True(start >= 0, "docs/layouts.md has no '## Resulting totals' section");
        return [.. lines.Skip(start + 1).TakeWhile(static l => !l.StartsWith("## ", StringComparison.Ordinal))];
    }

    private static MallocCaps Caps(string name)
    {
        Assert.True(MallocCapsExtensions.TryParse(name, out var caps, out var error), error);
        return caps;
    }

    private static ulong Number(Group group) => ulong.Parse(group.ValueSpan, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\| `MALLOC_CAP_(\w+)` \| (\d+) \| (\d+) \| (\d+) \|$", RegexOptions.CultureInvariant)]
    private static partial Regex Row();

    [GeneratedRegex(@"^((?:`\w+`(?:, | and )?)+) as `([\w-]+)`\.$", RegexOptions.CultureInvariant)]
    private static partial Regex SameAs();

    [GeneratedRegex(@"`(\w+)`", RegexOptions.CultureInvariant)]
    private static partial Regex CapsName();
}

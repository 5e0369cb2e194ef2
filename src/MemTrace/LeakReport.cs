// LeakReport: the blocks still live that were allocated in a window (since a checkpoint, or since
// the tracker began), grouped by call site, as data and as a report in the style of
// LeakSanitizer ("Direct leak of N byte(s) in M object(s) allocated from:") with the CRT's
// per-block lines ("{18} normal block at 0x…, 64 bytes long").
//
// Grouping is by source location (file, line, member): the variables a line allocated into are
// listed together, and the blocks made on the HeapCaps directly, which have no location, are
// grouped by method. Sites are ordered by bytes, largest first (ties: more blocks first, then the
// earliest request), blocks within a site by request number. The printed report shows at most
// MaxBlocksPrinted block lines and MaxRequestsPrinted request numbers per site; the data has all.
using System.Globalization;
using System.Text;
using MemTrace.Internals;
using MemTrace.Tracking;

namespace MemTrace;

/// <summary>
/// The blocks still live that were allocated since a checkpoint (or since the tracker was created),
/// grouped by call site: the CRT's <c>_CrtDumpMemoryLeaks</c> and LeakSanitizer's report, as data.
/// <see cref="ToString"/> gives the printable report.
/// </summary>
public sealed class LeakReport
{
    /// <summary>Block lines printed per site; the rest are summarised.</summary>
    public const int MaxBlocksPrinted = 10;

    /// <summary>Request numbers printed per site; the rest are summarised.</summary>
    public const int MaxRequestsPrinted = 32;

    internal LeakReport(MemoryCheckpoint? since, MemoryCheckpoint? until, IReadOnlyList<LeakSite> sites)
    {
        Since = since;
        Until = until;
        Sites = sites;
        foreach (var site in sites)
        {
            Blocks += site.Blocks;
            Bytes += site.Bytes;
        }
    }

    /// <summary>The checkpoint the window starts at, or null for the tracker's creation.</summary>
    public MemoryCheckpoint? Since { get; }

    /// <summary>The checkpoint the window ends at (blocks allocated from then on are left out), or null for now.</summary>
    public MemoryCheckpoint? Until { get; }

    /// <summary>The call sites with leaked blocks, by bytes, largest first.</summary>
    public IReadOnlyList<LeakSite> Sites { get; }

    /// <summary>Leaked blocks in all.</summary>
    public long Blocks { get; }

    /// <summary>Requested bytes of the leaked blocks in all.</summary>
    public long Bytes { get; }

    /// <summary>True when any block leaked.</summary>
    public bool HasLeaks => Blocks != 0;

    /// <summary>Every leaked block, site by site.</summary>
    public IEnumerable<AllocationRecord> Allocations => Sites.SelectMany(static s => s.Allocations);

    /// <summary>The printable report: a header, a paragraph per site (bytes, blocks, variables, request numbers, one line per block with its stack when captured), and a summary line.</summary>
    /// <returns>The report; one line when nothing leaked.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        var window = Since is null ? "since tracking began" : "since " + Since;
        if (Until is not null)
        {
            window += " until " + Until;
        }

        if (!HasLeaks)
        {
            return "MemTrace: no memory leaks " + window + "." + Environment.NewLine;
        }

        text.AppendLine("=================================================================");
        text.Append(CultureInfo.InvariantCulture, $"MemTrace: detected memory leaks {window}: {Counted.Of(Blocks, "block")}, {Counted.Of(Bytes, "byte")}, from {Counted.Of(Sites.Count, "call site")}").AppendLine();
        foreach (var site in Sites)
        {
            text.AppendLine();
            var where = site.Site.IsKnown ? site.Site.ToString() + " (" + site.Site.Method.ToCName() + ")" : site.Site.ToString();
            text.Append(CultureInfo.InvariantCulture, $"Leak of {Counted.Of(site.Bytes, "byte")} in {Counted.Of(site.Blocks, "block")} allocated at {where}").AppendLine();
            if (site.VariableNames.Count != 0)
            {
                text.Append("  variables: ").AppendJoin(", ", site.VariableNames).AppendLine();
            }

            text.Append("  requests: ").AppendJoin(", ", site.RequestNumbers.Take(MaxRequestsPrinted).Select(static r => "{" + r.ToString(CultureInfo.InvariantCulture) + "}"));
            if (site.RequestNumbers.Count > MaxRequestsPrinted)
            {
                text.Append(CultureInfo.InvariantCulture, $" … ({site.RequestNumbers.Count - MaxRequestsPrinted} more)");
            }

            text.AppendLine();
            foreach (var block in site.Allocations.Take(MaxBlocksPrinted))
            {
                text.Append(CultureInfo.InvariantCulture, $"  {{{block.RequestNumber}}} block at {MemoryError.Hex(block.Address)}, {block.Size} bytes long, {block.Caps.ToCapsString()}, thread {block.ThreadId}");
                if (block.VariableName is { } variable)
                {
                    text.Append(" (").Append(variable).Append(')');
                }

                if (block.ReallocatedAt is { } realloc)
                {
                    text.Append(CultureInfo.InvariantCulture, $", last reallocated at {realloc.ShortLocation}");
                }

                text.AppendLine();
                if (block.StackTrace is { } stack)
                {
                    text.Append(StackCapture.Format(stack, "      "));
                }
            }

            if (site.Blocks > MaxBlocksPrinted)
            {
                text.Append(CultureInfo.InvariantCulture, $"  … and {Counted.Of(site.Blocks - MaxBlocksPrinted, "more block")}").AppendLine();
            }
        }

        text.AppendLine();
        text.Append(CultureInfo.InvariantCulture, $"SUMMARY: MemTrace: {Counted.Of(Bytes, "byte")} leaked in {Counted.Of(Blocks, "allocation")}.").AppendLine();
        return text.ToString();
    }

    /// <summary>Groups leaked blocks by call site and orders sites and blocks as the report shows them.</summary>
    internal static LeakReport Build(MemoryCheckpoint? since, MemoryCheckpoint? until, IEnumerable<AllocationRecord> blocks)
    {
        var groups = new Dictionary<(string? File, int Line, string? Function, AllocationMethod Method), List<AllocationRecord>>();
        foreach (var block in blocks)
        {
            var at = block.AllocatedAt;
            var key = at.IsKnown ? (at.File, at.Line, at.Function, AllocationMethod.Unknown) : (null, 0, null, at.Method);
            if (!groups.TryGetValue(key, out var list))
            {
                groups[key] = list = [];
            }

            list.Add(block);
        }

        var sites = new List<LeakSite>(groups.Count);
        foreach (var list in groups.Values)
        {
            list.Sort(static (a, b) => a.RequestNumber.CompareTo(b.RequestNumber));
            var first = list[0].AllocatedAt;
            sites.Add(new LeakSite(first with { VariableName = null }, list));
        }

        sites.Sort(static (a, b) =>
            a.Bytes != b.Bytes ? b.Bytes.CompareTo(a.Bytes)
            : a.Blocks != b.Blocks ? b.Blocks.CompareTo(a.Blocks)
            : a.RequestNumbers[0].CompareTo(b.RequestNumbers[0]));
        return new LeakReport(since, until, sites);
    }
}

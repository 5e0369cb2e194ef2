// MemoryDifference: the CRT's _CrtMemDifference: what changed between two checkpoints of one
// tracker, in live blocks and bytes and in operations, printable as one short report.
using System.Globalization;
using System.Text;
using MemTrace.Internals;

namespace MemTrace;

/// <summary>
/// What changed between two checkpoints of one tracker (the CRT's <c>_CrtMemDifference</c>). Get one with
/// <see cref="MemoryTracker.Difference(MemoryCheckpoint, MemoryCheckpoint)"/>; for the blocks themselves, see
/// <see cref="MemoryTracker.GetAllocationsSince(MemoryCheckpoint, MemoryCheckpoint?)"/>.
/// </summary>
public sealed class MemoryDifference
{
    internal MemoryDifference(MemoryCheckpoint from, MemoryCheckpoint to)
    {
        From = from;
        To = to;
    }

    /// <summary>The earlier checkpoint.</summary>
    public MemoryCheckpoint From { get; }

    /// <summary>The later checkpoint.</summary>
    public MemoryCheckpoint To { get; }

    /// <summary>Change in live blocks (negative when more were freed than allocated).</summary>
    public long BlocksDelta => To.LiveBlocks - From.LiveBlocks;

    /// <summary>Change in requested bytes of live blocks.</summary>
    public long BytesDelta => To.LiveBytes - From.LiveBytes;

    /// <summary>Allocations recorded between the two checkpoints.</summary>
    public long Allocations => To.TotalAllocations - From.TotalAllocations;

    /// <summary>Frees of recorded blocks between the two checkpoints.</summary>
    public long Frees => To.TotalFrees - From.TotalFrees;

    /// <summary>Failed requests between the two checkpoints.</summary>
    public long FailedAllocations => To.FailedAllocations - From.FailedAllocations;

    /// <summary>True when live blocks or bytes differ (what <c>_CrtMemDifference</c> returns).</summary>
    public bool IsSignificant => BlocksDelta != 0 || BytesDelta != 0;

    /// <summary>The difference as a few lines, in the spirit of <c>_CrtMemDumpStatistics</c>.</summary>
    /// <returns>The report.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"MemTrace difference from {From} to {To}:").AppendLine();
        text.Append(CultureInfo.InvariantCulture, $"  live blocks: {From.LiveBlocks} -> {To.LiveBlocks} ({BlocksDelta:+#;-#;0})").AppendLine();
        text.Append(CultureInfo.InvariantCulture, $"  live bytes:  {From.LiveBytes} -> {To.LiveBytes} ({BytesDelta:+#;-#;0})").AppendLine();
        text.Append(CultureInfo.InvariantCulture, $"  {Counted.Of(Allocations, "allocation")}, {Counted.Of(Frees, "free")}, {Counted.Of(FailedAllocations, "failed request")}").AppendLine();
        return text.ToString();
    }
}

// MemoryCheckpoint: the CRT's _CrtMemState, taken by MemoryTracker.Checkpoint: the tracker's
// counters at one moment, and an epoch that tells which live blocks were allocated after it.
//
// "Allocated since a checkpoint" cannot be "a higher request number": threads draw request numbers
// in blocks of 64, so a number drawn before the checkpoint may be used after it. Instead the tracker
// keeps a checkpoint counter; each checkpoint increments it, and each record keeps the counter's
// value when its block was allocated (its epoch). A live block was allocated since checkpoint k when
// its epoch is at least k's.
using System.Globalization;

namespace MemTrace;

/// <summary>
/// A point in a <see cref="MemoryTracker"/>'s history (the CRT's <c>_CrtMemCheckpoint</c>): its counters
/// then, and what is needed to find the blocks allocated after it. Take one with
/// <see cref="MemoryTracker.Checkpoint(string?)"/>.
/// </summary>
/// <remarks>
/// An allocation that runs on another thread at the very moment the checkpoint is taken may count on
/// either side of it; one that starts after <see cref="MemoryTracker.Checkpoint(string?)"/> returns (on
/// any thread) counts after it. A realloc keeps its block's side: the block is the same to the program.
/// </remarks>
public sealed class MemoryCheckpoint
{
    internal MemoryCheckpoint(MemoryTracker tracker, string? name, uint epoch, DateTimeOffset time, long liveBlocks, long liveBytes, long totalAllocations, long totalFrees, long failedAllocations)
    {
        Tracker = tracker;
        Name = name;
        Epoch = epoch;
        Time = time;
        LiveBlocks = liveBlocks;
        LiveBytes = liveBytes;
        TotalAllocations = totalAllocations;
        TotalFrees = totalFrees;
        FailedAllocations = failedAllocations;
    }

    /// <summary>The name given to the checkpoint, or null.</summary>
    public string? Name { get; }

    /// <summary>1, 2, 3, … per tracker: blocks allocated after this checkpoint have an epoch of at least this.</summary>
    public long Epoch { get; }

    /// <summary>When the checkpoint was taken.</summary>
    public DateTimeOffset Time { get; }

    /// <summary>Blocks recorded and live then.</summary>
    public long LiveBlocks { get; }

    /// <summary>Requested bytes of the blocks live then.</summary>
    public long LiveBytes { get; }

    /// <summary>Allocations recorded from the tracker's creation until then.</summary>
    public long TotalAllocations { get; }

    /// <summary>Frees of recorded blocks from the tracker's creation until then.</summary>
    public long TotalFrees { get; }

    /// <summary>Failed requests (refused ones included) from the tracker's creation until then.</summary>
    public long FailedAllocations { get; }

    /// <summary>The tracker that took the checkpoint.</summary>
    internal MemoryTracker Tracker { get; }

    /// <summary>The checkpoint as it appears in reports: <c>checkpoint "name" (#2)</c> or <c>checkpoint #2</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() => Name is null
        ? string.Create(CultureInfo.InvariantCulture, $"checkpoint #{Epoch}")
        : string.Create(CultureInfo.InvariantCulture, $"checkpoint \"{Name}\" (#{Epoch})");
}

namespace MemTrace.Tracking;

/// <summary>One reading of a tracker's counters, summed over its threads (see <c>MemoryTracker.ReadTotals</c>).</summary>
/// <param name="Allocations">Allocations recorded.</param>
/// <param name="Frees">Frees of recorded blocks.</param>
/// <param name="AllocatedBytes">Bytes allocated, reallocs' growth included.</param>
/// <param name="FreedBytes">Bytes freed, reallocs' shrinkage included.</param>
internal readonly record struct TrackerTotals(long Allocations, long Frees, long AllocatedBytes, long FreedBytes)
{
    /// <summary>Blocks live: allocations less frees.</summary>
    public long LiveBlocks => Allocations - Frees;

    /// <summary>Requested bytes live: allocated less freed.</summary>
    public long LiveBytes => AllocatedBytes - FreedBytes;
}

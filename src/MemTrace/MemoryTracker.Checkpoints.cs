// Checkpoints: the CRT's _CrtMemCheckpoint and _CrtMemDifference, and the live blocks allocated
// since a checkpoint (_CrtMemDumpAllObjectsSince as data).
//
// A checkpoint increments the tracker's checkpoint counter; every record takes the counter's value
// when its block is allocated (one plain volatile read on the commit path, no atomic), so "allocated
// since checkpoint k" is "epoch at least k's epoch", whatever thread drew which request numbers.
using MemTrace.Diagnostics;
using MemTrace.Internals;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    private uint _checkpointEpoch;

    /// <summary>
    /// Takes a checkpoint (the CRT's <c>_CrtMemCheckpoint</c>): the tracker's counters now, and a mark
    /// that tells which blocks are allocated after it. Emits a <see cref="HeapEventKind.Checkpoint"/>
    /// event with every region's statistics when a sink is attached (its label is the name, or
    /// <c>checkpoint #n</c> for an unnamed one).
    /// </summary>
    /// <param name="name">A name for reports, or null.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    /// <exception cref="InvalidOperationException">The tracker has taken <see cref="uint.MaxValue"/> checkpoints already.</exception>
    public MemoryCheckpoint Checkpoint(string? name = null)
    {
        ThrowIfDisposed();
        // Never past uint.MaxValue: a counter that wrapped to 0 would give later checkpoints epochs below
        // those of blocks already live, and later blocks an epoch before every checkpoint.
        uint epoch;
        do
        {
            var current = Volatile.Read(ref _checkpointEpoch);
            if (current == uint.MaxValue)
            {
                ThrowHelper.ThrowInvalidOperation("This tracker has used up its checkpoints.");
            }

            epoch = current + 1;
        }
        while (Interlocked.CompareExchange(ref _checkpointEpoch, epoch, epoch - 1) != epoch - 1);

        var totals = ReadTotals(); // One reading: live blocks are exactly allocations less frees.
        var checkpoint = new MemoryCheckpoint(this, name, epoch, DateTimeOffset.UtcNow, totals.LiveBlocks, totals.LiveBytes, totals.Allocations, totals.Frees, FailedAllocationCount);
        EmitSnapshot(name ?? checkpoint.ToString(), HeapEventKind.Checkpoint);
        return checkpoint;
    }

    /// <summary>
    /// The blocks still live that were allocated after <paramref name="checkpoint"/> (and, when
    /// <paramref name="until"/> is given, before that later checkpoint), ordered by request number.
    /// Blocks freed since are not included, whatever thread allocated or freed them.
    /// </summary>
    /// <param name="checkpoint">Where the window starts.</param>
    /// <param name="until">Where it ends, or null for now.</param>
    /// <returns>The blocks.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="checkpoint"/> is null.</exception>
    /// <exception cref="ArgumentException">A checkpoint belongs to another tracker, or <paramref name="until"/> was taken before <paramref name="checkpoint"/>.</exception>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public IReadOnlyList<AllocationRecord> GetAllocationsSince(MemoryCheckpoint checkpoint, MemoryCheckpoint? until = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ValidateWindow(checkpoint, until);
        ThrowIfDisposed();
        return LiveInWindow(checkpoint, until);
    }

    /// <summary>
    /// What changed between two checkpoints of this tracker (the CRT's <c>_CrtMemDifference</c>): live
    /// blocks and bytes, allocations, frees and failures. <see cref="MemoryDifference.IsSignificant"/> is
    /// what <c>_CrtMemDifference</c> returns.
    /// </summary>
    /// <param name="from">The earlier checkpoint.</param>
    /// <param name="to">The later checkpoint.</param>
    /// <returns>The difference.</returns>
    /// <exception cref="ArgumentNullException">A checkpoint is null.</exception>
    /// <exception cref="ArgumentException">A checkpoint belongs to another tracker, or <paramref name="to"/> was taken before <paramref name="from"/>.</exception>
    public MemoryDifference Difference(MemoryCheckpoint from, MemoryCheckpoint to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        ValidateWindow(from, to, nameof(from), nameof(to));
        return new MemoryDifference(from, to);
    }

    /// <summary>Checks that checkpoints are this tracker's and in order.</summary>
    private void ValidateWindow(MemoryCheckpoint? since, MemoryCheckpoint? until, string sinceName = "checkpoint", string untilName = "until")
    {
        if (since is not null && !ReferenceEquals(since.Tracker, this))
        {
            throw new ArgumentException($"{since} was taken by another tracker.", sinceName);
        }

        if (until is not null && !ReferenceEquals(until.Tracker, this))
        {
            throw new ArgumentException($"{until} was taken by another tracker.", untilName);
        }

        if (since is not null && until is not null && until.Epoch < since.Epoch)
        {
            throw new ArgumentException($"{until} was taken before {since}; give the earlier checkpoint first.", untilName);
        }
    }

    /// <summary>Live blocks with an epoch in [since, until), by request number.</summary>
    private List<AllocationRecord> LiveInWindow(MemoryCheckpoint? since, MemoryCheckpoint? until)
    {
        var from = (uint)(since?.Epoch ?? 0);
        var to = until is null ? uint.MaxValue : (uint)until.Epoch;
        var copies = ReadRecords(RecordState.Live);
        copies.RemoveAll(c => c.Record.Epoch < from || (until is not null && c.Record.Epoch >= to));
        copies.Sort(static (a, b) => a.Record.RequestNumber.CompareTo(b.Record.RequestNumber));
        var list = new List<AllocationRecord>(copies.Count);
        foreach (var copy in copies)
        {
            list.Add(ToAllocationRecord(copy));
        }

        return list;
    }
}

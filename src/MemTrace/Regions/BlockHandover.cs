// BlockHandover: which threads are handing a block between a poisoning region and its inner region
// (an allocation, realloc or free in progress), so that an integrity check can tell a block in
// transit from a damaged one exactly, without guessing how long a handover may take.
//
// A new block is live in the inner region (under its lock, or published in the host's map) a
// moment before its head and tail canaries are written; a block leaving the quarantine is no longer
// held a moment before the inner region takes it back; a check that reads either sees "damage".
// Each thread has a cell whose epoch is odd while it is inside an allocation, a realloc or a free
// with a quarantine or aligned blocks (a plain free changes nothing while checks can see the block:
// the inner region's lock or the host's claim keeps them away) of a poisoning region: made odd
// before the operation touches any block, even again (a release store) once it is done. Handovers
// do not nest: a realloc's own allocation and free come one after the other. A check that finds suspects reads every cell after its inspection: a handover
// in progress when a suspect was read is one of the odd epochs then, so waiting until each of those
// epochs has moved on, and inspecting the suspects again, sees every such block settled. Real
// damage stays.
//
// The cost on the allocation path is a thread-static read, a load and two stores to the thread's
// own cell; checks pay only when they find a suspect, and then only until
// the handovers in progress end (microseconds, unless a thread is descheduled in the middle of one).
using System.Runtime.CompilerServices;

namespace MemTrace.Regions;

internal static class BlockHandover
{
    [ThreadStatic]
    private static Cell? t_cell;

    private static readonly Lock s_lock = new();
    private static Cell[] s_cells = [];

    /// <summary>Marks the calling thread as handing a block over; pass the cell to <see cref="End"/> when done. Does not nest.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Cell Begin()
    {
        var cell = t_cell ?? Register();

        // Ordered before the inner region makes a block visible: by its lock (TLSF), or by the release store that
        // publishes a host block (LiveBlockMap.MarkLive).
        cell.Epoch++;
        return cell;
    }

    /// <summary>Ends the handover begun with <paramref name="cell"/>: everything written before is visible to a check that sees it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void End(Cell cell) => Volatile.Write(ref cell.Epoch, cell.Epoch + 1);

    /// <summary>
    /// Waits until every handover in progress at the call has ended, or <paramref name="timeout"/> has passed.
    /// </summary>
    /// <param name="timeout">The longest wait.</param>
    /// <param name="waited">Whether a handover was in progress (whether the call had to wait at all).</param>
    /// <returns>False when a handover was still in progress at the timeout.</returns>
    public static bool WaitForHandoversInProgress(TimeSpan timeout, out bool waited)
    {
        // The inspection's reads of the blocks come before the reads of the epochs.
        Interlocked.MemoryBarrier();
        var cells = Volatile.Read(ref s_cells);
        var current = t_cell;
        List<(Cell Cell, int Epoch)>? inProgress = null;
        foreach (var cell in cells)
        {
            var epoch = Volatile.Read(ref cell.Epoch);
            if ((epoch & 1) != 0 && cell != current)
            {
                (inProgress ??= []).Add((cell, epoch));
            }
        }

        waited = inProgress is not null;
        if (inProgress is null)
        {
            return true;
        }

        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var spins = 0;
        foreach (var (cell, epoch) in inProgress)
        {
            while (Volatile.Read(ref cell.Epoch) == epoch)
            {
                if (Environment.TickCount64 >= deadline)
                {
                    return false;
                }

                if (++spins < 64)
                {
                    Thread.Yield();
                }
                else
                {
                    Thread.Sleep(1);
                }
            }
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Cell Register()
    {
        var cell = new Cell();
        lock (s_lock)
        {
            // Cells of threads that have ended are even for good: drop them here, where the array is rebuilt anyway.
            var cells = new List<Cell>(s_cells.Length + 1);
            foreach (var existing in s_cells)
            {
                if (existing.Owner.TryGetTarget(out var thread) && thread.IsAlive)
                {
                    cells.Add(existing);
                }
            }

            cells.Add(cell);
            Volatile.Write(ref s_cells, [.. cells]);
        }

        t_cell = cell;
        return cell;
    }

    /// <summary>One thread's handovers: the epoch is odd while one is in progress. Only its thread writes it.</summary>
    internal sealed class Cell
    {
        public int Epoch;

        public WeakReference<Thread> Owner { get; } = new(Thread.CurrentThread);
    }
}

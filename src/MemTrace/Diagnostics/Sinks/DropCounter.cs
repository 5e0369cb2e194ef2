// DropCounter: an exact count of events dropped by many threads, without an interlocked
// operation per drop. Each thread counts in its own cell with plain stores (only that thread
// writes it); the total is the sum of the cells, read by the trace writer's thread. A thread
// finds its cell through one thread-static field that remembers the last counter it dropped to,
// so a thread that drops to one writer pays a load and a compare; alternating between writers
// costs a look-up under a lock, once per switch. Cells stay after their thread ends, so nothing
// counted is ever lost.
using System.Runtime.CompilerServices;

namespace MemTrace.Diagnostics.Sinks;

internal sealed class DropCounter
{
    [ThreadStatic]
    private static Cell? t_cell;

    private readonly Lock _lock = new();

    /// <summary>Identifies this counter's cells; cells refer to it rather than to the counter, so a thread-static never keeps a writer alive.</summary>
    private readonly object _token = new();

    private Cell[] _cells = [];

    /// <summary>Counts one drop on the calling thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Increment()
    {
        var cell = t_cell;
        if (cell is null || !ReferenceEquals(cell.Token, _token))
        {
            cell = CellOfThisThread();
        }

        Volatile.Write(ref cell.Count, cell.Count + 1);
    }

    /// <summary>Drops counted so far by every thread.</summary>
    public long Total
    {
        get
        {
            long total = 0;
            foreach (var cell in Volatile.Read(ref _cells))
            {
                total += Volatile.Read(ref cell.Count);
            }

            return total;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Cell CellOfThisThread()
    {
        var thread = Thread.CurrentThread;
        lock (_lock)
        {
            foreach (var cell in _cells)
            {
                if (ReferenceEquals(cell.Thread.Target, thread))
                {
                    return t_cell = cell;
                }
            }

            var created = new Cell(_token, thread);
            _cells = [.. _cells, created];
            return t_cell = created;
        }
    }

    private sealed class Cell(object token, Thread thread)
    {
        public readonly object Token = token;
        public readonly WeakReference Thread = new(thread);
        public long Count;
    }
}

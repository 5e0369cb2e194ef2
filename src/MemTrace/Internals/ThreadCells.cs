// Per-thread state owned by one object (a tracker), found in a couple of nanoseconds.
//
// ThreadLocal<T> drops a thread's value when the thread exits, which would lose what the value
// holds (free record handles, counts). Here each owner takes a small slot number; every thread
// keeps one array of cells indexed by slot; the owner also keeps the cells it handed out, so
// what a dead thread held can be harvested (a tracker then lets go of the cell). A slot is reused
// after its owner is disposed; a stale cell is recognised by its Owner field and replaced.
using System.Runtime.CompilerServices;

namespace MemTrace.Internals;

/// <summary>Base of per-thread state. Only its thread writes it, except where a subclass says otherwise.</summary>
internal abstract class ThreadCell
{
    protected ThreadCell(object owner)
    {
        Owner = owner;
        Thread = Thread.CurrentThread;
        ThreadId = Environment.CurrentManagedThreadId;
    }

    /// <summary>The object this cell belongs to.</summary>
    public object Owner { get; }

    /// <summary>The thread this cell belongs to; when it is no longer alive, the owner may harvest the cell.</summary>
    public Thread Thread { get; }

    /// <summary>Managed id of <see cref="Thread"/>, cached: reading it from the thread costs more.</summary>
    public int ThreadId { get; }
}

internal static class ThreadCells
{
    [ThreadStatic]
    private static ThreadCell?[]? t_cells;

    private static readonly Lock s_slotLock = new();
    private static readonly Stack<int> s_freeSlots = new();
    private static int s_nextSlot;

    public static int AcquireSlot()
    {
        lock (s_slotLock)
        {
            return s_freeSlots.Count > 0 ? s_freeSlots.Pop() : s_nextSlot++;
        }
    }

    public static void ReleaseSlot(int slot)
    {
        lock (s_slotLock)
        {
            s_freeSlots.Push(slot);
        }
    }

    /// <summary>This thread's cell for <paramref name="owner"/> in <paramref name="slot"/>, or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T? TryGet<T>(int slot, object owner)
        where T : ThreadCell
    {
        var cells = t_cells;
        if (cells is not null && (uint)slot < (uint)cells.Length)
        {
            var cell = cells[slot];
            if (cell is not null && ReferenceEquals(cell.Owner, owner))
            {
                return Unsafe.As<T>(cell);
            }
        }

        return null;
    }

    /// <summary>Stores this thread's cell for a slot.</summary>
    public static void Set(int slot, ThreadCell cell)
    {
        var cells = t_cells;
        if (cells is null || slot >= cells.Length)
        {
            var grown = new ThreadCell?[Math.Max(8, Math.Max(slot + 1, (cells?.Length ?? 0) * 2))];
            cells?.CopyTo(grown, 0);
            t_cells = cells = grown;
        }

        cells[slot] = cell;
    }
}

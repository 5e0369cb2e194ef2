// Per-thread statistics: ESP-IDF's heap task tracking (heap_task_info.c) for threads: current and
// peak bytes per thread and per region, a block charged to its allocating thread until it is freed
// by any thread or reallocated (then to the reallocating thread), ended threads dropped unless
// MemoryTrackerOptions.KeepEndedThreadStatistics (CONFIG_HEAP_TRACK_DELETED_TASKS), and the
// print_all_task_stat_overview / print_all_task_stat reports.
//
// Each thread that allocates gets an account (with its cell); each block's account and region slot
// are kept beside its record in a side table, so that a free on another thread finds the account to
// charge in O(1). A region is counted by its number in the heap (RegionSlots), so regions that share
// a name have rows of their own ("DRAM", "DRAM#2"). All of it exists only when
// MemoryTrackerOptions.ThreadStatistics is on.
using System.Globalization;
using System.Text;
using MemTrace.Internals;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    /// <summary>Approximate managed bytes of one account.</summary>
    private const int ThreadAccountBytes = ThreadAccount.ReservedBytes;

    private readonly HandleSideTable<uint>? _owners;
    /// <summary>
    /// The accounts by index, <see cref="_accountCount"/> of them; grown by doubling under <see cref="_cellsLock"/>. A slot
    /// is null once its account has been let go (<see cref="ReleaseEndedAccounts"/>): its thread ended, it held no block,
    /// and <see cref="MemoryTrackerOptions.KeepEndedThreadStatistics"/> is off. Indices are never reused.
    /// </summary>
    private ThreadAccount?[] _accounts = [];

    /// <summary>Whether ended threads keep their rows (<see cref="MemoryTrackerOptions.KeepEndedThreadStatistics"/>).</summary>
    private readonly bool _keepEndedAccounts;

    /// <summary>Accounts of ended threads whose cells were retired, to let go of once they hold no block (under <see cref="_cellsLock"/>).</summary>
    private readonly List<ThreadAccount> _endedAccounts = [];

    /// <summary>Accounts let go of (their slots are null), under <see cref="_cellsLock"/>.</summary>
    private int _releasedAccounts;

    /// <summary>Accounts held now: made, less those let go of.</summary>
    internal int HeldThreadAccounts
    {
        get
        {
            lock (_cellsLock)
            {
                return _accountCount - _releasedAccounts;
            }
        }
    }

    /// <summary>Accounts in <see cref="_accounts"/>; written after the array and its new slot, read before them.</summary>
    private int _accountCount;

    /// <summary>
    /// What each thread that allocated holds now and held at most, in total and per region (ESP-IDF's
    /// <c>heap_caps_get_all_task_stat</c>), with the live blocks charged to it. Threads appear in the order
    /// in which they first used the tracker or its heap (a thread that freed a block before it allocated one comes in
    /// at that free). An ended thread's row is dropped, as ESP-IDF drops a deleted task's statistics by default, unless
    /// <see cref="MemoryTrackerOptions.KeepEndedThreadStatistics"/> keeps it (marked not alive).
    /// </summary>
    /// <returns>One entry per running thread that allocated, and per ended one with <see cref="MemoryTrackerOptions.KeepEndedThreadStatistics"/>.</returns>
    /// <exception cref="InvalidOperationException">The tracker was created without <see cref="MemoryTrackerOptions.ThreadStatistics"/>.</exception>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public IReadOnlyList<ThreadMemoryStatistics> GetThreadStatistics()
    {
        if (_owners is null)
        {
            ThrowHelper.ThrowInvalidOperation("Per-thread statistics are off: create the tracker with MemoryTrackerOptions.ThreadStatistics = true.");
        }

        ThrowIfDisposed();
        var count = Volatile.Read(ref _accountCount);
        var accounts = Volatile.Read(ref _accounts).AsSpan(0, count);
        var blocks = LiveBlocksByOwner(_owners);
        var slots = RegionSlots.Describe(Heap.DescribeNumberedRegions());
        var result = new List<ThreadMemoryStatistics>(accounts.Length);
        foreach (var account in accounts)
        {
            if (account is null || account.Allocations == 0 || (!_keepEndedAccounts && !account.IsAlive))
            {
                continue;
            }

            var perRegion = new List<ThreadRegionStatistics>();
            for (var slot = 0; slot < slots.Length; slot++)
            {
                var region = account.Region(slot);
                if (region.Allocations == 0)
                {
                    continue;
                }

                blocks.TryGetValue(PackOwner(account, slot), out var list);
                list?.Sort(static (a, b) => a.RequestNumber.CompareTo(b.RequestNumber));
                perRegion.Add(new ThreadRegionStatistics
                {
                    RegionName = slots[slot].Name,
                    RegionLabel = slots[slot].Label,
                    RegionStart = slots[slot].Start,
                    Caps = slots[slot].Caps,
                    RegionSize = slots[slot].TotalSize,
                    CurrentBytes = region.CurrentBytes,
                    PeakBytes = region.PeakBytes,
                    CurrentBlocks = region.CurrentBlocks,
                    Allocations = region.Allocations,
                    Blocks = (IReadOnlyList<AllocationRecord>?)list ?? [],
                });
            }

            var (currentBytes, peakBytes) = account.Bytes();
            result.Add(new ThreadMemoryStatistics
            {
                ThreadId = account.ThreadId,
                Name = account.CurrentName,
                IsAlive = account.IsAlive,
                CurrentBytes = currentBytes,
                PeakBytes = peakBytes,
                CurrentBlocks = account.CurrentBlocks,
                Allocations = account.Allocations,
                Regions = perRegion,
            });
        }

        return result;
    }

    /// <summary>
    /// Prints the per-thread overview as ESP-IDF's <c>heap_caps_print_all_task_stat_overview</c> does: a box
    /// table of thread, status, current and peak usage and the number of regions used.
    /// </summary>
    /// <param name="output">Where to print; null for <see cref="Output"/>.</param>
    /// <returns>The statistics printed.</returns>
    /// <exception cref="InvalidOperationException">The tracker was created without <see cref="MemoryTrackerOptions.ThreadStatistics"/>.</exception>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public IReadOnlyList<ThreadMemoryStatistics> PrintThreadStatisticsOverview(TextWriter? output = null)
    {
        var stats = GetThreadStatistics();
        Write(output ?? Output, FormatThreadOverview(stats));
        return stats;
    }

    /// <summary>
    /// Prints every thread's statistics as ESP-IDF's <c>heap_caps_print_all_task_stat</c> does: per thread a
    /// line of totals, per region a line of usage, and per live block its address and size.
    /// </summary>
    /// <param name="output">Where to print; null for <see cref="Output"/>.</param>
    /// <returns>The statistics printed.</returns>
    /// <exception cref="InvalidOperationException">The tracker was created without <see cref="MemoryTrackerOptions.ThreadStatistics"/>.</exception>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public IReadOnlyList<ThreadMemoryStatistics> PrintThreadStatistics(TextWriter? output = null)
    {
        var stats = GetThreadStatistics();
        Write(output ?? Output, FormatThreadDetails(stats));
        return stats;
    }

    /// <summary>
    /// ESP-IDF's overview (<c>heap_caps_print_task_overview</c>): its fixed columns (<c>│ %18s │ %7s │ %20d │ %17d │ %15d │</c>,
    /// the name right-aligned), widened for a longer label; nothing at all when no thread is listed, as ESP-IDF prints its
    /// heading only with its first task. The first column is headed THREAD where ESP-IDF has TASK.
    /// </summary>
    internal static string FormatThreadOverview(IReadOnlyList<ThreadMemoryStatistics> stats)
    {
        if (stats.Count == 0)
        {
            return string.Empty;
        }

        string[] headers = ["THREAD", "STATUS", "CURRENT MEMORY USAGE", "PEAK MEMORY USAGE", "TOTAL HEAP USED"];
        int[] espIdfWidths = [18, 7, 20, 17, 15];
        var rows = stats.Select(static s => new[]
        {
            ThreadLabel(s),
            s.IsAlive ? "ALIVE" : "DELETED",
            s.CurrentBytes.ToString(CultureInfo.InvariantCulture),
            s.PeakBytes.ToString(CultureInfo.InvariantCulture),
            s.Regions.Count.ToString(CultureInfo.InvariantCulture),
        }).ToList();
        var widths = espIdfWidths.Select((w, i) => Math.Max(w, rows.Max(r => r[i].Length))).ToArray(); // Every heading fits its ESP-IDF width.

        var text = new StringBuilder();
        Rule(text, widths, '┌', '┬', '┐');
        Row(text, widths, headers, header: true);
        Rule(text, widths, '├', '┼', '┤');
        foreach (var row in rows)
        {
            Row(text, widths, row, header: false);
        }

        Rule(text, widths, '└', '┴', '┘');
        return text.ToString();

        static void Rule(StringBuilder text, int[] widths, char left, char middle, char right)
        {
            text.Append(left);
            for (var i = 0; i < widths.Length; i++)
            {
                text.Append('─', widths[i] + 2).Append(i == widths.Length - 1 ? right : middle);
            }

            text.AppendLine();
        }

        // Headings are left-aligned; in a row, the status is left-aligned ("ALIVE  ") and the rest right-aligned (%18s, %20d, …).
        static void Row(StringBuilder text, int[] widths, string[] cells, bool header)
        {
            text.Append('│');
            for (var i = 0; i < widths.Length; i++)
            {
                var cell = header || i == 1 ? cells[i].PadRight(widths[i]) : cells[i].PadLeft(widths[i]);
                text.Append(' ').Append(cell).Append(" │");
            }

            text.AppendLine();
        }
    }

    /// <summary>
    /// ESP-IDF's per-task print (<c>heap_caps_print_task_info</c>) with its tree: <c>├ </c> before each thread but the last
    /// (<c>└ </c>), <c>│    ├ HEAP: …</c> under it (<c>└</c> for its last region, the <c>│</c> a space under the last thread), and
    /// <c>│    │    ├ ALLOC %p, SIZE %u</c> under each region.
    /// </summary>
    internal static string FormatThreadDetails(IReadOnlyList<ThreadMemoryStatistics> stats)
    {
        var text = new StringBuilder();
        for (var t = 0; t < stats.Count; t++)
        {
            var thread = stats[t];
            var lastThread = t == stats.Count - 1;
            var threadStart = lastThread ? "└" : "├";
            var threadRail = lastThread ? " " : "│";
            text.Append(CultureInfo.InvariantCulture, $"{threadStart} {(thread.IsAlive ? "ALIVE" : "DELETED")}: {ThreadLabel(thread)}, CURRENT MEMORY USAGE {thread.CurrentBytes}, PEAK MEMORY USAGE {thread.PeakBytes}, TOTAL HEAP USED {thread.Regions.Count}:").AppendLine();
            for (var r = 0; r < thread.Regions.Count; r++)
            {
                var region = thread.Regions[r];
                var lastRegion = r == thread.Regions.Count - 1;
                var regionStart = lastRegion ? "└" : "├";
                var regionRail = lastRegion ? " " : "│";
                text.Append(CultureInfo.InvariantCulture, $"{threadRail}    {regionStart} HEAP: {region.RegionLabel ?? region.RegionName}, CAPS: 0x{(uint)region.Caps:x8}, SIZE: {HeapCaps.Bytes(region.RegionSize)}, USAGE: CURRENT {region.CurrentBytes} ({Percent(region.CurrentBytes, region.RegionSize)}), PEAK {region.PeakBytes} ({Percent(region.PeakBytes, region.RegionSize)}), ALLOC COUNT: {region.CurrentBlocks}").AppendLine();
                foreach (var block in region.Blocks)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{threadRail}    {regionRail}    ├ ALLOC {MemoryError.Hex(block.Address)}, SIZE {block.Size}").AppendLine();
                }
            }
        }

        return text.ToString();
    }

    private static string ThreadLabel(ThreadMemoryStatistics thread) => thread.Name is { Length: > 0 } name
        ? string.Create(CultureInfo.InvariantCulture, $"{name} (thread {thread.ThreadId})")
        : string.Create(CultureInfo.InvariantCulture, $"thread {thread.ThreadId}");

    private static string Percent(long bytes, nuint regionSize) => regionSize == 0 || regionSize == nuint.MaxValue
        ? "-"
        : string.Create(CultureInfo.InvariantCulture, $"{(long)((ulong)bytes * 100 / regionSize)}%");

    /// <summary>
    /// Makes the account of a thread's new cell (the caller holds <see cref="_cellsLock"/>). The table grows by doubling:
    /// copying it whole for every new account made each thread's first allocation cost as much as the threads seen
    /// before it, so that a program starting short-lived threads slowed down as it ran (quadratic copying, and a
    /// table-sized garbage array per thread). A reader that finds an index in the side table finds its account: the
    /// slot and the array are published before the count, and the count before any block is charged to the account.
    /// </summary>
    private ThreadAccount AddAccount(TrackerThreadCell cell)
    {
        var count = _accountCount;
        var accounts = _accounts;
        var account = new ThreadAccount(count, cell.Thread, cell.ThreadId);
        if (count == accounts.Length)
        {
            var grown = new ThreadAccount?[Math.Max(4, 2 * count)];
            accounts.CopyTo(grown, 0);
            grown[count] = account;
            Volatile.Write(ref _accounts, grown);
        }
        else
        {
            Volatile.Write(ref accounts[count], account);
        }

        Volatile.Write(ref _accountCount, count + 1);
        return account;
    }

    /// <summary>
    /// Lets go of the accounts of ended threads that hold no block (the caller holds <see cref="_cellsLock"/>), unless
    /// <see cref="MemoryTrackerOptions.KeepEndedThreadStatistics"/> keeps them: ESP-IDF drops a deleted task's statistics
    /// when <c>CONFIG_HEAP_TRACK_DELETED_TASKS</c> is off, its default, and without this every thread that ever
    /// allocated kept an account of about 2 kB for as long as the tracker lived. An account that still holds blocks is
    /// kept (its row hidden) until they are freed or reallocated: a free or realloc finds its account through the index in
    /// the block's side entry. None is added after the thread ended; a realloc on another thread rewrites the side entry
    /// before it takes the block off the account, so an account seen with no block is named by no live block's entry.
    /// </summary>
    private void ReleaseEndedAccounts()
    {
        var kept = 0;
        for (var index = 0; index < _endedAccounts.Count; index++)
        {
            var account = _endedAccounts[index];
            if (account.CurrentBlocks != 0)
            {
                _endedAccounts[kept++] = account;
                continue;
            }

            Volatile.Write(ref _accounts[account.Index], null);
            _releasedAccounts++;
        }

        _endedAccounts.RemoveRange(kept, _endedAccounts.Count - kept);
    }

    /// <summary>The side-table word of a block charged to <paramref name="account"/> in region slot <paramref name="region"/>; never 0.</summary>
    private static uint PackOwner(ThreadAccount account, int region) => ((uint)(account.Index + 1) << 8) | (uint)region;

    private int RegionSlotOf(void* block) => RegionSlots.SlotOf(Heap.RegionNumberOf(block));

    /// <summary>Charges the free of a block to the thread that allocated it: on its own side when that thread frees it (<paramref name="cell"/> is the freeing thread's), on the remote side otherwise.</summary>
    private void ChargeFree(TrackerThreadCell cell, uint handle, nuint size)
    {
        var owner = _owners!.Get(handle);
        if (owner != 0)
        {
            var account = Volatile.Read(ref _accounts)[(int)(owner >> 8) - 1]!;
            account.Freed((int)(owner & 0xFF), (long)size, byOwner: ReferenceEquals(account, cell.Account));
        }
    }

    /// <summary>
    /// Charges a realloc to the thread that makes it, as ESP-IDF does (<c>heap_caps_realloc_base</c> sets the block's
    /// owner to the current task and <c>heap_caps_update_per_task_info_realloc</c> takes the old size off the old
    /// owner and charges the new size to the current task): on the owner's thread the block is resized or moved between
    /// region slots; on another thread it leaves the owner's account for the reallocating thread's. The caller holds the
    /// record's write window.
    /// </summary>
    private void ChargeRealloc(TrackerThreadCell cell, uint handle, void* block, nuint oldSize, nuint newSize)
    {
        var owner = _owners!.Get(handle);
        if (owner == 0)
        {
            return;
        }

        var account = Volatile.Read(ref _accounts)[(int)(owner >> 8) - 1]!;
        var from = (int)(owner & 0xFF);
        var to = RegionSlotOf(block);
        var mine = cell.Account!; // Every cell has an account while thread statistics are on.
        if (!ReferenceEquals(account, mine))
        {
            // The side entry names the new owner before the block leaves the old one, which may then be let go of.
            mine.Allocated(to, (long)newSize);
            _owners.At(handle) = PackOwner(mine, to);
            account.Freed(from, (long)oldSize, byOwner: false);
            return;
        }

        account.Resized(from, (long)oldSize, to, (long)newSize);
        if (to != from)
        {
            _owners.At(handle) = PackOwner(account, to);
        }
    }

    /// <summary>Every live block, grouped by the owner word of its side entry (a reader's section).</summary>
    /// <exception cref="ObjectDisposedException">The tracker is being disposed.</exception>
    private Dictionary<uint, List<AllocationRecord>> LiveBlocksByOwner(HandleSideTable<uint> owners)
    {
        if (!EnterReader())
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }

        try
        {
            return LiveBlocksByOwnerInSection(owners);
        }
        finally
        {
            ExitReader();
        }
    }

    private Dictionary<uint, List<AllocationRecord>> LiveBlocksByOwnerInSection(HandleSideTable<uint> owners)
    {
        var byOwner = new Dictionary<uint, List<AllocationRecord>>();
        var limit = _store.HandleLimit;
        for (uint handle = 1; handle < limit; handle++)
        {
            var owner = 0u;
            var stack = default(System.Diagnostics.StackFrame[]);
            var record = _stacks is null
                ? TrackedRecord.ReadConsistent(ref _store[handle], owners, handle, out owner)
                : ReadWithStackAndOwner(handle, owners, out stack, out owner);
            if (record.State != RecordState.Live || owner == 0)
            {
                continue;
            }

            if (!byOwner.TryGetValue(owner, out var list))
            {
                byOwner[owner] = list = [];
            }

            list.Add(ToAllocationRecord(record, stack));
        }

        return byOwner;
    }

    /// <summary>A record with both its stack and its owner word, all three from one write of the record.</summary>
    private TrackedRecord ReadWithStackAndOwner(uint handle, HandleSideTable<uint> owners, out System.Diagnostics.StackFrame[]? stack, out uint owner)
    {
        while (true)
        {
            var record = ReadWithStack(handle, out stack);
            var again = TrackedRecord.ReadConsistent(ref _store[handle], owners, handle, out owner);
            if (again.Version == record.Version)
            {
                return record;
            }
        }
    }
}

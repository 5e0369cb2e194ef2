// Looking inside the heap: integrity checks, walks, dumps, containing blocks and the local
// minimum-free monitor, as heap_caps_check_integrity*, heap_caps_walk*, heap_caps_dump*,
// heap_caps_get_containing_block_size and heap_caps_monitor_local_minimum_free_size_* do.
//
// The public checks answer true or false, as ESP-IDF's do, and report what poisoning finds in blocks
// as memory errors detected by heap_caps_check_integrity. The checks MemTrace runs on its own (the
// periodic one, the one at a tracker's disposal) must not fail silently: they also report damage to
// the allocator's own structures, and say what ran them (CheckIntegrityReporting).
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using MemTrace.Regions;

namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    private Dictionary<Region, nuint>? _monitorSnapshots;

    /// <summary>The array of saved minimums ESP-IDF allocates for an open window (see <see cref="MonitorLocalMinimumFreeSizeStart"/>); null when none.</summary>
    private void* _monitorArray;

    /// <summary>
    /// Checks every region with <paramref name="caps"/> (every region when <see cref="MallocCaps.Invalid"/> is set) and
    /// reports whether all are sound (<c>heap_caps_check_integrity</c>). Every region is checked, even after a failure.
    /// </summary>
    /// <remarks>
    /// With poisoning, what the check finds in blocks (a broken canary, a changed fill pattern in a quarantined block or
    /// in free memory) is also reported as a <see cref="MemoryError"/> detected by <see cref="AllocationMethod.CheckIntegrity"/>,
    /// once per damage, under <see cref="ErrorPolicy"/>: the method returns false under <see cref="MemoryErrorPolicy.Report"/>,
    /// throws under <see cref="MemoryErrorPolicy.Throw"/>, ends the process under <see cref="MemoryErrorPolicy.FailFast"/>.
    /// Damage to the allocator's own structures (TLSF headers) only makes it return false, as ESP-IDF's does.
    /// </remarks>
    /// <param name="caps">Capabilities; <see cref="MallocCaps.Invalid"/> selects all regions.</param>
    /// <param name="print">Whether to write what is wrong.</param>
    /// <param name="output">Where to write; null for <see cref="Console.Out"/>.</param>
    /// <returns>True when every checked region is sound.</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException">Poisoning found damage and the policy is <see cref="MemoryErrorPolicy.Throw"/>
    /// (every damage found is reported first; the exception carries the first).</exception>
    public bool CheckIntegrity(MallocCaps caps, bool print, TextWriter? output = null)
    {
        ThrowIfDisposed();
        var writer = print ? output ?? Console.Out : null;
        var all = (caps & MallocCaps.Invalid) != 0;
        var sound = true;
        foreach (var region in _set.Ordered)
        {
            if (all || Matches(region.AllCaps, caps))
            {
                sound &= region.CheckIntegrity(writer);
            }
        }

        if (_debugRegions)
        {
            DrainCorruptions(AllocationMethod.CheckIntegrity);
        }

        return sound;
    }

    /// <summary>
    /// Checks every region, as <see cref="CheckIntegrityAll(bool, TextWriter?)"/>, and reports what is wrong as memory
    /// errors under <see cref="ErrorPolicy"/>, detected by <see cref="AllocationMethod.CheckIntegrity"/> with
    /// <paramref name="when"/> as <see cref="MemoryError.DetectedWhen"/>: the corruptions a region finds itself (poisoning:
    /// canaries, fill patterns) with their blocks, as usual; and a region whose allocator structures fail the check (TLSF
    /// block headers, free lists, the heap header) as one <see cref="MemoryErrorKind.CorruptBlock"/> error at the first
    /// damaged address, whose note is the region's own description of the damage.
    /// </summary>
    /// <param name="when">What ran the check, e.g. <c>when the tracker was disposed</c>.</param>
    /// <returns>True when every region is sound.</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException">A region is damaged and the policy is <see cref="MemoryErrorPolicy.Throw"/>
    /// (the first error found is thrown; regions after it are not reported).</exception>
    internal bool CheckIntegrityReporting(string when)
    {
        ThrowIfDisposed();
        var sound = true;
        foreach (var region in _set.Ordered)
        {
            var details = new StringWriter(CultureInfo.InvariantCulture);
            if (region.CheckIntegrity(details, out var structuresSound))
            {
                continue;
            }

            sound = false;
            if (!structuresSound)
            {
                ReportError(DescribeFailedCheck(region, details.ToString(), when));
            }
        }

        if (_debugRegions)
        {
            DrainCorruptions(AllocationMethod.CheckIntegrity, when);
        }

        return sound;
    }

    /// <summary>Checks every region (<c>heap_caps_check_integrity_all</c>).</summary>
    /// <param name="print">Whether to write what is wrong.</param>
    /// <param name="output">Where to write; null for <see cref="Console.Out"/>.</param>
    /// <returns>True when every region is sound.</returns>
    /// <exception cref="MemoryErrorException">Poisoning found damage and the policy is <see cref="MemoryErrorPolicy.Throw"/>
    /// (see <see cref="CheckIntegrity(MallocCaps, bool, TextWriter?)"/>).</exception>
    public bool CheckIntegrityAll(bool print, TextWriter? output = null) => CheckIntegrity(MallocCaps.Invalid, print, output);

    /// <summary>Checks the whole region that holds <paramref name="address"/> (<c>heap_caps_check_integrity_addr</c>).</summary>
    /// <param name="address">Any address in the region.</param>
    /// <param name="print">Whether to write what is wrong.</param>
    /// <param name="output">Where to write; null for <see cref="Console.Out"/>.</param>
    /// <returns>True when the region is sound; false when it is not or when no region holds the address.</returns>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    /// <exception cref="MemoryErrorException">Poisoning found damage and the policy is <see cref="MemoryErrorPolicy.Throw"/>
    /// (see <see cref="CheckIntegrity(MallocCaps, bool, TextWriter?)"/>).</exception>
    public bool CheckIntegrityAddr(void* address, bool print, TextWriter? output = null)
    {
        ThrowIfDisposed();
        var region = FindRegion(address);
        var sound = region is not null && region.CheckIntegrity(print ? output ?? Console.Out : null);
        if (_debugRegions)
        {
            DrainCorruptions(AllocationMethod.CheckIntegrity);
        }

        return sound;
    }

    /// <summary>The error for a region whose allocator structures failed the check: its own lines say what is wrong.</summary>
    private static MemoryError DescribeFailedCheck(Region region, string details, string when)
    {
        // A poisoning region writes its own findings (reported on their own) after its allocator's lines.
        var lines = details.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(static l => !l.StartsWith("CORRUPT HEAP:", StringComparison.Ordinal))
            .ToArray();
        var first = lines.Length > 0 ? FirstAddress().Match(lines[0]) : Match.Empty;
        var address = first.Success && ulong.TryParse(first.Groups[1].ValueSpan, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var parsed)
            ? (nuint)parsed
            : region.Start;
        var note = new StringBuilder();
        note.Append(CultureInfo.InvariantCulture, $"region {region.Name} failed its integrity check (multi_heap_check) {when}: the allocator's own structures are damaged,");
        note.Append("\nmost likely by a write past the end of the block before; poisoning (Light) catches such writes when they happen.");
        foreach (var line in lines)
        {
            note.Append('\n').Append(line);
        }

        return new MemoryError(MemoryErrorKind.CorruptBlock, AllocationMethod.CheckIntegrity, address)
        {
            RegionName = region.Name,
            DetectedWhen = when,
            Note = note.ToString(),
        };
    }

    /// <summary>The first address a region's check names (TLSF: <c>… at 0x3ffb1234 (region offset …)</c>).</summary>
    [GeneratedRegex(@"\bat 0x([0-9a-fA-F]+)", RegexOptions.CultureInvariant)]
    private static partial Regex FirstAddress();

    /// <summary>Walks every block of every region with <paramref name="caps"/> (every region when <see cref="MallocCaps.Invalid"/> is set) (<c>heap_caps_walk</c>).</summary>
    /// <param name="caps">Capabilities; <see cref="MallocCaps.Invalid"/> selects all regions.</param>
    /// <param name="walker">
    /// Called per block, under the region's lock (as on the chip); returning false stops only the current region. It may
    /// query the heap, not allocate or free on the region it walks (<see cref="LockRecursionException"/>). An exception it
    /// throws ends the walk and propagates; the heap is left as it was.
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="walker"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void Walk(MallocCaps caps, HeapWalker walker)
    {
        ArgumentNullException.ThrowIfNull(walker);
        ThrowIfDisposed();
        var all = (caps & MallocCaps.Invalid) != 0;
        var outer = t_walking;
        t_walking = this;
        try
        {
            foreach (var region in _set.Ordered)
            {
                if (all || Matches(region.AllCaps, caps))
                {
                    var info = new HeapWalkRegion(region.Name, region.Start, region.End);
                    region.Walk((address, size, used) => walker(info, new HeapWalkBlock(address, size, used)));
                }
            }
        }
        finally
        {
            t_walking = outer;
        }
    }

    /// <summary>The heap whose walker this thread is running, if any (a walker may walk another heap inside it).</summary>
    [ThreadStatic]
    private static HeapCaps? t_walking;

    /// <summary>
    /// Refuses to dispose the heap, or its tracker, from inside one of its walkers: the walked region's lock is held, so
    /// disposal would stop part-way, marked done with its memory never released.
    /// </summary>
    /// <param name="what">What was being disposed and from where, the message's start ("The heap cannot be disposed from inside one of its walkers").</param>
    /// <exception cref="InvalidOperationException">This thread is running a walker of this heap.</exception>
    internal void ThrowIfWalkingOnThisThread(string what)
    {
        if (ReferenceEquals(t_walking, this))
        {
            Internals.ThrowHelper.ThrowInvalidOperation($"{what} (HeapCaps.Walk holds the region's lock); dispose it after the walk.");
        }
    }

    /// <summary>Walks every block of every region (<c>heap_caps_walk_all</c>).</summary>
    /// <param name="walker">Called per block, as for <see cref="Walk"/>; returning false stops only the current region.</param>
    /// <exception cref="ArgumentNullException"><paramref name="walker"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void WalkAll(HeapWalker walker) => Walk(MallocCaps.Invalid, walker);

    /// <summary>Prints every block of every region with <paramref name="caps"/> (every region when <see cref="MallocCaps.Invalid"/> is set) in ESP-IDF's format (<c>heap_caps_dump</c>).</summary>
    /// <param name="caps">Capabilities; <see cref="MallocCaps.Invalid"/> selects all regions.</param>
    /// <param name="output">Where to write; null for <see cref="Console.Out"/>.</param>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void Dump(MallocCaps caps, TextWriter? output = null)
    {
        ThrowIfDisposed();
        var text = new StringBuilder();
        var all = (caps & MallocCaps.Invalid) != 0;
        foreach (var region in _set.Ordered)
        {
            if (!all && !Matches(region.AllCaps, caps))
            {
                continue;
            }

            text.Append(CultureInfo.InvariantCulture, $"Showing data for heap: 0x{region.Start:x} ").AppendLine();
            region.Walk((address, size, used) =>
            {
                text.Append(CultureInfo.InvariantCulture, $"Block 0x{address:x} data, size: {size} bytes, Free: {(used ? "No" : "Yes")} ").AppendLine();
                return true;
            });
        }

        (output ?? Console.Out).Write(text.ToString());
    }

    /// <summary>Prints every block of every region (<c>heap_caps_dump_all</c>).</summary>
    /// <param name="output">Where to write; null for <see cref="Console.Out"/>.</param>
    /// <exception cref="ObjectDisposedException">The heap was disposed.</exception>
    public void DumpAll(TextWriter? output = null) => Dump(MallocCaps.Invalid, output);

    /// <summary>The usable size of the live block that contains <paramref name="ptr"/>, anywhere inside it (<c>heap_caps_get_containing_block_size</c>); O(blocks).</summary>
    /// <param name="ptr">An address inside a live block.</param>
    /// <returns>The block's usable size; 0 when no live block contains the address (ESP-IDF asserts).</returns>
    public nuint GetContainingBlockSize(void* ptr)
    {
        ThrowIfDisposed();
        var region = FindRegion(ptr);
        if (region is null)
        {
            return 0;
        }

        // The live block that starts last at or before ptr is the only one that can hold it (blocks do not overlap);
        // whether it does is asked of its allocated size, which with poisoning runs past the requested bytes the walk
        // reports (asked after the walk: the region's lock is not re-entrant).
        nuint nearest = 0;
        region.ForEachLiveBlock((start, _, _) =>
        {
            if (start <= (nuint)ptr && start > nearest)
            {
                nearest = start;
            }
        });
        if (nearest == 0)
        {
            return 0;
        }

        var allocated = region.AllocatedSize((void*)nearest);
        return (nuint)ptr - nearest < allocated ? allocated : 0;
    }

    /// <summary>
    /// Starts a local minimum-free window (<c>heap_caps_monitor_local_minimum_free_size_start</c>): each
    /// region's minimum is saved and reset to its current free size. Calling it again while a window
    /// is open is fine and keeps the lower saved minimum.
    /// </summary>
    /// <remarks>
    /// As on the chip, opening a window allocates the array of saved minimums (4 bytes, a chip's <c>size_t</c>, per
    /// region) with <c>heap_caps_malloc(…, MALLOC_CAP_DEFAULT)</c> before the minimums are reset; <see cref="MonitorLocalMinimumFreeSizeStop"/>
    /// frees it. It is the heap's own bookkeeping, not shown to a tracker. When no DEFAULT memory is left for it (ESP-IDF
    /// asserts), the failure callback runs and the window opens without it.
    /// </remarks>
    /// <returns><see cref="HeapCapsResult.Ok"/>.</returns>
    public HeapCapsResult MonitorLocalMinimumFreeSizeStart()
    {
        ThrowIfDisposed();

        // The array is allocated with no lock of the region list held, as ESP-IDF allocates it: a failure runs the
        // failed-allocation callback, which may wait for another thread that adds a region or opens a window.
        while (true)
        {
            var opening = Volatile.Read(ref _monitorSnapshots) is null;
            var array = opening ? MallocTagged(AllocationMethod.Malloc, (nuint)(4 * _set.Ordered.Length), MallocCaps.Default, 0) : null;
            lock (_regionLock)
            {
                if (_monitorSnapshots is null)
                {
                    if (!opening)
                    {
                        continue; // The window seen open was closed since: go round, and open one with an array.
                    }

                    _monitorArray = array;
                    array = null;
                }

                var snapshots = _monitorSnapshots ?? [];
                foreach (var region in _set.Ordered)
                {
                    var minimum = region.SwapMinimumFree();
                    snapshots[region] = snapshots.TryGetValue(region, out var kept) ? Math.Min(kept, minimum) : minimum;
                }

                Volatile.Write(ref _monitorSnapshots, snapshots);
            }

            if (array is not null)
            {
                FreeTagged(array, clearIfTagged: false, out _); // Another thread opened the window meanwhile: its array stands.
            }

            return HeapCapsResult.Ok;
        }
    }

    /// <summary>
    /// Ends the local minimum-free window (<c>heap_caps_monitor_local_minimum_free_size_stop</c>): each
    /// region's minimum becomes the lower of the window's minimum and the saved one; then the window's array of saved
    /// minimums is freed.
    /// </summary>
    /// <returns><see cref="HeapCapsResult.Ok"/>, or <see cref="HeapCapsResult.Fail"/> when no window is open.</returns>
    public HeapCapsResult MonitorLocalMinimumFreeSizeStop()
    {
        ThrowIfDisposed();
        lock (_regionLock)
        {
            if (_monitorSnapshots is not { } snapshots)
            {
                return HeapCapsResult.Fail;
            }

            foreach (var (region, minimum) in snapshots)
            {
                region.RestoreMinimumFree(minimum);
            }

            _monitorSnapshots = null;
            if (_monitorArray is not null)
            {
                FreeTagged(_monitorArray, clearIfTagged: false, out _);
                _monitorArray = null;
            }
        }

        return HeapCapsResult.Ok;
    }
}

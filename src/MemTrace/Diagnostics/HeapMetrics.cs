// HeapMetrics: a tracker's figures as System.Diagnostics.Metrics instruments, for dotnet-counters,
// OpenTelemetry and any MeterListener. The meter is named "MemTrace".
//
// Almost everything is observable — gauges and counters read from the tracker and its heap when
// a listener collects — so they cost the allocation path nothing. The one exception is the
// histogram of allocation sizes, which needs every allocation: observing a tracker attaches this
// object to it, and the tracker hands it each allocation's size (no event is built for it unless a
// sink wants allocations too); the size is recorded only while a listener has enabled the
// histogram. So `new HeapMetrics(tracker)` is all it takes, whatever the tracker's sinks are.
//
// HeapMetrics is still an IHeapEventSink, for programs that added it to a pipeline before the
// tracker existed: as a sink it records allocation sizes only until it observes a tracker, so a
// size is never counted twice.
using System.Diagnostics.Metrics;
using MemTrace.Internals;

namespace MemTrace.Diagnostics;

/// <summary>
/// A <see cref="Meter"/> named <c>MemTrace</c> with a tracker's figures: live bytes and blocks; free bytes,
/// minimum free and largest free block per region and per capability; counters of allocations, frees,
/// failures and errors; and a histogram of allocation sizes.
/// </summary>
/// <remarks>
/// Instruments (units in brackets): <c>memtrace.live.bytes</c> [By], <c>memtrace.live.blocks</c> [{block}];
/// <c>memtrace.region.free</c>, <c>memtrace.region.minimum_free</c>, <c>memtrace.region.largest_free_block</c>,
/// <c>memtrace.region.size</c> [By] tagged <c>region</c> and <c>caps</c>; <c>memtrace.caps.free</c>,
/// <c>memtrace.caps.minimum_free</c>, <c>memtrace.caps.largest_free_block</c> [By] tagged <c>caps</c> (for
/// <see cref="MemoryTracker.MemoryInfoCaps"/>); counters <c>memtrace.allocations</c>, <c>memtrace.frees</c>,
/// <c>memtrace.allocation_failures</c>, <c>memtrace.errors</c>; histogram <c>memtrace.allocation.size</c> [By]
/// tagged <c>region</c>. Regions that share a name are reported together (sums; the largest block of any).
/// Given a heap name, every measurement also carries the tag <c>heap</c> with it, so that several heaps in one
/// process (one <see cref="HeapMetrics"/> each, all in meters named <c>MemTrace</c>) stay apart.
/// Unbounded (process heap) regions report no free figures.
/// <para>Cost: the gauges and counters are read when a listener collects them. The size histogram needs every
/// allocation: while this observes a tracker, each tracked allocation makes one call out of line that tests
/// whether a listener has enabled the histogram (a few nanoseconds, see docs/benchmarks.md), and records the
/// size when one has.</para>
/// </remarks>
/// <example>
/// <code>
/// using var tracker = new MemoryTracker(heap);
/// using var metrics = new HeapMetrics(tracker);
/// // dotnet-counters monitor -p PID --counters MemTrace
/// </code>
/// </example>
public sealed class HeapMetrics : IHeapEventSink, IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "MemTrace";

    private readonly Meter _meter;
    private readonly Histogram<long> _allocationSizes;

    /// <summary>The <c>heap</c> tag of every measurement, or null when no heap name was given.</summary>
    private readonly KeyValuePair<string, object?>? _heapTag;
    private MemoryTracker? _tracker;
    private int _disposed;

    /// <summary>Creates the meter and its instruments; they report nothing until <see cref="Observe(MemoryTracker)"/>.</summary>
    public HeapMetrics()
        : this(heapName: null)
    {
    }

    /// <summary>
    /// Creates the meter and its instruments, every measurement tagged <c>heap</c> = <paramref name="heapName"/>;
    /// they report nothing until <see cref="Observe(MemoryTracker)"/>.
    /// </summary>
    /// <param name="heapName">Names the heap in the <c>heap</c> tag; null for no such tag.</param>
    /// <exception cref="ArgumentException"><paramref name="heapName"/> is empty or white space.</exception>
    public HeapMetrics(string? heapName)
    {
        if (heapName is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(heapName);
            _heapTag = new("heap", heapName);
        }

        HeapName = heapName;
        _meter = new Meter(MeterName, typeof(HeapMetrics).Assembly.GetName().Version?.ToString());
        _meter.CreateObservableGauge("memtrace.live.bytes", () => Tracked(t => t.LiveBytes), "By", "Requested bytes of the blocks the tracker holds live.");
        _meter.CreateObservableGauge("memtrace.live.blocks", () => Tracked(t => t.LiveBlocks), "{block}", "Blocks the tracker holds live.");
        _meter.CreateObservableGauge("memtrace.region.free", () => PerRegion(static r => r.FreeBytes, largest: false), "By", "Free bytes of each region.");
        _meter.CreateObservableGauge("memtrace.region.minimum_free", () => PerRegion(static r => r.MinimumFreeBytes, largest: false), "By", "Lifetime minimum of free bytes of each region.");
        _meter.CreateObservableGauge("memtrace.region.largest_free_block", () => PerRegion(static r => r.LargestFreeBlock, largest: true), "By", "Largest free block of each region: the largest request guaranteed to succeed.");
        _meter.CreateObservableGauge("memtrace.region.size", () => PerRegion(static r => r.TotalSize, largest: false), "By", "Size of each region, metadata included.");
        _meter.CreateObservableGauge("memtrace.caps.free", () => PerCaps(static (h, c) => h.GetFreeSize(c)), "By", "heap_caps_get_free_size for each capability.");
        _meter.CreateObservableGauge("memtrace.caps.minimum_free", () => PerCaps(static (h, c) => h.GetMinimumFreeSize(c)), "By", "heap_caps_get_minimum_free_size for each capability.");
        _meter.CreateObservableGauge("memtrace.caps.largest_free_block", () => PerCaps(static (h, c) => h.GetLargestFreeBlock(c)), "By", "heap_caps_get_largest_free_block for each capability.");
        _meter.CreateObservableCounter("memtrace.allocations", () => Tracked(t => t.TotalAllocations), "{allocation}", "Allocations recorded.");
        _meter.CreateObservableCounter("memtrace.frees", () => Tracked(t => t.TotalFrees), "{free}", "Frees of recorded blocks.");
        _meter.CreateObservableCounter("memtrace.allocation_failures", () => Tracked(t => t.FailedAllocationCount), "{failure}", "Failed allocation requests.");
        _meter.CreateObservableCounter("memtrace.errors", () => Tracked(t => t.Heap.ErrorCount), "{error}", "Memory errors detected (double free, invalid pointer, corruption).");
        _allocationSizes = _meter.CreateHistogram<long>("memtrace.allocation.size", "By", "Requested size of each allocation (recorded only while a listener enables it).");
    }

    /// <summary>Creates the meter and observes <paramref name="tracker"/> at once: every instrument, the allocation-size histogram included.</summary>
    /// <param name="tracker">The tracker.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tracker"/> is null.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="tracker"/> was disposed.</exception>
    public HeapMetrics(MemoryTracker tracker)
        : this(tracker, heapName: null)
    {
    }

    /// <summary>Creates the meter, every measurement tagged <c>heap</c> = <paramref name="heapName"/>, and observes <paramref name="tracker"/> at once.</summary>
    /// <param name="tracker">The tracker.</param>
    /// <param name="heapName">Names the heap in the <c>heap</c> tag; null for no such tag.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tracker"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="heapName"/> is empty or white space.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="tracker"/> was disposed.</exception>
    public HeapMetrics(MemoryTracker tracker, string? heapName)
        : this(heapName)
    {
        try
        {
            Observe(tracker);
        }
        catch
        {
            _meter.Dispose(); // Refused: no meter is left published for it.
            throw;
        }
    }

    /// <summary>The value of every measurement's <c>heap</c> tag; null when there is no such tag.</summary>
    public string? HeapName { get; }

    /// <summary>The meter.</summary>
    public Meter Meter => _meter;

    /// <summary>Makes the instruments report <paramref name="tracker"/> and its heap, and attaches the allocation-size histogram to the tracker.</summary>
    /// <param name="tracker">The tracker.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tracker"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Another tracker is already observed.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="tracker"/> was disposed: it would report figures frozen at its
    /// disposal; or these metrics were: the tracker would hand every allocation to them for the rest of its life.</exception>
    public void Observe(MemoryTracker tracker)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }

        tracker.ThrowIfDisposed();
        var previous = Interlocked.CompareExchange(ref _tracker, tracker, null);
        if (previous is not null && previous != tracker)
        {
            throw new InvalidOperationException("This HeapMetrics already observes another tracker; create one HeapMetrics per tracker.");
        }

        tracker.AttachMetrics(this);
        if (Volatile.Read(ref _disposed) != 0)
        {
            // Disposed on another thread meanwhile, perhaps before it could see the tracker to detach from: detach here.
            tracker.DetachMetrics(this);
            ThrowHelper.ThrowObjectDisposed(this);
        }
    }

    /// <summary>As a sink, records the size of an allocation in the histogram when a listener has enabled it, until this observes a tracker (which then hands it every allocation itself).</summary>
    /// <param name="heapEvent">The event.</param>
    public void Emit(in HeapEvent heapEvent)
    {
        if (heapEvent.Kind == HeapEventKind.Allocation && _allocationSizes.Enabled && Volatile.Read(ref _tracker) is null)
        {
            RecordSize(heapEvent.Size, heapEvent.RegionName);
        }
    }

    /// <summary>Detaches from the observed tracker and disposes the meter: listeners stop receiving its instruments, and <see cref="Observe(MemoryTracker)"/> is refused.</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _disposed, 1); // A full fence: an Observe on another thread sees it, or this sees its tracker.
        Volatile.Read(ref _tracker)?.DetachMetrics(this);
        _meter.Dispose();
    }

    /// <summary>Whether a listener has enabled the size histogram (the tracker looks up nothing for it otherwise).</summary>
    internal bool RecordsSizes => _allocationSizes.Enabled;

    /// <summary>Records one allocation of the observed tracker (called by the tracker once it has seen <see cref="RecordsSizes"/>, off its hot path).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    internal void RecordAllocation(nuint size, int regionId) => RecordSize(size, RegionNameRegistry.Get(regionId));

    private void RecordSize(nuint size, string? region)
    {
        var regionTag = new KeyValuePair<string, object?>("region", region);
        if (_heapTag is { } heap)
        {
            _allocationSizes.Record((long)size, regionTag, heap);
        }
        else
        {
            _allocationSizes.Record((long)size, regionTag);
        }
    }

    /// <summary>A measurement with <paramref name="tags"/> and the heap tag, if any.</summary>
    private Measurement<long> Measure(long value, params ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_heapTag is not { } heap)
        {
            return new Measurement<long>(value, tags);
        }

        var all = new KeyValuePair<string, object?>[tags.Length + 1];
        tags.CopyTo(all);
        all[^1] = heap;
        return new Measurement<long>(value, all);
    }

    private IEnumerable<Measurement<long>> Tracked(Func<MemoryTracker, long> read)
    {
        var tracker = Volatile.Read(ref _tracker);
        if (tracker is null)
        {
            return [];
        }

        return [Measure(read(tracker))];
    }

    /// <summary>One measurement per region name: regions that share a name (an ESP32 has two "DRAM" ranges) add up, and their largest free block is the largest of any.</summary>
    private IEnumerable<Measurement<long>> PerRegion(Func<RegionSnapshot, nuint> read, bool largest)
    {
        var tracker = Volatile.Read(ref _tracker);
        if (tracker is null)
        {
            return [];
        }

        IReadOnlyList<RegionSnapshot> regions;
        try
        {
            tracker.Heap.ThrowIfDisposed();
            regions = tracker.Heap.SnapshotRegions();
        }
        catch (ObjectDisposedException)
        {
            return [];
        }

        var byName = new Dictionary<string, (long Value, MallocCaps Caps)>(StringComparer.Ordinal);
        foreach (var region in regions)
        {
            if (region.IsUnbounded)
            {
                continue;
            }

            var value = (long)read(region);
            byName[region.Name] = byName.TryGetValue(region.Name, out var sum)
                ? (largest ? Math.Max(sum.Value, value) : sum.Value + value, sum.Caps | region.Caps)
                : (value, region.Caps);
        }

        var measurements = new List<Measurement<long>>(byName.Count);
        foreach (var (name, (value, caps)) in byName)
        {
            measurements.Add(Measure(value, new("region", name), new("caps", caps.ToCapsString())));
        }

        return measurements;
    }

    private IEnumerable<Measurement<long>> PerCaps(Func<HeapCaps, MallocCaps, nuint> read)
    {
        var tracker = Volatile.Read(ref _tracker);
        if (tracker is null)
        {
            return [];
        }

        var measurements = new List<Measurement<long>>(MemoryTracker.MemoryInfoCaps.Count);
        try
        {
            foreach (var caps in MemoryTracker.MemoryInfoCaps)
            {
                var value = read(tracker.Heap, caps);
                if (value != nuint.MaxValue)
                {
                    measurements.Add(Measure((long)value, new KeyValuePair<string, object?>("caps", caps.ToCapsString())));
                }
            }
        }
        catch (ObjectDisposedException)
        {
            return [];
        }

        return measurements;
    }
}

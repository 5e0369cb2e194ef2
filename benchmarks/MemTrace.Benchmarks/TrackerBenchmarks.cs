// Malloc+free pairs on one thread with N blocks already live: raw NativeMemory (the floor),
// HeapCaps over the host heap alone, the tracker enabled and disabled, and the seed-style
// tracker. Each method cycles through the size trace; results are per pair.
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class TrackerBenchmarks
{
    /// <summary>The seed-style free scans every record, so it gets fewer pairs per invocation.</summary>
    private const int SeedPairs = 16;

    private nuint[] _sizes = [];
    private nint[] _live = [];
    private HeapCaps? _heap;
    private MemoryTracker? _tracker;
    private SeedStyleTracker? _seed;
    private int _seedCursor;

    [Params("64B", "mixed")]
    public string Sizes { get; set; } = "64B";

    [Params(1_000, 100_000, 1_000_000)]
    public int Live { get; set; }

    [GlobalSetup(Target = nameof(Raw))]
    public void SetupRaw()
    {
        _sizes = SizeTrace.Create(Sizes);
        _live = Fill(size => (nint)NativeMemory.Alloc(size));
    }

    [GlobalSetup(Target = nameof(HeapCapsHost))]
    public void SetupHeapCaps()
    {
        _sizes = SizeTrace.Create(Sizes);
        _heap = new HeapCaps(HeapLayout.Host());
        _live = Fill(size => (nint)_heap.Malloc(size, MallocCaps.Default));
    }

    [GlobalSetup(Target = nameof(TrackerEnabled))]
    public void SetupEnabled() => SetupTracker(enabled: true);

    [GlobalSetup(Target = nameof(TrackerDisabled))]
    public void SetupDisabled() => SetupTracker(enabled: false);

    [GlobalSetup(Target = nameof(SeedStyle))]
    public void SetupSeed()
    {
        _sizes = SizeTrace.Create(Sizes);
        _seed = new SeedStyleTracker();
        _live = Fill(size => (nint)_seed.Malloc(size, 0x1000, "Setup.cs", 1, "Setup"));
    }

    [GlobalCleanup(Target = nameof(Raw))]
    public void CleanupRaw()
    {
        foreach (var p in _live)
        {
            NativeMemory.Free((void*)p);
        }
    }

    [GlobalCleanup(Targets = [nameof(HeapCapsHost), nameof(TrackerEnabled), nameof(TrackerDisabled)])]
    public void CleanupHeap()
    {
        _tracker?.Dispose();
        _heap!.Dispose(); // Frees the live blocks.
        _tracker = null;
    }

    [GlobalCleanup(Target = nameof(SeedStyle))]
    public void CleanupSeed() => _seed!.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = SizeTrace.Length)]
    public void Raw()
    {
        var sizes = _sizes;
        for (var i = 0; i < sizes.Length; i++)
        {
            var p = NativeMemory.Alloc(sizes[i]);
            NativeMemory.Free(p);
        }
    }

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void HeapCapsHost()
    {
        var heap = _heap!;
        var sizes = _sizes;
        for (var i = 0; i < sizes.Length; i++)
        {
            var p = heap.Malloc(sizes[i], MallocCaps.Default);
            heap.Free(p);
        }
    }

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerEnabled() => TrackedPairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerDisabled() => TrackedPairs();

    [Benchmark(OperationsPerInvoke = SeedPairs)]
    public void SeedStyle()
    {
        var seed = _seed!;
        var sizes = _sizes;
        for (var i = 0; i < SeedPairs; i++)
        {
            var p = seed.Malloc(sizes[_seedCursor++ & (SizeTrace.Length - 1)], 0x1000, "Bench.cs", 42, "SeedStyle");
            seed.Free(ref p);
        }
    }

    private void TrackedPairs()
    {
        var tracker = _tracker!;
        var sizes = _sizes;
        for (var i = 0; i < sizes.Length; i++)
        {
            var p = tracker.Malloc(sizes[i], MallocCaps.Default);
            tracker.Free(ref p);
        }
    }

    private void SetupTracker(bool enabled)
    {
        _sizes = SizeTrace.Create(Sizes);
        _heap = new HeapCaps(HeapLayout.Host());
        _tracker = new MemoryTracker(_heap, new MemoryTrackerOptions { Output = null });
        _live = Fill(size => (nint)_tracker.Malloc(size, MallocCaps.Default));
        _tracker.Enabled = enabled;
    }

    private nint[] Fill(Func<nuint, nint> allocate)
    {
        var live = new nint[Live];
        for (var i = 0; i < live.Length; i++)
        {
            live[i] = allocate(_sizes[i % _sizes.Length]);
        }

        return live;
    }
}

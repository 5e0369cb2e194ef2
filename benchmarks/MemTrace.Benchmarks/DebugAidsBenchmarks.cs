// What each debugging aid of the tracker costs when it is on: tracked malloc+free pairs over the
// host heap with 1k blocks live, against the same tracker with every aid off (the baseline, in the
// same run): stack capture at depths 4 and 16, depth 4 called from 32 frames deeper (.NET walks
// the whole stack whatever depth is kept), per-thread statistics, and an allocation hook that
// serves every request. The cost of the aids when off is in TrackerBenchmarks (before/after).
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class DebugAidsBenchmarks
{
    private const int Live = 1000;
    private const int ExtraFrames = 32;

    private nuint[] _sizes = [];
    private nint[] _live = [];
    private HeapCaps? _heap;
    private MemoryTracker? _tracker;

    [Params("64B", "mixed")]
    public string Sizes { get; set; } = "64B";

    [GlobalSetup(Target = nameof(TrackerNoAids))]
    public void SetupNoAids() => Setup(new MemoryTrackerOptions { Output = null });

    [GlobalSetup(Targets = [nameof(StackDepth4), nameof(StackDepth4From32FramesDeeper)])]
    public void SetupStack4() => Setup(new MemoryTrackerOptions { Output = null, StackTraceDepth = 4 });

    [GlobalSetup(Target = nameof(StackDepth16))]
    public void SetupStack16() => Setup(new MemoryTrackerOptions { Output = null, StackTraceDepth = 16 });

    [GlobalSetup(Target = nameof(ThreadStatistics))]
    public void SetupThreadStatistics() => Setup(new MemoryTrackerOptions { Output = null, ThreadStatistics = true });

    [GlobalSetup(Target = nameof(AllocationHookServingAll))]
    public void SetupHook()
    {
        Setup(new MemoryTrackerOptions { Output = null });
        _tracker!.AllocationHook = static (in AllocationRequest _) => true;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tracker?.Dispose();
        _heap!.Dispose(); // Frees the live blocks.
        _tracker = null;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = SizeTrace.Length)]
    public void TrackerNoAids() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void StackDepth4() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void StackDepth16() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void StackDepth4From32FramesDeeper() => Deeper(ExtraFrames);

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void ThreadStatistics() => Pairs();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void AllocationHookServingAll() => Pairs();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Deeper(int frames)
    {
        if (frames == 0)
        {
            Pairs();
        }
        else
        {
            Deeper(frames - 1);
        }

        GC.KeepAlive(this); // Not a tail call: each level keeps its frame.
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Pairs()
    {
        var tracker = _tracker!;
        var sizes = _sizes;
        for (var i = 0; i < sizes.Length; i++)
        {
            var p = tracker.Malloc(sizes[i], MallocCaps.Default);
            tracker.Free(ref p);
        }
    }

    private void Setup(MemoryTrackerOptions options)
    {
        _sizes = SizeTrace.Create(Sizes);
        _heap = new HeapCaps(HeapLayout.Host());
        _tracker = new MemoryTracker(_heap, options);
        _live = new nint[Live];
        for (var i = 0; i < _live.Length; i++)
        {
            _live[i] = (nint)_tracker.Malloc(_sizes[i % _sizes.Length], MallocCaps.Default);
        }
    }
}

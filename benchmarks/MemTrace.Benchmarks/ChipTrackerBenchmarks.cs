// The tracker over the ESP32 layout against the ESP32 layout alone: malloc+free pairs of the
// chip's malloc() (heap_caps_malloc_default) with 1k blocks live, on the mixed size trace
// scaled to what an ESP32 application asks (16 B to 1 KiB).
using BenchmarkDotNet.Attributes;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class ChipTrackerBenchmarks
{
    private const int Live = 1000;
    private nuint[] _sizes = [];
    private HeapCaps? _heap;
    private MemoryTracker? _tracker;

    [GlobalSetup(Target = nameof(Esp32Layout))]
    public void SetupLayout() => Setup(tracked: false);

    [GlobalSetup(Target = nameof(Esp32LayoutTracked))]
    public void SetupTracked() => Setup(tracked: true);

    [GlobalCleanup]
    public void Cleanup()
    {
        _tracker?.Dispose();
        _heap!.Dispose();
        _tracker = null;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = SizeTrace.Length)]
    public void Esp32Layout()
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
    public void Esp32LayoutTracked()
    {
        var tracker = _tracker!;
        var sizes = _sizes;
        for (var i = 0; i < sizes.Length; i++)
        {
            var p = tracker.Malloc(sizes[i], MallocCaps.Default);
            tracker.Free(ref p);
        }
    }

    private void Setup(bool tracked)
    {
        _sizes = [.. SizeTrace.Create("mixed").Select(s => Math.Max(16, s / 4))];
        _heap = new HeapCaps(HeapLayout.Esp32());
        _tracker = tracked ? new MemoryTracker(_heap, new MemoryTrackerOptions { Output = null }) : null;
        for (var i = 0; i < Live; i++)
        {
            var size = Math.Min(_sizes[i % _sizes.Length], 128);
            if (tracked)
            {
                _tracker!.Malloc(size, MallocCaps.Default);
            }
            else
            {
                _heap.Malloc(size, MallocCaps.Default);
            }
        }
    }
}

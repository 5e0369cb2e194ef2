// TLSF regions against the raw NativeMemory floor, one thread, 1k blocks live: malloc+free pairs
// through HeapCaps over a single 4 MiB TLSF region (what an application calls) and through the
// region directly (the allocator and its lock, without HeapCaps' capability logic).
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using MemTrace.Regions;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class TlsfBenchmarks
{
    private const int Live = 1000;
    private nuint[] _sizes = [];
    private nint[] _live = [];
    private HeapCaps? _heap;
    private TlsfRegion? _region;

    [Params("64B", "mixed")]
    public string Sizes { get; set; } = "64B";

    [GlobalSetup(Target = nameof(Raw))]
    public void SetupRaw()
    {
        _sizes = SizeTrace.Create(Sizes);
        _live = new nint[Live];
        for (var i = 0; i < Live; i++)
        {
            _live[i] = (nint)NativeMemory.Alloc(_sizes[i % _sizes.Length]);
        }
    }

    [GlobalCleanup(Target = nameof(Raw))]
    public void CleanupRaw()
    {
        foreach (var p in _live)
        {
            NativeMemory.Free((void*)p);
        }
    }

    [GlobalSetup(Target = nameof(HeapCapsTlsf))]
    public void SetupHeap()
    {
        _sizes = SizeTrace.Create(Sizes);
        _heap = new HeapCaps(HeapLayout.CreateBuilder("one-tlsf").WithAlignment(4).AddRegion("RAM", 4 << 20, MallocCaps.Default | MallocCaps.Bit8).Build());
        for (var i = 0; i < Live; i++)
        {
            _heap.Malloc(_sizes[i % _sizes.Length], MallocCaps.Default);
        }
    }

    [GlobalCleanup(Target = nameof(HeapCapsTlsf))]
    public void CleanupHeap() => _heap!.Dispose();

    [GlobalSetup(Target = nameof(RegionDirect))]
    public void SetupRegion()
    {
        _sizes = SizeTrace.Create(Sizes);
        _region = new TlsfRegion("RAM", MallocCaps.Default, MallocCaps.None, MallocCaps.None, 4 << 20, 4);
        for (var i = 0; i < Live; i++)
        {
            _region.Allocate(_sizes[i % _sizes.Length], 4, zero: false, tag: 0);
        }
    }

    [GlobalCleanup(Target = nameof(RegionDirect))]
    public void CleanupRegion() => _region!.Dispose();

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
    public void HeapCapsTlsf()
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
    public void RegionDirect()
    {
        var region = _region!;
        var sizes = _sizes;
        for (var i = 0; i < sizes.Length; i++)
        {
            var p = region.Allocate(sizes[i], 4, zero: false, tag: 0);
            region.Free(p, clearIfTagged: false, out _);
        }
    }
}

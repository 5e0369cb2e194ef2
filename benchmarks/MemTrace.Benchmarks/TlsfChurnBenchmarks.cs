// TLSF regions against the raw NativeMemory floor on a churning heap: 1k blocks live, and each step
// frees one of them (picked from a fixed random sequence) and allocates the trace's next size in its
// place. TlsfBenchmarks frees the block it has just allocated, which is glibc's best case (its
// per-thread cache hands the same chunk back) and TLSF's worst (every pair splits the large free
// block and coalesces it again); here frees land all over the heap, as in a program whose blocks
// live for a while. Same region, same sizes, same three paths as TlsfBenchmarks.
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using MemTrace.Regions;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class TlsfChurnBenchmarks
{
    private const int Live = 1000;
    private nuint[] _sizes = [];
    private int[] _victims = [];
    private void*[] _live = [];
    private HeapCaps? _heap;
    private TlsfRegion? _region;

    [Params("64B", "mixed")]
    public string Sizes { get; set; } = "64B";

    [GlobalSetup(Target = nameof(Raw))]
    public void SetupRaw()
    {
        Prepare();
        for (var i = 0; i < Live; i++)
        {
            _live[i] = NativeMemory.Alloc(_sizes[i % _sizes.Length]);
        }
    }

    [GlobalCleanup(Target = nameof(Raw))]
    public void CleanupRaw()
    {
        foreach (var p in _live)
        {
            NativeMemory.Free(p);
        }
    }

    [GlobalSetup(Target = nameof(HeapCapsTlsf))]
    public void SetupHeap()
    {
        Prepare();
        _heap = new HeapCaps(HeapLayout.CreateBuilder("one-tlsf").WithAlignment(4).AddRegion("RAM", 4 << 20, MallocCaps.Default | MallocCaps.Bit8).Build());
        for (var i = 0; i < Live; i++)
        {
            _live[i] = _heap.Malloc(_sizes[i % _sizes.Length], MallocCaps.Default);
        }
    }

    [GlobalCleanup(Target = nameof(HeapCapsTlsf))]
    public void CleanupHeap() => _heap!.Dispose();

    [GlobalSetup(Target = nameof(RegionDirect))]
    public void SetupRegion()
    {
        Prepare();
        _region = new TlsfRegion("RAM", MallocCaps.Default, MallocCaps.None, MallocCaps.None, 4 << 20, 4);
        for (var i = 0; i < Live; i++)
        {
            _live[i] = _region.Allocate(_sizes[i % _sizes.Length], 4, zero: false, tag: 0);
        }
    }

    [GlobalCleanup(Target = nameof(RegionDirect))]
    public void CleanupRegion() => _region!.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = SizeTrace.Length)]
    public void Raw()
    {
        var sizes = _sizes;
        var victims = _victims;
        var live = _live;
        for (var i = 0; i < sizes.Length; i++)
        {
            var v = victims[i];
            NativeMemory.Free(live[v]);
            live[v] = NativeMemory.Alloc(sizes[i]);
        }
    }

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void HeapCapsTlsf()
    {
        var heap = _heap!;
        var sizes = _sizes;
        var victims = _victims;
        var live = _live;
        for (var i = 0; i < sizes.Length; i++)
        {
            var v = victims[i];
            heap.Free(live[v]);
            live[v] = heap.Malloc(sizes[i], MallocCaps.Default);
        }
    }

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void RegionDirect()
    {
        var region = _region!;
        var sizes = _sizes;
        var victims = _victims;
        var live = _live;
        for (var i = 0; i < sizes.Length; i++)
        {
            var v = victims[i];
            region.Free(live[v], clearIfTagged: false, out _);
            live[v] = region.Allocate(sizes[i], 4, zero: false, tag: 0);
        }
    }

    private void Prepare()
    {
        _sizes = SizeTrace.Create(Sizes);
        _victims = SizeTrace.Victims(Live);
        _live = new void*[Live];
    }
}

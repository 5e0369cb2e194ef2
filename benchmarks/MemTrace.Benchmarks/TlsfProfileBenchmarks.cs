using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using MemTrace.Regions;
using MemTrace.Tlsf;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class TlsfProfileBenchmarks
{
    private TlsfRegion? _region;
    private TlsfHeap? _heap;
    private readonly Lock _lock = new();
    private int _spin;

    [GlobalSetup]
    public void Setup()
    {
        _region = new TlsfRegion("RAM", MallocCaps.Default, MallocCaps.None, MallocCaps.None, 4 << 20, 4);
        _heap = _region.Heap;
        for (var i = 0; i < 1000; i++) { _heap.Malloc(64); }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = 1024)]
    public void HeapNoLock() { var h = _heap!; for (var i = 0; i < 1024; i++) { var p = h.Malloc(64); h.Free(p, false, out _, out _); } }

    [Benchmark(OperationsPerInvoke = 1024)]
    public void HeapWithLockObject() { var h = _heap!; for (var i = 0; i < 1024; i++) { void* p; lock (_lock) { p = h.Malloc(64); } lock (_lock) { h.Free(p, false, out _, out _); } } }

    [Benchmark(OperationsPerInvoke = 1024)]
    public void HeapWithSpin() { var h = _heap!; for (var i = 0; i < 1024; i++) { void* p; while (Interlocked.CompareExchange(ref _spin, 1, 0) != 0) { } p = h.Malloc(64); Volatile.Write(ref _spin, 0); while (Interlocked.CompareExchange(ref _spin, 1, 0) != 0) { } h.Free(p, false, out _, out _); Volatile.Write(ref _spin, 0); } }

    [Benchmark(OperationsPerInvoke = 1024)]
    public void Region() { var r = _region!; for (var i = 0; i < 1024; i++) { var p = r.Allocate(64, 4, false, 0); r.Free(p, false, out _); } }
}

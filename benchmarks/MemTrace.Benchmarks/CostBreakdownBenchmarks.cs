// Where the time of a tracked pair goes: a raw malloc+free pair plus, one at a time, each thing
// the host region, the tracker and its events add. Results are per pair; subtract Raw for the
// marginal cost. The event rows do per pair what a traced pair does for its two events: two
// interlocked increments (the sequence numbers) and two region lookups by address on the host
// heap. (The ring's cost is measured with its consumer on another thread, in
// TraceWriterBenchmarks.EmitOnly.)
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using MemTrace.Tracking;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class CostBreakdownBenchmarks
{
    private const int Pairs = 1024;
    private readonly byte[] _state = new byte[4096];
    private HeapCaps? _heap;
    private long _sink;
    private long _counter;

    [GlobalSetup]
    public void Setup() => _heap = new HeapCaps(HeapLayout.Host());

    [GlobalCleanup]
    public void Cleanup() => _heap?.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pairs)]
    public void Raw()
    {
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            NativeMemory.Free(p);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void RawPlusCompareExchange()
    {
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            ref var cell = ref _state[((nuint)p >> 4) & 4095];
            cell = 1;
            if (Interlocked.CompareExchange(ref cell, 2, 1) == 1)
            {
                NativeMemory.Free(p);
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void RawPlusTickCount64()
    {
        long sum = 0;
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            sum += Environment.TickCount64;
            NativeMemory.Free(p);
        }

        _sink = sum;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void RawPlusTwoCallSiteIds()
    {
        uint sum = 0;
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            sum += Site(AllocationMethod.Malloc);
            sum += Site(AllocationMethod.Free);
            NativeMemory.Free(p);
        }

        _sink = sum;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void RawPlusClear64()
    {
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            NativeMemory.Clear(p, 64);
            NativeMemory.Free(p);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void RawPlusTwoInterlockedIncrements()
    {
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            Interlocked.Increment(ref _counter);
            Interlocked.Increment(ref _counter);
            NativeMemory.Free(p);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void RawPlusTwoRegionLookups()
    {
        var heap = _heap!;
        long sum = 0;
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            sum += heap.RegionNameIdOf(p);
            sum += heap.RegionNameIdOf(p);
            NativeMemory.Free(p);
        }

        _sink = sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint Site(AllocationMethod method, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "") =>
        CallSiteRegistry.GetId(method, file, line, function, null);
}

// Where the time of a tracked pair goes: a raw malloc+free pair plus, one at a time, each thing
// the host region, the tracker and its events add. Results are per pair; subtract Raw for the
// marginal cost. The event rows do per pair what a traced pair does twice (two events): an
// interlocked increment (the sequence number), the region lookup by address on the host heap,
// and building a compact event and passing it through the trace ring (enqueue, then dequeue on
// the same thread, so no other core is involved).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using MemTrace.Diagnostics;
using MemTrace.Diagnostics.Sinks;
using MemTrace.Tracking;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class CostBreakdownBenchmarks
{
    private const int Pairs = 1024;
    private readonly byte[] _state = new byte[4096];
    private readonly EventRing _ring = new(1024);
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

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void RawPlusTwoEventsThroughTheRing()
    {
        var ring = _ring;
        for (var i = 0; i < Pairs; i++)
        {
            var p = NativeMemory.Alloc(64);
            RingRoundTrip(ring, p, HeapEventKind.Allocation, i);
            RingRoundTrip(ring, p, HeapEventKind.Free, i);
            NativeMemory.Free(p);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RingRoundTrip(EventRing ring, void* p, HeapEventKind kind, long i)
    {
        var e = new HeapEvent { Kind = kind, Sequence = i, UtcTicks = i, ThreadId = 1, Address = (nuint)p, Size = 64, Caps = MallocCaps.Default, RequestNumber = i, SiteId = 9, AllocSiteId = 8, RegionId = 1 };
        ring.TryEnqueue(in e);
        ring.TryPeek(out _);
        ring.Release();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint Site(AllocationMethod method, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0, [CallerMemberName] string function = "") =>
        CallSiteRegistry.GetId(method, file, line, function, null);
}

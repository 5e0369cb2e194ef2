// O(1) shown: time per malloc+free pair (a mix of small sizes) in the ESP32's 180 KiB DRAM region
// when it is 10% full, 90% full, and heavily fragmented (thousands of small free holes between
// live blocks). TLSF finds a fit with two bitmap scans whatever the state, so the three should be
// within 1.2x of each other. Three processes per state (ThreeLaunchConfig): which state's loop the
// JIT shapes well varies from one process to the next.
using BenchmarkDotNet.Attributes;
using MemTrace.Regions;

namespace MemTrace.Benchmarks;

[Config(typeof(ThreeLaunchConfig))]
public unsafe class TlsfConstantTimeBenchmarks
{
    private const int Pairs = 1024;
    private static readonly nuint[] s_sizes = [24, 40, 64, 100, 48, 200, 32, 128];
    private TlsfRegion? _region;

    [Params("10% full", "90% full", "fragmented")]
    public string State { get; set; } = "10% full";

    [GlobalSetup]
    public void Setup()
    {
        _region = new TlsfRegion("DRAM", MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal, MallocCaps.None, 0x2D138, 4);
        var random = new Random(42);
        var total = _region.FreeBytes;
        var blocks = new List<nint>();
        var target = State == "90% full" ? total * 9 / 10 : State == "10% full" ? total / 10 : total * 7 / 10;
        while (total - _region.FreeBytes < target)
        {
            var size = State == "fragmented" ? (nuint)random.Next(8, 64) : (nuint)random.Next(16, 512);
            var p = _region.Allocate(size, 4, zero: false, tag: 0);
            if (p == null)
            {
                break;
            }

            blocks.Add((nint)p);
        }

        if (State == "fragmented")
        {
            // Free every other block: about half the used space becomes small holes between live blocks.
            for (var i = 0; i < blocks.Count; i += 2)
            {
                _region.Free((void*)blocks[i], clearIfTagged: false, out _);
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _region!.Dispose();

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void MallocFree()
    {
        var region = _region!;
        for (var i = 0; i < Pairs; i++)
        {
            var p = region.Allocate(s_sizes[i & 7], 4, zero: false, tag: 0);
            region.Free(p, clearIfTagged: false, out _);
        }
    }
}

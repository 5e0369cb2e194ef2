// What each poisoning level costs: malloc+free pairs with 1k blocks live through HeapCaps, at
// None (the baseline), Light, Comprehensive, and Light with a quarantine, on the process heap and
// on a 4 MiB TLSF region, at 64 bytes and on the mixed 16 B - 4 KiB trace.
using BenchmarkDotNet.Attributes;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class PoisoningBenchmarks
{
    private const int Live = 1000;
    private nuint[] _sizes = [];
    private HeapCaps? _heap;

    [Params("host", "tlsf")]
    public string Region { get; set; } = "host";

    [Params("64B", "mixed")]
    public string Sizes { get; set; } = "64B";

    [Params("None", "Light", "Comprehensive", "Light+Quarantine")]
    public string Mode { get; set; } = "None";

    [GlobalSetup]
    public void Setup()
    {
        _sizes = SizeTrace.Create(Sizes);
        var layout = Region == "host"
            ? HeapLayout.Host()
            : HeapLayout.CreateBuilder("tlsf").WithAlignment(4).AddRegion("RAM", 4 << 20, MallocCaps.Default).Build();
        _heap = new HeapCaps(layout, new HeapCapsOptions
        {
            Poisoning = Mode switch
            {
                "Light" or "Light+Quarantine" => PoisoningLevel.Light,
                "Comprehensive" => PoisoningLevel.Comprehensive,
                _ => PoisoningLevel.None,
            },
            Quarantine = Mode == "Light+Quarantine" ? new QuarantineOptions() : null,
        });
        for (var i = 0; i < Live; i++)
        {
            _heap.Malloc(_sizes[i % _sizes.Length], MallocCaps.Default);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _heap!.Dispose();

    [Benchmark(OperationsPerInvoke = SizeTrace.Length)]
    public void MallocFree()
    {
        var heap = _heap!;
        var sizes = _sizes;
        for (var i = 0; i < sizes.Length; i++)
        {
            var p = heap.Malloc(sizes[i], MallocCaps.Default);
            heap.Free(p);
        }
    }
}

// Benchmarks entry point: `dotnet run -c Release --project benchmarks/MemTrace.Benchmarks -- --filter '*'`.
// `-- --tracker-memory` measures the tracker's memory per live block instead (TrackerMemory.cs).
using System.Globalization;
using BenchmarkDotNet.Running;
using MemTrace.Benchmarks;

if (args is ["--tracker-memory"])
{
    TrackerMemory.Run();
    return;
}

if (args is ["--tracker-memory-child", var count, var mode])
{
    TrackerMemory.Child(int.Parse(count, CultureInfo.InvariantCulture), mode == "tracked");
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(SizeTrace).Assembly).Run(args);

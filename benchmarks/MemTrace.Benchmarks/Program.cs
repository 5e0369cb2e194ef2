// Benchmarks entry point: `dotnet run -c Release --project benchmarks/MemTrace.Benchmarks -- --filter '*'`.
// `-- --tracker-memory` measures the tracker's memory per live block instead (TrackerMemory.cs);
// `-- --large-trace FILE MEGABYTES [THREADS]` writes a trace for timing `memtrace report` (LargeTrace.cs).
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

if (args is ["--large-trace", var path, var megabytes, ..var rest])
{
    LargeTrace.Write(path, long.Parse(megabytes, CultureInfo.InvariantCulture), rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 1);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(SizeTrace).Assembly).Run(args);

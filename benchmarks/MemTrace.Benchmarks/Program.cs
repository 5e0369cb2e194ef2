// Benchmarks entry point: `dotnet run -c Release --project benchmarks/MemTrace.Benchmarks -- --filter '*'`.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(MemTrace.Benchmarks.SizeTrace).Assembly).Run(args);

// MemTraceConfig with three launches per benchmark: for comparisons between parameter values
// whose code is the same, where one process's JIT shape (tiered PGO decides inlining and layout
// per process, up to 40 % apart here) would otherwise decide the ratio. Statistics pool the
// three processes' iterations.
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace MemTrace.Benchmarks;

public sealed class ThreeLaunchConfig : ManualConfig
{
    public ThreeLaunchConfig()
    {
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(12).WithLaunchCount(3));
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Value);
        AddColumn(StatisticColumn.Median);
    }
}

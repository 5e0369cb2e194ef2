// One configuration for every MemTrace benchmark: in-process toolchain avoided (a separate process
// per benchmark, as BenchmarkDotNet recommends), enough iterations for stable ratios, and the
// columns the docs quote.
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace MemTrace.Benchmarks;

public sealed class MemTraceConfig : ManualConfig
{
    public MemTraceConfig()
    {
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(12).WithLaunchCount(1));
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Value);
        AddColumn(StatisticColumn.Median);
    }
}

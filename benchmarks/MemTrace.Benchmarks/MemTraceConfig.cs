// One configuration for every MemTrace benchmark: in-process toolchain avoided (a separate process
// per benchmark, as BenchmarkDotNet recommends), enough iterations for stable ratios, and the
// columns the docs quote.
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace MemTrace.Benchmarks;

public class MemTraceConfig : ManualConfig
{
    public MemTraceConfig()
        : this(launchCount: 1)
    {
    }

    /// <summary>The same configuration with <paramref name="launchCount"/> processes per benchmark.</summary>
    protected MemTraceConfig(int launchCount)
    {
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(12).WithLaunchCount(launchCount));
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Value);
        AddColumn(StatisticColumn.Median);
    }
}

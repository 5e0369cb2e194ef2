// MemTraceConfig with three launches per benchmark: for comparisons between parameter values
// whose code is the same, where one process's JIT shape (tiered PGO decides inlining and layout
// per process, up to 40 % apart here) would otherwise decide the ratio. Statistics pool the
// three processes' iterations.
namespace MemTrace.Benchmarks;

public sealed class ThreeLaunchConfig : MemTraceConfig
{
    public ThreeLaunchConfig()
        : base(launchCount: 3)
    {
    }
}

// HeapEventLevel: how much a kind of heap event matters, so that a pipeline or one sink can be
// restricted to "failures and errors only" the way Serilog restricts by LogEventLevel. The
// levels mirror Microsoft.Extensions.Logging's LogLevel so that the ILogger adapter maps 1:1.
namespace MemTrace.Diagnostics;

/// <summary>How much a <see cref="HeapEvent"/> matters; see <see cref="HeapEventKindExtensions.GetLevel(HeapEventKind)"/>.</summary>
public enum HeapEventLevel
{
    /// <summary>Every allocation, free and realloc: the bulk of a trace.</summary>
    Trace = 0,

    /// <summary>Periodic statistics snapshots.</summary>
    Debug = 1,

    /// <summary>Checkpoints.</summary>
    Information = 2,

    /// <summary>Failed allocations.</summary>
    Warning = 3,

    /// <summary>Memory errors (double free, invalid or interior pointer, corruption).</summary>
    Error = 4,
}

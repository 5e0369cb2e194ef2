// HeapEventKindExtensions: the level of each event kind and its name in trace files, defined
// once here so that the pipeline, the trace writer, the reader and the report agree.
namespace MemTrace.Diagnostics;

/// <summary>Levels and trace-file names of <see cref="HeapEventKind"/> values.</summary>
public static class HeapEventKindExtensions
{
    /// <summary>The level of a kind: allocations, frees and reallocs are <see cref="HeapEventLevel.Trace"/>, snapshots <see cref="HeapEventLevel.Debug"/>, checkpoints <see cref="HeapEventLevel.Information"/>, failed allocations <see cref="HeapEventLevel.Warning"/>, memory errors <see cref="HeapEventLevel.Error"/>.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>Its level.</returns>
    public static HeapEventLevel GetLevel(this HeapEventKind kind) => kind switch
    {
        HeapEventKind.Snapshot => HeapEventLevel.Debug,
        HeapEventKind.Checkpoint => HeapEventLevel.Information,
        HeapEventKind.FailedAllocation => HeapEventLevel.Warning,
        HeapEventKind.MemoryError => HeapEventLevel.Error,
        _ => HeapEventLevel.Trace,
    };

    /// <summary>The kind's name in a trace file's <c>"kind"</c> field: <c>alloc</c>, <c>free</c>, <c>realloc</c>, <c>failed</c>, <c>error</c>, <c>checkpoint</c>, <c>snapshot</c>.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>The name; <c>unknown</c> for a value outside the enum.</returns>
    public static string ToTraceName(this HeapEventKind kind) => kind switch
    {
        HeapEventKind.Allocation => "alloc",
        HeapEventKind.Free => "free",
        HeapEventKind.Reallocation => "realloc",
        HeapEventKind.FailedAllocation => "failed",
        HeapEventKind.MemoryError => "error",
        HeapEventKind.Checkpoint => "checkpoint",
        HeapEventKind.Snapshot => "snapshot",
        _ => "unknown",
    };

    /// <summary>The kind named <paramref name="name"/> in a trace file.</summary>
    /// <param name="name">A name that <see cref="ToTraceName(HeapEventKind)"/> gives.</param>
    /// <param name="kind">The kind, when the name is known.</param>
    /// <returns>True when the name is known.</returns>
    public static bool TryParseTraceName(ReadOnlySpan<char> name, out HeapEventKind kind)
    {
        switch (name)
        {
            case "alloc": kind = HeapEventKind.Allocation; return true;
            case "free": kind = HeapEventKind.Free; return true;
            case "realloc": kind = HeapEventKind.Reallocation; return true;
            case "failed": kind = HeapEventKind.FailedAllocation; return true;
            case "error": kind = HeapEventKind.MemoryError; return true;
            case "checkpoint": kind = HeapEventKind.Checkpoint; return true;
            case "snapshot": kind = HeapEventKind.Snapshot; return true;
            default: kind = default; return false;
        }
    }
}

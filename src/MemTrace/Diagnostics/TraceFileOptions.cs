// TraceFileOptions: the settings of a TraceFileWriter, with their costs stated (Kconfig's
// help text is the model: each option says what it costs and what it buys).
namespace MemTrace.Diagnostics;

/// <summary>Settings of a <see cref="TraceFileWriter"/>.</summary>
public sealed record TraceFileOptions
{
    /// <summary>
    /// Events the buffer between an emitting thread and the writer holds: 1 to 16777216, rounded up to
    /// a power of two, at least 16. Default 16384. Each emitting thread has a ring of its own, allocated on its
    /// first event: each slot costs 88 bytes (80 for the event, 8 for the reference that rare events
    /// carry), 1.4 MiB per emitting thread by default. A ring is freed once its thread has ended (a
    /// thread that outlives the writer keeps the writer's ring until it emits to another writer).
    /// </summary>
    public int Capacity { get; init; } = 16384;

    /// <summary>What happens when an emitting thread's ring is full. Default <see cref="TraceBufferFullMode.Wait"/> (nothing lost).</summary>
    public TraceBufferFullMode FullMode { get; init; } = TraceBufferFullMode.Wait;

    /// <summary>When lines go to the operating system and the disk. Default <see cref="TraceFlushPolicy.EachBatch"/>.</summary>
    public TraceFlushPolicy FlushPolicy { get; init; } = TraceFlushPolicy.EachBatch;

    /// <summary>The period of <see cref="TraceFlushPolicy.Interval"/> and of the disk flushes of <see cref="TraceFlushPolicy.EachBatchAndDisk"/>. Default 1 s; at least 1 ms.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);
}

// TraceFileOptions: the settings of a TraceFileWriter, with their costs stated (Kconfig's
// help text is the model: each option says what it costs and what it buys).
namespace MemTrace.Diagnostics;

/// <summary>Settings of a <see cref="TraceFileWriter"/>.</summary>
public sealed record TraceFileOptions
{
    /// <summary>
    /// Events the ring holds between the emitting threads and the writer; rounded up to a power of
    /// two, at least 16. Default 16384. Each slot costs 96 bytes (88 for the event, 8 for the reference
    /// that rare events carry), allocated once: 1.5 MiB by default.
    /// </summary>
    public int Capacity { get; init; } = 16384;

    /// <summary>What happens when the ring is full. Default <see cref="TraceBufferFullMode.Wait"/> (nothing lost).</summary>
    public TraceBufferFullMode FullMode { get; init; } = TraceBufferFullMode.Wait;

    /// <summary>When lines go to the operating system and the disk. Default <see cref="TraceFlushPolicy.EachBatch"/>.</summary>
    public TraceFlushPolicy FlushPolicy { get; init; } = TraceFlushPolicy.EachBatch;

    /// <summary>The period of <see cref="TraceFlushPolicy.Interval"/> and of the disk flushes of <see cref="TraceFlushPolicy.EachBatchAndDisk"/>. Default 1 s; at least 1 ms.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);
}

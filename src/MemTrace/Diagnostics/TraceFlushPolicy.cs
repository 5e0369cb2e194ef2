// TraceFlushPolicy: when a trace writer hands its lines to the operating system (which keeps
// them after the process is killed) and to the disk (which keeps them after the machine stops).
namespace MemTrace.Diagnostics;

/// <summary>When <see cref="TraceFileWriter"/> hands written lines to the operating system and the disk.</summary>
/// <remarks>
/// Lines handed to the operating system survive the process being killed (even with SIGKILL);
/// lines still in the writer's ring or batch buffer do not. The writer wakes at least every
/// 10 ms while events flow (at once when an eighth of its ring fills, or on the first event
/// after a quiet spell), and always writes whole lines.
/// </remarks>
public enum TraceFlushPolicy
{
    /// <summary>Every time the writer empties its ring (and whenever its 64 KiB batch buffer fills): the file lags the program by milliseconds. The default.</summary>
    EachBatch,

    /// <summary>Whenever the batch buffer fills and at least every <see cref="TraceFileOptions.FlushInterval"/>: fewer system calls, more to lose on a kill.</summary>
    Interval,

    /// <summary>As <see cref="EachBatch"/>, and the file is also flushed to the disk (fsync) at least every <see cref="TraceFileOptions.FlushInterval"/>: survives a crash of the machine.</summary>
    EachBatchAndDisk,
}

// MemoryErrorPolicy: what happens once an error has been detected and described.
namespace MemTrace;

/// <summary>What MemTrace does when it detects a memory error.</summary>
public enum MemoryErrorPolicy
{
    /// <summary>Write the report, raise <see cref="HeapCaps.MemoryErrorDetected"/>, and go on. The bad
    /// operation is not carried out (a bad pointer is never passed to the native free). The default.</summary>
    Report,

    /// <summary>As <see cref="Report"/>, then throw a <see cref="MemoryErrorException"/> carrying the report.</summary>
    Throw,

    /// <summary>
    /// As <see cref="Report"/> (the report written, <see cref="HeapCaps.MemoryErrorDetected"/> raised, so a tracker's
    /// sinks receive the error), then end the process at once with <see cref="Environment.FailFast(string)"/>. Nothing
    /// is flushed or disposed after that: what a sink had only queued (a trace file's buffer, a logger provider's
    /// background queue, such as the console logger's) is lost; use <see cref="Throw"/> to keep it.
    /// </summary>
    FailFast,
}

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

    /// <summary>Write the report, then end the process at once with <see cref="Environment.FailFast(string)"/>.</summary>
    FailFast,
}

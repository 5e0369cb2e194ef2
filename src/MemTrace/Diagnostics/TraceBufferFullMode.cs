// TraceBufferFullMode: what a trace writer does when a thread's ring of pending events is full. There
// is no silent third choice: a dropped event is counted and the count is written into the file.
namespace MemTrace.Diagnostics;

/// <summary>What <see cref="TraceFileWriter"/> does when its buffer of pending events is full.</summary>
public enum TraceBufferFullMode
{
    /// <summary>The emitting thread waits (spinning, then yielding) until the writer has made room: nothing is lost, the program slows to the writer's pace.</summary>
    Wait,

    /// <summary>The event is dropped and counted; the writer puts a <c>dropped</c> line with the count into the file. The program never waits.</summary>
    Drop,
}

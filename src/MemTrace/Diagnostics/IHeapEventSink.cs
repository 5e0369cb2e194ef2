// IHeapEventSink: where events go (Serilog's ILogEventSink, for heaps).
namespace MemTrace.Diagnostics;

/// <summary>Receives heap events.</summary>
/// <remarks>
/// <see cref="Emit(in HeapEvent)"/> runs on the thread that allocated or freed, inside the
/// allocation path: it must be quick and must not allocate or free on the traced heap. A sink may
/// throw; the pipeline that calls it catches the exception, reports it to its self-log and goes on.
/// A sink (or filter) that does use the traced heap is not called again for the events it raises
/// (they would call it again, without end): those events reach only trace files, and the self-log
/// says so once.
/// </remarks>
public interface IHeapEventSink
{
    /// <summary>Receives one event.</summary>
    /// <param name="heapEvent">The event; copy it to keep it.</param>
    void Emit(in HeapEvent heapEvent);
}

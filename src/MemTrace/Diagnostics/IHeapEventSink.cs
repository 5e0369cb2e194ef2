// IHeapEventSink: where events go (Serilog's ILogEventSink, for heaps).
namespace MemTrace.Diagnostics;

/// <summary>Receives heap events.</summary>
/// <remarks>
/// <see cref="Emit(in HeapEvent)"/> runs on the thread that allocated or freed, inside the
/// allocation path: it must be quick and must not allocate or free on the traced heap. A sink may
/// throw; the pipeline that calls it catches the exception, reports it to its self-log and goes on.
/// </remarks>
public interface IHeapEventSink
{
    /// <summary>Receives one event.</summary>
    /// <param name="heapEvent">The event; copy it to keep it.</param>
    void Emit(in HeapEvent heapEvent);
}

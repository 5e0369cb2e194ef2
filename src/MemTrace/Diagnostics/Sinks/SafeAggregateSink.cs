// SafeAggregateSink: sends each event to several sinks, catching each sink's exception so that a
// failing sink neither breaks the allocation nor starves the sinks after it (Serilog's
// SafeAggregateSink). The failure goes to the SelfLog; the catch costs nothing when nothing throws.
namespace MemTrace.Diagnostics.Sinks;

internal sealed class SafeAggregateSink(IHeapEventSink[] sinks) : IHeapEventSink
{
    private readonly IHeapEventSink[] _sinks = sinks;

    public void Emit(in HeapEvent heapEvent)
    {
        foreach (var sink in _sinks)
        {
            try
            {
                sink.Emit(in heapEvent);
            }
            catch (Exception e)
            {
                Report(sink, heapEvent.Kind, e);
            }
        }
    }

    /// <summary>Reports a sink's exception to the SelfLog (the slow path, out of line).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    internal static void Report(IHeapEventSink sink, HeapEventKind kind, Exception e) =>
        SelfLog.WriteLine($"MemTrace: caught exception while emitting a {kind} event to sink {sink.GetType().Name}: {e}");
}

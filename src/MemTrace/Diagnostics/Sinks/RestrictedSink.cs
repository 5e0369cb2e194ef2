// RestrictedSink: passes on only events at or above a level (Serilog's RestrictedSink), so one
// sink of a pipeline can take failures and errors only while another takes everything.
namespace MemTrace.Diagnostics.Sinks;

internal sealed class RestrictedSink(IHeapEventSink inner, HeapEventLevel minimum) : IHeapEventSink
{
    private readonly IHeapEventSink _inner = inner;
    private readonly HeapEventLevel _minimum = minimum;

    public IHeapEventSink Inner => _inner;

    public void Emit(in HeapEvent heapEvent)
    {
        if (heapEvent.Kind.GetLevel() < _minimum)
        {
            return;
        }

        _inner.Emit(in heapEvent);
    }
}

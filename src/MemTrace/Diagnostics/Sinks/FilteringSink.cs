// FilteringSink: passes on only the events that every filter keeps (Serilog's FilteringSink).
// A filter that throws drops the event and is reported to the SelfLog: a broken filter must not
// break an allocation either.
namespace MemTrace.Diagnostics.Sinks;

internal sealed class FilteringSink(IHeapEventSink inner, HeapEventFilter[] filters) : IHeapEventSink
{
    private readonly IHeapEventSink _inner = inner;
    private readonly HeapEventFilter[] _filters = filters;

    public void Emit(in HeapEvent heapEvent)
    {
        foreach (var filter in _filters)
        {
            bool keep;
            try
            {
                keep = filter(in heapEvent);
            }
            catch (Exception e)
            {
                ReportFilter(filter, heapEvent.Kind, e);
                return;
            }

            if (!keep)
            {
                return;
            }
        }

        _inner.Emit(in heapEvent);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void ReportFilter(HeapEventFilter filter, HeapEventKind kind, Exception e) =>
        SelfLog.WriteLine($"MemTrace: filter {filter.Method.Name} threw on a {kind} event, which was dropped: {e}");
}

// HeapEventPipeline: the composed sinks of a tracker, built once by HeapEventPipelineBuilder.
// Emit tests the minimum level first (one compare, as Serilog's Logger.IsEnabled does), then the
// filters, then hands the event to each sink through a safe aggregate: a sink or filter that
// throws is reported to the SelfLog and never reaches the allocation that emitted the event.
// Disposing the pipeline disposes the sinks it owns, in the order they were added; it does not
// dispose the tracker, so dispose the tracker first to get its final snapshot into the sinks.
using MemTrace.Diagnostics.Sinks;

namespace MemTrace.Diagnostics;

/// <summary>
/// The sinks, filters and level restrictions of a <see cref="HeapEventPipelineBuilder"/>, as one
/// <see cref="IHeapEventSink"/>. Emit never throws.
/// </summary>
public sealed class HeapEventPipeline : IHeapEventSink, IDisposable
{
    private readonly IHeapEventSink? _sink;
    private readonly IHeapEventSink[] _sinks;
    private readonly HeapEventLevel _minimumLevel;
    private volatile bool _disposed;

    internal HeapEventPipeline(List<(IHeapEventSink Sink, HeapEventLevel Minimum)> sinks, HeapEventFilter[] filters, HeapEventLevel minimumLevel)
    {
        _minimumLevel = minimumLevel;
        _sinks = [.. sinks.Select(s => s.Sink)];
        if (sinks.Count == 0)
        {
            return;
        }

        var restricted = sinks.Select(s => s.Minimum > minimumLevel ? new RestrictedSink(s.Sink, s.Minimum) : s.Sink).ToArray();
        IHeapEventSink sink = new SafeAggregateSink(restricted);
        if (filters.Length > 0)
        {
            sink = new FilteringSink(sink, filters);
        }

        _sink = sink;
    }

    /// <summary>The lowest level that passes the pipeline.</summary>
    public HeapEventLevel MinimumLevel => _minimumLevel;

    /// <summary>The sinks, in the order they were added.</summary>
    public IReadOnlyList<IHeapEventSink> Sinks => _sinks;

    /// <summary>Whether an event of <paramref name="kind"/> would reach at least the filters (false after disposal or with no sinks).</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>True when such events are passed on.</returns>
    public bool IsEnabled(HeapEventKind kind) => _sink is not null && !_disposed && kind.GetLevel() >= _minimumLevel;

    /// <summary>Passes the event to the filters and sinks. Never throws; does nothing after disposal.</summary>
    /// <param name="heapEvent">The event.</param>
    public void Emit(in HeapEvent heapEvent)
    {
        if (heapEvent.Kind.GetLevel() < _minimumLevel || _disposed)
        {
            return;
        }

        var sink = _sink;
        if (sink is null)
        {
            return;
        }

        try
        {
            sink.Emit(in heapEvent);
        }
        catch (Exception e)
        {
            // Only a filter wrapper could get here; the aggregate catches per sink.
            SafeAggregateSink.Report(sink, heapEvent.Kind, e);
        }
    }

    /// <summary>Disposes the sinks that are <see cref="IDisposable"/>; a sink whose Dispose throws is reported to the <see cref="SelfLog"/> and the others are still disposed.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var sink in _sinks)
        {
            try
            {
                (sink as IDisposable)?.Dispose();
            }
            catch (Exception e)
            {
                SelfLog.WriteLine($"MemTrace: sink {sink.GetType().Name} threw while being disposed: {e}");
            }
        }
    }
}

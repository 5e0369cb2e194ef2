// HeapEventPipeline: the composed sinks of a tracker, built once by HeapEventPipelineBuilder.
//
// What the pipeline passes is computed once, as a mask of event kinds (HeapEventKindMask): the
// kinds at or above the pipeline's minimum level that at least one sink takes (each sink's own
// minimum level) and that every kind filter (Filter.ByKinds) keeps. A tracker reads that mask
// and builds no event of a kind outside it, so a pipeline of warning-only sinks costs the
// allocation path what no pipeline costs.
//
// Delivery is flattened rather than layered: with one sink and no predicate filter, an event goes
// straight to it (and straight into the emitting thread's ring when that sink is a
// TraceFileWriter, whose Emit does not throw); otherwise the predicate filters run, then each
// sink that takes the kind. A sink or filter that throws is reported to the SelfLog and never
// reaches the allocation that emitted the event; a throwing sink does not keep the event from the
// sinks after it.
//
// Disposing the pipeline disposes the sinks it owns, in the order they were added; it does not
// dispose the tracker, so dispose the tracker first to get its final snapshot into the sinks.
using System.Runtime.CompilerServices;

namespace MemTrace.Diagnostics;

/// <summary>
/// The sinks, filters and level restrictions of a <see cref="HeapEventPipelineBuilder"/>, as one
/// <see cref="IHeapEventSink"/>. Emit never throws.
/// </summary>
public sealed class HeapEventPipeline : IHeapEventSink, IDisposable
{
    private readonly IHeapEventSink[] _sinks;
    private readonly int[] _targetKinds;
    private readonly HeapEventFilter[] _filters;
    private readonly HeapEventLevel _minimumLevel;
    private readonly int _kinds;
    private readonly IHeapEventSink? _single;
    private readonly TraceFileWriter? _writer;
    private volatile bool _disposed;
    private int _disposing;

    /// <summary>The pipeline delivering to sinks on this thread, if any: an event it raises again is a sink using the traced heap.</summary>
    [ThreadStatic]
    private static HeapEventPipeline? t_delivering;

    /// <summary>1 once a sink's use of the traced heap has been reported to the SelfLog.</summary>
    private int _reportedReentry;

    /// <summary>The tracker the pipeline serves (see <see cref="Claim"/>); null until one takes it.</summary>
    private object? _tracker;

    internal HeapEventPipeline(List<(IHeapEventSink Sink, HeapEventLevel Minimum)> sinks, HeapEventFilter[] filters, int kindFilter, HeapEventLevel minimumLevel)
    {
        _minimumLevel = minimumLevel;
        _sinks = [.. sinks.Select(s => s.Sink)];
        _filters = filters;
        var passed = HeapEventKindMask.AtOrAbove(minimumLevel) & kindFilter;
        _targetKinds = [.. sinks.Select(s => passed & HeapEventKindMask.AtOrAbove(s.Minimum))];
        foreach (var kinds in _targetKinds)
        {
            _kinds |= kinds;
        }

        // One sink and no predicate to run first: it takes every kind the pipeline passes, so deliver directly
        // (measured: the general loop, its mask test and filter check cost a do-nothing sink 4 ns an event).
        if (_sinks.Length == 1 && filters.Length == 0)
        {
            _single = _sinks[0];
            _writer = _single as TraceFileWriter;
        }
    }

    /// <summary>
    /// Makes the pipeline <paramref name="tracker"/>'s for good. Each tracker numbers its own events and requests from 1,
    /// so two trackers in one pipeline (together or one after the other) would write the same numbers into one trace,
    /// which memtrace report matches blocks by.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another tracker has the pipeline.</exception>
    internal void Claim(object tracker)
    {
        var owner = Interlocked.CompareExchange(ref _tracker, tracker, null);
        if (owner is not null && owner != tracker)
        {
            Internals.ThrowHelper.ThrowInvalidOperation("This HeapEventPipeline serves another MemoryTracker (its events and request numbers would mix with this one's in the same sinks): build one pipeline per tracker.");
        }
    }

    /// <summary>Gives the pipeline back when the tracker that claimed it failed to start.</summary>
    internal void Unclaim(object tracker) => Interlocked.CompareExchange(ref _tracker, null, tracker);

    /// <summary>The pipeline's one sink when it is a trace writer with no filter before it, and the pipeline is not disposed.</summary>
    internal TraceFileWriter? DirectWriter => _disposed ? null : _writer;

    /// <summary>The lowest level that passes the pipeline.</summary>
    public HeapEventLevel MinimumLevel => _minimumLevel;

    /// <summary>The sinks, in the order they were added.</summary>
    public IReadOnlyList<IHeapEventSink> Sinks => _sinks;

    /// <summary>The kinds that reach at least one sink (or its predicate filters), as bits <c>1 &lt;&lt; kind</c>; 0 after disposal. A tracker builds no event of another kind.</summary>
    internal int EnabledKinds => _disposed ? 0 : _kinds;

    /// <summary>Whether an event of <paramref name="kind"/> would reach at least one sink's level and the kind filters (false after disposal or with no sinks). Predicate filters may still drop it.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>True when such events are passed on.</returns>
    public bool IsEnabled(HeapEventKind kind) => HeapEventKindMask.Has(EnabledKinds, kind);

    /// <summary>Passes the event to the filters and sinks. Never throws. After disposal has begun, only the trace writers among the sinks see it, and count it as dropped.</summary>
    /// <param name="heapEvent">The event.</param>
    public void Emit(in HeapEvent heapEvent)
    {
        if (HeapEventKindMask.Has(_kinds, heapEvent.Kind))
        {
            Dispatch(in heapEvent);
        }
    }

    /// <summary>Disposes the sinks that are <see cref="IDisposable"/>; a sink whose Dispose throws is reported to the <see cref="SelfLog"/> and the others are still disposed.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0)
        {
            return; // Once, even when two threads dispose at the same time.
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
                SelfLog.WriteLine($"MemTrace: sink {sink.GetType().Name} threw while being disposed: {SelfLog.Describe(e)}");
            }
        }
    }

    /// <summary>Delivers an event whose kind the caller has checked against <see cref="EnabledKinds"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Dispatch(in HeapEvent heapEvent)
    {
        if (_disposed)
        {
            CountAfterDisposal(in heapEvent);
            return;
        }

        var writer = _writer;
        if (writer is not null)
        {
            writer.Emit(in heapEvent);
            return;
        }

        DispatchCaught(in heapEvent);
    }

    /// <summary>
    /// An event that arrived after disposal began: the trace writers among the sinks that would have taken it (their
    /// level, and the predicate filters) count it as dropped (reason <c>closed</c>), so that it is not lost silently;
    /// other sinks get nothing. An event a writer would never have taken is not counted: nothing of its trace was lost.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CountAfterDisposal(in HeapEvent heapEvent)
    {
        if (PassesFilters(in heapEvent))
        {
            EmitToWriters(in heapEvent);
        }
    }

    /// <summary>Hands the event to the trace writers among the sinks that take its kind (no user code runs there).</summary>
    private void EmitToWriters(in HeapEvent heapEvent)
    {
        var bit = HeapEventKindMask.Of(heapEvent.Kind);
        for (var i = 0; i < _sinks.Length; i++)
        {
            if ((_targetKinds[i] & bit) != 0 && _sinks[i] is TraceFileWriter writer)
            {
                writer.Emit(in heapEvent);
            }
        }
    }

    /// <summary>Counts, in the lone trace writer, a free's event the tracker found would be dropped (see <see cref="TraceFileWriter.WouldDrop()"/>), also once disposal has begun.</summary>
    internal void CountDroppedByWriter() => _writer?.CountDrop();

    /// <summary>Delivery to sinks that may throw (kept out of <see cref="Dispatch"/>, so that the trace writer's path has no exception handler and inlines).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DispatchCaught(in HeapEvent heapEvent)
    {
        var outer = t_delivering;
        if (outer == this)
        {
            DispatchReentered(in heapEvent);
            return;
        }

        t_delivering = this;
        try
        {
            var single = _single;
            if (single is null)
            {
                DispatchToAll(in heapEvent);
                return;
            }

            try
            {
                single.Emit(in heapEvent);
            }
            catch (Exception e)
            {
                ReportSink(single, heapEvent.Kind, e);
            }
        }
        finally
        {
            t_delivering = outer;
        }
    }

    /// <summary>
    /// An event raised while this pipeline's sinks or filters run on this thread: one of them allocated or freed on the
    /// traced heap, which <see cref="IHeapEventSink"/> forbids. Delivered again, its event would call the same code,
    /// without end (a stack overflow kills the process). Trace writers take it (no user code runs there; the predicate
    /// filters, user code too, are skipped), other sinks do not. Reported to the SelfLog once.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DispatchReentered(in HeapEvent heapEvent)
    {
        if (Interlocked.Exchange(ref _reportedReentry, 1) == 0)
        {
            SelfLog.WriteLine($"MemTrace: a sink or filter allocated or freed on the heap it listens to (event kind {heapEvent.Kind} raised inside it); such events reach only trace files, never the sinks again. IHeapEventSink.Emit must not use the traced heap.");
        }

        EmitToWriters(in heapEvent);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ReportSink(IHeapEventSink sink, HeapEventKind kind, Exception e) =>
        SelfLog.WriteLine($"MemTrace: caught exception while emitting an event of kind {kind} to sink {sink.GetType().Name}: {SelfLog.Describe(e)}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ReportFilter(HeapEventFilter filter, HeapEventKind kind, Exception e) =>
        SelfLog.WriteLine($"MemTrace: filter {filter.Method.Name} threw on an event of kind {kind}, which was dropped: {SelfLog.Describe(e)}");

    /// <summary>Whether every predicate filter keeps the event; a filter that throws drops it (reported to the <see cref="SelfLog"/>).</summary>
    private bool PassesFilters(in HeapEvent heapEvent)
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
                return false;
            }

            if (!keep)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Delivery through the predicate filters to each sink that takes the kind.</summary>
    private void DispatchToAll(in HeapEvent heapEvent)
    {
        var kind = heapEvent.Kind;
        if (!PassesFilters(in heapEvent))
        {
            return;
        }

        var bit = HeapEventKindMask.Of(kind);
        var targets = _sinks;
        var targetKinds = _targetKinds;
        for (var i = 0; i < targets.Length; i++)
        {
            if ((targetKinds[i] & bit) == 0)
            {
                continue;
            }

            try
            {
                targets[i].Emit(in heapEvent);
            }
            catch (Exception e)
            {
                ReportSink(targets[i], kind, e);
            }
        }
    }
}

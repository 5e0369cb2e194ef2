// HeapEventPipelineBuilder: composes the sinks of a tracker once, Serilog's LoggerConfiguration
// for heap events. `WriteTo` adds sinks (console, trace file, user sinks; the ILogger adapter adds
// `WriteTo.Logger` from its own package), `Filter` adds predicates and kind filters, `MinimumLevel`
// restricts the whole pipeline, and `Build()` — allowed once — returns the composed
// HeapEventPipeline. Levels and kind filters become the pipeline's set of kinds, which a tracker
// tests before it builds an event; predicates run on built events.
//
// Sinks that own resources (a trace file and its thread) are created by Build(), not when they
// are configured, so a builder that is never built leaks nothing; if creating one fails, those
// created before it are disposed and the exception goes to the caller.
using MemTrace.Internals;

namespace MemTrace.Diagnostics;

/// <summary>
/// Builds a <see cref="HeapEventPipeline"/>: the sinks that receive a tracker's events, with
/// filters and level restrictions. Pass the result as <see cref="MemoryTrackerOptions.Events"/>.
/// </summary>
/// <example>
/// <code>
/// using var events = new HeapEventPipelineBuilder()
///     .WriteTo.TraceFile("trace.jsonl")
///     .WriteTo.Console(restrictedToMinimumLevel: HeapEventLevel.Warning)
///     .Build();
/// using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Events = events });
/// </code>
/// </example>
public sealed class HeapEventPipelineBuilder
{
    private readonly List<SinkEntry> _sinks = [];
    private readonly List<HeapEventFilter> _filters = [];
    private int _kindFilter = HeapEventKindMask.All;
    private HeapEventLevel _minimumLevel = HeapEventLevel.Trace;
    private bool _built;

    /// <summary>Creates an empty builder: no sinks, no filters, every level.</summary>
    public HeapEventPipelineBuilder()
    {
        WriteTo = new HeapEventSinkConfiguration(this);
        Filter = new HeapEventFilterConfiguration(this);
    }

    /// <summary>Adds sinks.</summary>
    public HeapEventSinkConfiguration WriteTo { get; }

    /// <summary>Adds filters that every event must pass before any sink sees it.</summary>
    public HeapEventFilterConfiguration Filter { get; }

    /// <summary>Drops events below <paramref name="level"/> before filters and sinks: a tracker builds no event below it.</summary>
    /// <param name="level">The lowest level that passes; <see cref="HeapEventLevel.Trace"/> (the default) passes all.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="level"/> is not a defined level.</exception>
    /// <exception cref="InvalidOperationException"><see cref="Build"/> was already called.</exception>
    public HeapEventPipelineBuilder MinimumLevel(HeapEventLevel level)
    {
        ThrowIfBuilt();
        if (!Enum.IsDefined(level))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(level), "Not a defined HeapEventLevel.");
        }

        _minimumLevel = level;
        return this;
    }

    /// <summary>Creates the pipeline. Can be called once.</summary>
    /// <returns>The pipeline; dispose it after the tracker that uses it.</returns>
    /// <exception cref="InvalidOperationException"><see cref="Build"/> was already called, or a sink factory returned null.</exception>
    /// <remarks>Exceptions of sinks created here (for example a trace file that cannot be created) propagate after the sinks created before them are disposed (one whose Dispose throws is reported to the <see cref="SelfLog"/>, and the others are still disposed).</remarks>
    public HeapEventPipeline Build()
    {
        ThrowIfBuilt();
        _built = true;
        var created = new List<(IHeapEventSink Sink, HeapEventLevel Minimum)>(_sinks.Count);
        try
        {
            foreach (var entry in _sinks)
            {
                var sink = entry.Create() ?? throw new InvalidOperationException("A sink factory given to WriteTo.Sink returned null.");
                created.Add((sink, entry.Minimum));
            }
        }
        catch
        {
            // Each in its own try, as HeapEventPipeline.Dispose does: a sink whose Dispose throws must neither replace the
            // exception the caller is owed nor keep the sinks after it from being disposed.
            foreach (var (sink, _) in created)
            {
                try
                {
                    (sink as IDisposable)?.Dispose();
                }
                catch (Exception e)
                {
                    SelfLog.WriteLine($"MemTrace: sink {sink.GetType().Name} threw while being disposed after Build failed: {SelfLog.Describe(e)}");
                }
            }

            throw;
        }

        return new HeapEventPipeline(created, [.. _filters], _kindFilter, _minimumLevel);
    }

    internal HeapEventPipelineBuilder AddSink(Func<IHeapEventSink> create, HeapEventLevel minimum)
    {
        ThrowIfBuilt();
        if (!Enum.IsDefined(minimum))
        {
            ThrowHelper.ThrowArgumentOutOfRange("restrictedToMinimumLevel", $"{minimum} is not a defined HeapEventLevel.");
        }

        _sinks.Add(new SinkEntry(create, minimum));
        return this;
    }

    internal HeapEventPipelineBuilder AddFilter(HeapEventFilter filter)
    {
        ThrowIfBuilt();
        _filters.Add(filter);
        return this;
    }

    /// <summary>Keeps only the kinds in <paramref name="mask"/> (with those of earlier kind filters): tested before an event is built, not per event.</summary>
    internal HeapEventPipelineBuilder AddKindFilter(int mask)
    {
        ThrowIfBuilt();
        _kindFilter &= mask;
        return this;
    }

    private void ThrowIfBuilt()
    {
        if (_built)
        {
            ThrowHelper.ThrowInvalidOperation("Build() was already called on this HeapEventPipelineBuilder; create a new builder for another pipeline.");
        }
    }

    private sealed record SinkEntry(Func<IHeapEventSink> Create, HeapEventLevel Minimum);
}

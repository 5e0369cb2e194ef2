// HeapEventFilterConfiguration: the `Filter` section of HeapEventPipelineBuilder (Serilog's
// LoggerFilterConfiguration). Filters run after the minimum level and before every sink.
namespace MemTrace.Diagnostics;

/// <summary>Adds filters to a <see cref="HeapEventPipelineBuilder"/>; an event reaches the sinks only when every filter keeps it.</summary>
public sealed class HeapEventFilterConfiguration
{
    private readonly HeapEventPipelineBuilder _builder;

    internal HeapEventFilterConfiguration(HeapEventPipelineBuilder builder) => _builder = builder;

    /// <summary>Keeps only the events for which <paramref name="include"/> returns true.</summary>
    /// <param name="include">The predicate; one that throws drops the event and is reported to the <see cref="SelfLog"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="include"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The pipeline was already built.</exception>
    public HeapEventPipelineBuilder ByIncludingOnly(HeapEventFilter include)
    {
        ArgumentNullException.ThrowIfNull(include);
        return _builder.AddFilter(include);
    }

    /// <summary>Drops the events for which <paramref name="exclude"/> returns true.</summary>
    /// <param name="exclude">The predicate; one that throws drops the event and is reported to the <see cref="SelfLog"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="exclude"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The pipeline was already built.</exception>
    public HeapEventPipelineBuilder ByExcluding(HeapEventFilter exclude)
    {
        ArgumentNullException.ThrowIfNull(exclude);
        return _builder.AddFilter((in HeapEvent e) => !exclude(in e));
    }

    /// <summary>Keeps only events of the given kinds. Costs nothing per event: a tracker builds no event of another kind.</summary>
    /// <param name="kinds">The kinds to keep; at least one.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException"><paramref name="kinds"/> is empty or holds a value outside <see cref="HeapEventKind"/>.</exception>
    /// <exception cref="InvalidOperationException">The pipeline was already built.</exception>
    public HeapEventPipelineBuilder ByKinds(params HeapEventKind[] kinds)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        if (kinds.Length == 0)
        {
            throw new ArgumentException("Name at least one kind.", nameof(kinds));
        }

        var mask = 0;
        foreach (var kind in kinds)
        {
            if (!Enum.IsDefined(kind))
            {
                throw new ArgumentException($"{(int)kind} is not a HeapEventKind.", nameof(kinds));
            }

            mask |= HeapEventKindMask.Of(kind);
        }

        return _builder.AddKindFilter(mask);
    }
}

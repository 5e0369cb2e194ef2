// HeapEventSinkConfiguration: the `WriteTo` section of HeapEventPipelineBuilder (Serilog's
// LoggerSinkConfiguration). Each method adds one sink and returns the builder, so calls chain;
// packages add sinks of their own as extension methods over Sink().
namespace MemTrace.Diagnostics;

/// <summary>Adds sinks to a <see cref="HeapEventPipelineBuilder"/>.</summary>
public sealed class HeapEventSinkConfiguration
{
    private readonly HeapEventPipelineBuilder _builder;

    internal HeapEventSinkConfiguration(HeapEventPipelineBuilder builder) => _builder = builder;

    /// <summary>Adds a sink. The pipeline owns it: disposing the pipeline disposes the sink when it is <see cref="IDisposable"/>.</summary>
    /// <param name="sink">The sink.</param>
    /// <param name="restrictedToMinimumLevel">The lowest level this sink receives.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sink"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="restrictedToMinimumLevel"/> is not a defined level.</exception>
    /// <exception cref="InvalidOperationException">The pipeline was already built.</exception>
    public HeapEventPipelineBuilder Sink(IHeapEventSink sink, HeapEventLevel restrictedToMinimumLevel = HeapEventLevel.Trace)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return _builder.AddSink(() => sink, restrictedToMinimumLevel);
    }

    /// <summary>Adds a sink created by <see cref="HeapEventPipelineBuilder.Build"/> (for sinks that own files or threads).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="restrictedToMinimumLevel"/> is not a defined level.</exception>
    /// <param name="create">Creates the sink; called once, by Build, which throws <see cref="InvalidOperationException"/> if it returns null.</param>
    /// <param name="restrictedToMinimumLevel">The lowest level this sink receives.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="create"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The pipeline was already built.</exception>
    public HeapEventPipelineBuilder Sink(Func<IHeapEventSink> create, HeapEventLevel restrictedToMinimumLevel = HeapEventLevel.Trace)
    {
        ArgumentNullException.ThrowIfNull(create);
        return _builder.AddSink(create, restrictedToMinimumLevel);
    }

    /// <summary>Adds a <see cref="ConsoleSink"/>: one human-readable line per event.</summary>
    /// <param name="output">Where to write; null for <see cref="System.Console.Out"/>. The pipeline does not dispose it.</param>
    /// <param name="restrictedToMinimumLevel">The lowest level written. Writing every allocation to a console is slow: consider <see cref="HeapEventLevel.Warning"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="restrictedToMinimumLevel"/> is not a defined level.</exception>
    /// <exception cref="InvalidOperationException">The pipeline was already built.</exception>
    public HeapEventPipelineBuilder Console(TextWriter? output = null, HeapEventLevel restrictedToMinimumLevel = HeapEventLevel.Trace) =>
        _builder.AddSink(() => new ConsoleSink(output ?? System.Console.Out), restrictedToMinimumLevel);

    /// <summary>Adds a <see cref="TraceFileWriter"/>: a JSON Lines trace file written by a background thread.</summary>
    /// <param name="path">The file to create (replaced if it exists).</param>
    /// <param name="options">Buffer size, full-buffer mode and flush policy; null for the defaults.</param>
    /// <param name="restrictedToMinimumLevel">The lowest level written.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="restrictedToMinimumLevel"/> is not a defined level.</exception>
    /// <exception cref="InvalidOperationException">The pipeline was already built.</exception>
    /// <remarks>The file is created by <see cref="HeapEventPipelineBuilder.Build"/>, which throws what <see cref="FileStream"/> throws if it cannot be, an <see cref="IOException"/> if another <see cref="TraceFileWriter"/> of this process is writing it (the file is left untouched), and <see cref="ArgumentOutOfRangeException"/> for an option of <paramref name="options"/> out of range.</remarks>
    public HeapEventPipelineBuilder TraceFile(string path, TraceFileOptions? options = null, HeapEventLevel restrictedToMinimumLevel = HeapEventLevel.Trace)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return _builder.AddSink(() => new TraceFileWriter(path, options), restrictedToMinimumLevel);
    }
}

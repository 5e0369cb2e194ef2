// WriteTo.Logger(...): adds a LoggerSink to a HeapEventPipelineBuilder, as Serilog's sink
// packages add their WriteTo methods as extensions.
using MemTrace.Diagnostics;
using Microsoft.Extensions.Logging;

namespace MemTrace.Extensions.Logging;

/// <summary><c>WriteTo.Logger(...)</c> for <see cref="HeapEventPipelineBuilder"/>.</summary>
public static class LoggerSinkConfigurationExtensions
{
    /// <summary>Adds a sink that writes events to <paramref name="logger"/>.</summary>
    /// <param name="writeTo">The builder's <c>WriteTo</c>.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="restrictedToMinimumLevel">The lowest level sent; default <see cref="HeapEventLevel.Warning"/> (failures, errors), since every allocation through a logger is slow.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="writeTo"/> or <paramref name="logger"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="restrictedToMinimumLevel"/> is not a defined level.</exception>
    public static HeapEventPipelineBuilder Logger(this HeapEventSinkConfiguration writeTo, ILogger logger, HeapEventLevel restrictedToMinimumLevel = HeapEventLevel.Warning)
    {
        ArgumentNullException.ThrowIfNull(writeTo);
        return writeTo.Sink(new LoggerSink(logger), restrictedToMinimumLevel);
    }

    /// <summary>Adds a sink that writes events to a logger named <c>MemTrace</c> from <paramref name="loggerFactory"/>.</summary>
    /// <param name="writeTo">The builder's <c>WriteTo</c>.</param>
    /// <param name="loggerFactory">The factory.</param>
    /// <param name="restrictedToMinimumLevel">The lowest level sent; default <see cref="HeapEventLevel.Warning"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="writeTo"/> or <paramref name="loggerFactory"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="restrictedToMinimumLevel"/> is not a defined level.</exception>
    public static HeapEventPipelineBuilder Logger(this HeapEventSinkConfiguration writeTo, ILoggerFactory loggerFactory, HeapEventLevel restrictedToMinimumLevel = HeapEventLevel.Warning)
    {
        ArgumentNullException.ThrowIfNull(writeTo);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return writeTo.Logger(loggerFactory.CreateLogger("MemTrace"), restrictedToMinimumLevel);
    }
}

// LoggerSink: heap events into Microsoft.Extensions.Logging, as structured log messages. Each
// kind has an event id and a message template whose placeholders are the event's fields, so a
// structured logger (Serilog, OpenTelemetry) keeps them as properties. The level follows
// HeapEventKindExtensions.GetLevel (allocation -> Trace ... memory error -> Error), and the
// logger's IsEnabled is tested first (and only there: the generated methods skip their own test),
// so a logger that ignores Trace costs one call per event. Sizes and addresses go out as ulong:
// JSON formatters write a nuint as a string.
using MemTrace.Diagnostics;
using Microsoft.Extensions.Logging;

namespace MemTrace.Extensions.Logging;

/// <summary>Writes heap events to an <see cref="ILogger"/>.</summary>
/// <remarks>
/// Event ids: 1 allocation, 2 free, 3 realloc, 4 failed allocation, 5 memory error, 6 checkpoint, 7 snapshot.
/// Levels: allocations, frees and reallocs <see cref="LogLevel.Trace"/>; snapshots <see cref="LogLevel.Debug"/>;
/// checkpoints <see cref="LogLevel.Information"/>; failed allocations <see cref="LogLevel.Warning"/>; memory
/// errors <see cref="LogLevel.Error"/>. Runs on the allocating thread, so a slow logger slows allocations:
/// restrict it (<c>restrictedToMinimumLevel</c>) or configure the logger's own filters.
/// <para>
/// Structured fields (sizes and addresses as numbers, <see cref="ulong"/> values, which JSON formatters write as numbers
/// where they would write a <see cref="nuint"/> as a string; caps as <c>MALLOC_CAP_*</c> names; call sites as text):
/// allocation <c>Size, Address, Caps, Region, RequestNumber, Site</c>; free <c>Size, Address, RequestNumber, Site,
/// AllocatedAt</c>; realloc <c>PreviousSize, PreviousAddress, Size, Address, RequestNumber, Site</c>; failed allocation
/// <c>Size, Caps, RequestNumber, Site</c>; memory error <c>ErrorMessage, ErrorKind</c> (a <see cref="MemoryErrorKind"/>
/// name), <c>Address</c> (the pointer given to the call), <c>Region, Site</c> (where it was detected), <c>Report</c>
/// (the full report); checkpoint <c>Label, LiveBlocks, LiveBytes</c>; snapshot <c>LiveBlocks, LiveBytes, RegionCount</c>.
/// An event of a kind outside <see cref="HeapEventKind"/> is not logged.
/// </para>
/// </remarks>
public sealed partial class LoggerSink : IHeapEventSink
{
    private readonly ILogger _logger;

    /// <summary>Creates a sink over <paramref name="logger"/>.</summary>
    /// <param name="logger">The logger.</param>
    /// <exception cref="ArgumentNullException"><paramref name="logger"/> is null.</exception>
    public LoggerSink(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
    }

    /// <summary>The <see cref="LogLevel"/> of an event kind.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>The level.</returns>
    public static LogLevel ToLogLevel(HeapEventKind kind) => kind.GetLevel() switch
    {
        HeapEventLevel.Debug => LogLevel.Debug,
        HeapEventLevel.Information => LogLevel.Information,
        HeapEventLevel.Warning => LogLevel.Warning,
        HeapEventLevel.Error => LogLevel.Error,
        _ => LogLevel.Trace,
    };

    /// <summary>Logs the event when the logger is enabled for its level.</summary>
    /// <param name="heapEvent">The event.</param>
    public void Emit(in HeapEvent heapEvent)
    {
        if (!_logger.IsEnabled(ToLogLevel(heapEvent.Kind)))
        {
            return;
        }

        switch (heapEvent.Kind)
        {
            case HeapEventKind.Allocation:
                LogAllocation(heapEvent.Size, heapEvent.Address, heapEvent.Caps.ToCapsString(), heapEvent.RegionName, heapEvent.RequestNumber, heapEvent.Site.ToString());
                break;
            case HeapEventKind.Free:
                LogFree(heapEvent.Size, heapEvent.Address, heapEvent.RequestNumber, heapEvent.Site.ToString(), heapEvent.AllocatedAt?.ToString());
                break;
            case HeapEventKind.Reallocation:
                LogReallocation(heapEvent.PreviousSize, heapEvent.PreviousAddress, heapEvent.Size, heapEvent.Address, heapEvent.RequestNumber, heapEvent.Site.ToString());
                break;
            case HeapEventKind.FailedAllocation:
                LogFailure(heapEvent.Size, heapEvent.Caps.ToCapsString(), heapEvent.RequestNumber, heapEvent.Site.ToString());
                break;
            case HeapEventKind.MemoryError:
                LogError(heapEvent.Error?.Message ?? "memory error", heapEvent.Error?.Kind.ToString(), heapEvent.Address, heapEvent.RegionName, heapEvent.Site.ToString(), heapEvent.Error?.ToString().TrimEnd());
                break;
            case HeapEventKind.Checkpoint:
                LogCheckpoint(heapEvent.Label, heapEvent.LiveBlocks, heapEvent.LiveBytes);
                break;
            case HeapEventKind.Snapshot:
                LogSnapshot(heapEvent.LiveBlocks, heapEvent.LiveBytes, heapEvent.Regions?.Count ?? 0);
                break;
        }
    }

    [LoggerMessage(EventId = 1, EventName = "Allocation", SkipEnabledCheck = true, Level = LogLevel.Trace, Message = "Allocated {Size} bytes at 0x{Address:x} ({Caps}, region {Region}), request #{RequestNumber}, at {Site}")]
    private partial void LogAllocation(ulong size, ulong address, string caps, string? region, long requestNumber, string site);

    [LoggerMessage(EventId = 2, EventName = "Free", SkipEnabledCheck = true, Level = LogLevel.Trace, Message = "Freed {Size} bytes at 0x{Address:x}, request #{RequestNumber}, at {Site}; allocated at {AllocatedAt}")]
    private partial void LogFree(ulong size, ulong address, long requestNumber, string site, string? allocatedAt);

    [LoggerMessage(EventId = 3, EventName = "Reallocation", SkipEnabledCheck = true, Level = LogLevel.Trace, Message = "Reallocated {PreviousSize} bytes at 0x{PreviousAddress:x} to {Size} bytes at 0x{Address:x}, request #{RequestNumber}, at {Site}")]
    private partial void LogReallocation(ulong previousSize, ulong previousAddress, ulong size, ulong address, long requestNumber, string site);

    [LoggerMessage(EventId = 4, EventName = "FailedAllocation", SkipEnabledCheck = true, Level = LogLevel.Warning, Message = "Allocation of {Size} bytes ({Caps}) failed, request #{RequestNumber}, at {Site}")]
    private partial void LogFailure(ulong size, string caps, long requestNumber, string site);

    [LoggerMessage(EventId = 5, EventName = "MemoryError", SkipEnabledCheck = true, Level = LogLevel.Error, Message = "Memory error: {ErrorMessage} ({ErrorKind}, address 0x{Address:x}, region {Region}) detected at {Site}\n{Report}")]
    private partial void LogError(string errorMessage, string? errorKind, ulong address, string? region, string site, string? report);

    [LoggerMessage(EventId = 6, EventName = "Checkpoint", SkipEnabledCheck = true, Level = LogLevel.Information, Message = "Checkpoint {Label}: {LiveBlocks} live blocks, {LiveBytes} bytes")]
    private partial void LogCheckpoint(string? label, long liveBlocks, long liveBytes);

    [LoggerMessage(EventId = 7, EventName = "Snapshot", SkipEnabledCheck = true, Level = LogLevel.Debug, Message = "Heap snapshot: {LiveBlocks} live blocks, {LiveBytes} bytes, {RegionCount} regions")]
    private partial void LogSnapshot(long liveBlocks, long liveBytes, int regionCount);
}

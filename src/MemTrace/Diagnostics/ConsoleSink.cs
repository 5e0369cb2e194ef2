// ConsoleSink: heap events for people, one line each (a memory error adds its full report),
// written synchronously to a TextWriter. Control characters in the strings it is given (labels,
// region names, call sites) are shown as U+FFFD, as `memtrace report` shows them. It formats on the allocating thread and takes the
// writer's lock, so it costs microseconds per event: for volume, use the trace file and
// restrict this sink to warnings and errors.
using System.Globalization;
using System.Text;

namespace MemTrace.Diagnostics;

/// <summary>Writes each event as one human-readable line.</summary>
/// <remarks>
/// Examples:
/// <code>
/// 14:38:00.123 alloc      #1      256 B  0x3ffb0a10 DRAM    MALLOC_CAP_8BIT  heap_caps_calloc at DemoCommand.cs:30 in Run (buffer)
/// 14:38:00.130 free       #1      256 B  0x3ffb0a10 DRAM    heap_caps_free at DemoCommand.cs:62 in Run (buffer); allocated at DemoCommand.cs:30
/// 14:38:00.131 FAILED     #7  8388608 B  MALLOC_CAP_SPIRAM  heap_caps_malloc at Demo.cs:80 in Run (frame)
/// </code>
/// The time of day is local time (<see cref="HeapEvent.Time"/> is UTC, as are trace files and <c>memtrace report</c>).
/// Synchronous: every event is formatted and written on the thread that emitted it.
/// </remarks>
public sealed class ConsoleSink : IHeapEventSink
{
    private readonly TextWriter _output;

    /// <summary>Creates a sink that writes to <paramref name="output"/>.</summary>
    /// <param name="output">The writer; not disposed by the sink.</param>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    public ConsoleSink(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    /// <summary>Formats and writes the event.</summary>
    /// <param name="heapEvent">The event.</param>
    /// <exception cref="IOException">The writer failed (the pipeline reports it to the <see cref="SelfLog"/>).</exception>
    public void Emit(in HeapEvent heapEvent)
    {
        var line = Format(heapEvent);
        lock (_output)
        {
            _output.WriteLine(line);
            _output.Flush();
        }
    }

    /// <summary>The text this sink writes for <paramref name="heapEvent"/> (without the final newline): one line, or for a memory error the line and its indented report; control characters from the event's strings are shown as U+FFFD.</summary>
    /// <param name="heapEvent">The event.</param>
    /// <returns>The text.</returns>
    public static string Format(in HeapEvent heapEvent)
    {
        var text = new StringBuilder(160);
        var time = heapEvent.Time.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
        var label = heapEvent.Kind switch
        {
            HeapEventKind.FailedAllocation => "FAILED",
            HeapEventKind.MemoryError => "ERROR",
            _ => heapEvent.Kind.ToTraceName(),
        };
        text.Append(CultureInfo.InvariantCulture, $"{time} {label,-10} ");
        switch (heapEvent.Kind)
        {
            case HeapEventKind.Allocation:
                Block(text, heapEvent);
                text.Append(CultureInfo.InvariantCulture, $"{heapEvent.Caps.ToCapsString()}  {heapEvent.Site.Method.ToCName()} at {Site(heapEvent.Site)}");
                break;
            case HeapEventKind.Free:
                Block(text, heapEvent);
                text.Append(CultureInfo.InvariantCulture, $"{heapEvent.Site.Method.ToCName()} at {Site(heapEvent.Site)}");
                AllocatedAt(text, heapEvent);
                break;
            case HeapEventKind.Reallocation:
                Block(text, heapEvent);
                text.Append(CultureInfo.InvariantCulture, $"from {heapEvent.PreviousSize} B at 0x{heapEvent.PreviousAddress:x}  {heapEvent.Site.Method.ToCName()} at {Site(heapEvent.Site)}");
                AllocatedAt(text, heapEvent);
                break;
            case HeapEventKind.FailedAllocation:
                text.Append(CultureInfo.InvariantCulture, $"#{heapEvent.RequestNumber,-5} {heapEvent.Size,8} B  {heapEvent.Caps.ToCapsString()}  {heapEvent.Site.Method.ToCName()} at {Site(heapEvent.Site)}");
                break;
            case HeapEventKind.MemoryError:
                var report = heapEvent.Error?.ToString().TrimEnd() ?? $"memory error at 0x{heapEvent.Address:x}";
                text.Append(report.ReplaceLineEndings("\n").Replace("\n", "\n    ", StringComparison.Ordinal));
                break;
            case HeapEventKind.Checkpoint:
                text.Append(CultureInfo.InvariantCulture, $"'{heapEvent.Label}': ");
                Totals(text, heapEvent);
                break;
            case HeapEventKind.Snapshot:
                Totals(text, heapEvent);
                break;
            default:
                // Not a kind this version knows (an event built by hand): said so, not printed as a snapshot.
                text.Append(CultureInfo.InvariantCulture, $"event of kind {(int)heapEvent.Kind}");
                break;
        }

        return Printable(text, keepLineBreaks: heapEvent.Kind == HeapEventKind.MemoryError);
    }

    /// <summary>
    /// The text with every control character (from a label, a region name or a call site: a newline would split the
    /// event's line, ESC would recolour the terminal) shown as U+FFFD; a memory error's report keeps its own line
    /// breaks, written as <see cref="Environment.NewLine"/>.
    /// </summary>
    private static string Printable(StringBuilder text, bool keepLineBreaks)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsControl(text[i]) && !(keepLineBreaks && text[i] == '\n'))
            {
                text[i] = '\uFFFD';
            }
        }

        return keepLineBreaks && Environment.NewLine != "\n" ? text.ToString().Replace("\n", Environment.NewLine, StringComparison.Ordinal) : text.ToString();
    }

    private static void Block(StringBuilder text, in HeapEvent e) =>
        text.Append(CultureInfo.InvariantCulture, $"#{e.RequestNumber,-5} {e.Size,8} B  0x{e.Address:x} {e.RegionName ?? "-",-7} ");

    private static void AllocatedAt(StringBuilder text, in HeapEvent e)
    {
        if (e.AllocatedAt is { IsKnown: true } site)
        {
            text.Append(CultureInfo.InvariantCulture, $"; allocated at {site.FileName}:{site.Line}");
        }
    }

    private static void Totals(StringBuilder text, in HeapEvent e)
    {
        text.Append(CultureInfo.InvariantCulture, $"{e.LiveBlocks} live blocks, {e.LiveBytes} B");
        if (e.Regions is not { } regions)
        {
            return;
        }

        foreach (var region in regions)
        {
            text.Append(CultureInfo.InvariantCulture, $"; {region.Name} ");
            text.Append(region.IsUnbounded
                ? "unbounded"
                : string.Create(CultureInfo.InvariantCulture, $"free {region.FreeBytes} largest {region.LargestFreeBlock} min {region.MinimumFreeBytes}"));
        }
    }

    private static string Site(CallSite site) => site.IsKnown
        ? string.Create(CultureInfo.InvariantCulture, $"{site.FileName}:{site.Line} in {site.Function ?? "?"}") + (site.VariableName is { } v ? " (" + v + ")" : string.Empty)
        : "(no call site)";
}

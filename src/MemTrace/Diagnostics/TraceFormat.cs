// TraceFormat: the constants of MemTrace's JSON Lines trace format, shared by the writer and the
// reader. One JSON object per line, UTF-8, '\n'-terminated; every line has a "kind" field first.
// Event lines use the names of HeapEventKindExtensions.ToTraceName; three more kinds describe
// the trace itself: "header" (first line: format name and version), "dropped" (events the
// writer could not write, and why) and "end" (last line of a trace whose writer was closed).
// docs/tracing.md documents every field.
namespace MemTrace.Diagnostics;

/// <summary>Names and version of MemTrace's JSON Lines trace format.</summary>
public static class TraceFormat
{
    /// <summary>The value of the header line's <c>"format"</c> field.</summary>
    public const string FormatName = "memtrace-trace";

    /// <summary>The format version this library writes, and the highest it reads.</summary>
    public const int Version = 1;

    /// <summary>Kind of the first line: <c>{"kind":"header","format":"memtrace-trace","version":1,"time":…,"pid":…,"process":…}</c>.</summary>
    public const string HeaderKind = "header";

    /// <summary>Kind of a line that counts events the writer could not write: <c>{"kind":"dropped","count":N,"reason":"full"|"io"|"closed"|"unencodable","time":…}</c>.</summary>
    public const string DroppedKind = "dropped";

    /// <summary>Kind of the last line of a trace whose writer was closed: <c>{"kind":"end","time":…,"events":N,"dropped":N}</c>.</summary>
    public const string EndKind = "end";

    /// <summary>How every <c>"time"</c> field is written (a <see cref="DateTime"/> format, invariant culture): UTC, milliseconds and <c>Z</c>, e.g. <c>2026-11-25T14:38:00.001Z</c>.</summary>
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
}

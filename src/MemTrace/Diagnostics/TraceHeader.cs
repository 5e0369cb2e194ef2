// TraceHeader: what the first line of a trace says about it.
namespace MemTrace.Diagnostics;

/// <summary>The header line of a trace.</summary>
/// <param name="Format">The format name (<see cref="TraceFormat.FormatName"/>).</param>
/// <param name="Version">The format version.</param>
/// <param name="Time">When the writer started, if given.</param>
/// <param name="ProcessId">The writing process's id, or 0.</param>
/// <param name="ProcessName">The writing process's name, if given.</param>
public sealed record TraceHeader(string Format, int Version, DateTimeOffset? Time, int ProcessId, string? ProcessName);

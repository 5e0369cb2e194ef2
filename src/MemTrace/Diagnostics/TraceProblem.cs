// TraceProblem: one thing wrong with a trace, located by its line number, as a reader reports it
// instead of throwing.
namespace MemTrace.Diagnostics;

/// <summary>A problem found in a trace file.</summary>
/// <param name="Line">The 1-based line number (0 for the file as a whole).</param>
/// <param name="Kind">What is wrong.</param>
/// <param name="Message">A sentence saying what is wrong and what the reader did about it.</param>
public readonly record struct TraceProblem(long Line, TraceProblemKind Kind, string Message)
{
    /// <summary>True when the problem means events are missing from what was read (not for a torn last line, a format warning or an empty file).</summary>
    public bool LosesEvents => Kind is not (TraceProblemKind.TornLastLine or TraceProblemKind.UnsupportedFormat or TraceProblemKind.EmptyTrace or TraceProblemKind.LinesAfterEnd);

    /// <summary><c>line 12: not valid JSON (…); line skipped</c>; empty for <c>default(TraceProblem)</c>.</summary>
    /// <returns>The formatted problem.</returns>
    public override string ToString() => Line > 0 ? $"line {Line}: {Message}" : Message ?? string.Empty;
}

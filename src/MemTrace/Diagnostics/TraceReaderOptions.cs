// TraceReaderOptions: the bounds a TraceReader keeps, so that any input — a 1 GB trace, a binary
// file, one endless line — is read in bounded memory.
namespace MemTrace.Diagnostics;

/// <summary>Settings of a <see cref="TraceReader"/>.</summary>
public sealed record TraceReaderOptions
{
    /// <summary>The longest line read; longer ones are skipped and reported. Default 1 MiB (a snapshot of a thousand regions is about 150 KiB); at least 256. A value above the largest array .NET allocates (<see cref="Array.MaxLength"/> − 1) reads lines up to that length.</summary>
    public int MaxLineBytes { get; init; } = 1024 * 1024;

    /// <summary>How many problems <see cref="TraceReader.Problems"/> keeps (the first ones); <see cref="TraceReader.ProblemCount"/> counts them all. Default 1000.</summary>
    public int MaxProblemsKept { get; init; } = 1000;

    /// <summary>Called for every problem as it is found (also those not kept); null for none.</summary>
    public Action<TraceProblem>? OnProblem { get; init; }
}

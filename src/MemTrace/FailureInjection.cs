// FailureInjection: ready-made allocation hooks that refuse chosen requests, so that a program's
// out-of-memory paths can be tested on a PC (the use the CRT's _CrtSetAllocHook is put to most).
//
// Each hook counts the requests it is shown (1, 2, 3, …, across threads, with an interlocked
// increment); the Nth-request and random hooks decide on that count, not on request numbers,
// which are drawn per thread in blocks and so differ between a single-threaded and a threaded run.
// The random hook hashes (seed, count), so the same seed refuses the same requests of the same
// program on every run, without a shared Random or a lock.
namespace MemTrace;

/// <summary>Allocation hooks that refuse chosen requests; install one with <see cref="MemoryTracker.AllocationHook"/>.</summary>
public static class FailureInjection
{
    /// <summary>A hook that refuses exactly the <paramref name="n"/>th request it is shown (1-based) and serves every other.</summary>
    /// <param name="n">Which request to refuse, counted from 1 from the moment the hook is installed.</param>
    /// <returns>The hook.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is below 1.</exception>
    public static AllocationHook FailNth(long n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var counter = new Counter();
        return (in AllocationRequest _) => counter.Next() != n;
    }

    /// <summary>A hook that refuses every request made at one source line.</summary>
    /// <param name="file">The source file: a file name (<c>Parser.cs</c>), or a path or path suffix (<c>src/Parser.cs</c>); compared ordinally.</param>
    /// <param name="line">The line, from 1.</param>
    /// <returns>The hook.</returns>
    /// <exception cref="ArgumentException"><paramref name="file"/> is null, empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="line"/> is below 1.</exception>
    public static AllocationHook FailAtSite(string file, int line)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(file);
        ArgumentOutOfRangeException.ThrowIfLessThan(line, 1);
        var suffix = file.Replace('\\', '/');
        return (in AllocationRequest request) => !(request.Site.Line == line && IsFile(request.Site.File, suffix));
    }

    /// <summary>
    /// A hook that refuses each request with probability <paramref name="probability"/>, reproducibly: the
    /// same seed refuses the same requests (by their order of arrival at the hook) on every run.
    /// </summary>
    /// <param name="probability">From 0 (refuse none) to 1 (refuse all).</param>
    /// <param name="seed">Any number; runs with the same seed refuse the same requests.</param>
    /// <returns>The hook.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="probability"/> is not within [0, 1] (or is NaN).</exception>
    public static AllocationHook FailRandomly(double probability, ulong seed)
    {
        if (!(probability >= 0 && probability <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "The probability must be within [0, 1].");
        }

        var counter = new Counter();
        return (in AllocationRequest _) => !IsRefused(seed, counter.Next(), probability);
    }

    /// <summary>Whether the random hook with <paramref name="seed"/> refuses its <paramref name="n"/>th request (for tests that predict it).</summary>
    internal static bool IsRefused(ulong seed, long n, double probability) =>
        (Mix(Mix(seed) + (ulong)n) >> 11) * (1.0 / (1UL << 53)) < probability;

    /// <summary>SplitMix64's finaliser: a well-mixed 64-bit hash of <paramref name="x"/>.</summary>
    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private static bool IsFile(string? path, string suffix)
    {
        if (path is null || path.Length < suffix.Length)
        {
            return false;
        }

        var normalised = path.Replace('\\', '/');
        return normalised.EndsWith(suffix, StringComparison.Ordinal)
            && (normalised.Length == suffix.Length || normalised[^(suffix.Length + 1)] == '/' || suffix[0] == '/');
    }

    private sealed class Counter
    {
        private long _count;

        public long Next() => Interlocked.Increment(ref _count);
    }
}

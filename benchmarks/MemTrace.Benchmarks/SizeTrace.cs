// SizeTrace: the request sizes a benchmark cycles through: a fixed 64 bytes, or a mixed trace of
// 16 B to 4 KiB drawn log-uniformly (many small, some large, as real programs ask), fixed seed;
// and, for a churning heap, which live block each step frees.
namespace MemTrace.Benchmarks;

public static class SizeTrace
{
    public const int Length = 1024;

    public static nuint[] Create(string kind)
    {
        var sizes = new nuint[Length];
        if (kind == "64B")
        {
            Array.Fill(sizes, (nuint)64);
            return sizes;
        }

        var random = new Random(20261125);
        for (var i = 0; i < sizes.Length; i++)
        {
            sizes[i] = (nuint)Math.Round(Math.Pow(2, 4 + (random.NextDouble() * 8)));
        }

        return sizes;
    }

    /// <summary>For each of the <see cref="Length"/> steps, the index of the live block it frees (of <paramref name="live"/>), fixed seed.</summary>
    public static int[] Victims(int live)
    {
        var random = new Random(20261127);
        var victims = new int[Length];
        for (var i = 0; i < victims.Length; i++)
        {
            victims[i] = random.Next(live);
        }

        return victims;
    }
}

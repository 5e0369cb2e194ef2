// Counted: a count and its noun for messages and reports, "1 block", "2 blocks" (every noun
// MemTrace counts takes an s), with the count in invariant digits.
using System.Globalization;

namespace MemTrace.Internals;

internal static class Counted
{
    /// <summary><c>1 block</c>, <c>0 blocks</c>, <c>12 failed writes</c>.</summary>
    public static string Of(long count, string noun) =>
        string.Create(CultureInfo.InvariantCulture, $"{count} {(count == 1 ? noun : noun + "s")}");
}

// HeapEventKindMask: sets of event kinds as bits (1 << kind), so that "does anyone want this
// kind?" is one AND: the pipeline computes its mask once from its sinks' levels and kind filters,
// and the tracker tests it before it builds an event.
using System.Runtime.CompilerServices;

namespace MemTrace.Diagnostics;

internal static class HeapEventKindMask
{
    /// <summary>Every kind.</summary>
    public const int All = (1 << ((int)HeapEventKind.Snapshot + 1)) - 1;

    /// <summary>The kinds a tracker emits as operations happen (a periodic snapshot is checked for on each of them).</summary>
    public const int Operations = (1 << (int)HeapEventKind.Allocation) | (1 << (int)HeapEventKind.Free) | (1 << (int)HeapEventKind.Reallocation)
        | (1 << (int)HeapEventKind.FailedAllocation) | (1 << (int)HeapEventKind.MemoryError);

    /// <summary>The bit of one kind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Of(HeapEventKind kind) => 1 << (int)kind;

    /// <summary>Whether <paramref name="mask"/> holds <paramref name="kind"/> (false for a value outside the enum).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Has(int mask, HeapEventKind kind) => (uint)kind <= (uint)HeapEventKind.Snapshot && (mask & (1 << (int)kind)) != 0;

    /// <summary>The kinds whose level is at least <paramref name="level"/>.</summary>
    public static int AtOrAbove(HeapEventLevel level)
    {
        var mask = 0;
        for (var kind = HeapEventKind.Allocation; kind <= HeapEventKind.Snapshot; kind++)
        {
            if (kind.GetLevel() >= level)
            {
                mask |= Of(kind);
            }
        }

        return mask;
    }
}

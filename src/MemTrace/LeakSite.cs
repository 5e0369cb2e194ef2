// LeakSite: the blocks of a leak report that one source line allocated, as LeakSanitizer groups
// leaks by allocation stack and Unity's leak detector by call site.
namespace MemTrace;

/// <summary>The leaked blocks of one call site in a <see cref="LeakReport"/>.</summary>
public sealed class LeakSite
{
    internal LeakSite(CallSite site, IReadOnlyList<AllocationRecord> allocations)
    {
        Site = site;
        Allocations = allocations;
        long bytes = 0;
        var requests = new long[allocations.Count];
        var variables = new List<string>();
        for (var i = 0; i < allocations.Count; i++)
        {
            var record = allocations[i];
            bytes += (long)record.Size;
            requests[i] = record.RequestNumber;
            if (record.VariableName is { } variable && !variables.Contains(variable))
            {
                variables.Add(variable);
            }
        }

        Bytes = bytes;
        RequestNumbers = requests;
        VariableNames = variables;
    }

    /// <summary>
    /// Where the blocks were allocated: file, line, member and the method of the first block; no
    /// variable (see <see cref="VariableNames"/>). For blocks allocated on the <see cref="HeapCaps"/>
    /// directly, only the method (<see cref="CallSite.IsKnown"/> is false).
    /// </summary>
    public CallSite Site { get; }

    /// <summary>How many blocks leaked here.</summary>
    public int Blocks => Allocations.Count;

    /// <summary>Requested bytes of those blocks.</summary>
    public long Bytes { get; }

    /// <summary>The blocks' request numbers, in the order of <see cref="Allocations"/>.</summary>
    public IReadOnlyList<long> RequestNumbers { get; }

    /// <summary>Every variable name the site's blocks were allocated into, in order of first appearance.</summary>
    public IReadOnlyList<string> VariableNames { get; }

    /// <summary>The blocks, by request number.</summary>
    public IReadOnlyList<AllocationRecord> Allocations { get; }
}

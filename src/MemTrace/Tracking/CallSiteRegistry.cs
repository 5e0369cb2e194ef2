// CallSiteRegistry: interns call sites (method, file, line, member, variable) into 32-bit ids,
// so that a tracked record stores 4 bytes instead of four references.
//
// The strings come from [CallerFilePath], [CallerMemberName] and [CallerArgumentExpression]:
// compile-time literals, so the same call site passes the same string objects every time. A
// small direct-mapped cache per thread compares references and the line, and costs a few
// nanoseconds; a miss goes to a locked dictionary that compares by value (so strings built at
// run time work too, only slower). Sites are never removed: there are as many as there are
// calls in the source, unless the caller passes strings built at run time, which the two caps
// below bound. Variable names are normalised once per site ("out var p" -> "p").
using System.Runtime.CompilerServices;

namespace MemTrace.Tracking;

internal static class CallSiteRegistry
{
    /// <summary>
    /// The most distinct sites kept (about 150 MB of strings and tables); more, only possible with run-time strings for
    /// the file or function, share one overflow site.
    /// </summary>
    public const int MaxSites = 1 << 20;

    /// <summary>
    /// Once this many sites are kept (about 10 MB), a new site keeps its file, line and function but not its variable name:
    /// a variable argument built at run time (an index in the name) would otherwise add a site per block, for the life
    /// of the process.
    /// </summary>
    public const int MaxNamedSites = 1 << 16;

    private const int CacheBits = 8;

    [ThreadStatic]
    private static CacheEntry[]? t_cache;

    private static readonly Lock s_lock = new();
    private static readonly Dictionary<CallSite, uint> s_ids = [];
    private static CallSite[] s_sites = new CallSite[256];
    private static uint s_count;
    private static readonly uint s_overflowId;

    static CallSiteRegistry()
    {
        // Id 0 is "no site"; ids 1..N of every method are the sites "no source location, via method N".
        s_count = 1;
        foreach (var method in Enum.GetValues<AllocationMethod>())
        {
            Add(new CallSite(method, null, 0, null, null));
        }

        s_overflowId = Add(new CallSite(AllocationMethod.Unknown, "(too many distinct call sites)", 0, null, null));
    }

    /// <summary>The id of the site with no source location for <paramref name="method"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Unlocated(AllocationMethod method) => 1u + (uint)method;

    /// <summary>The id of a site; the same site always gets the same id.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GetId(AllocationMethod method, string? file, int line, string? function, string? variable)
    {
        var cache = t_cache;
        if (cache is not null)
        {
            ref var entry = ref cache[Slot(method, file, line)];
            if (entry.Id != 0 && entry.Line == line && entry.Method == method
                && ReferenceEquals(entry.File, file) && ReferenceEquals(entry.Function, function) && ReferenceEquals(entry.Variable, variable))
            {
                return entry.Id;
            }
        }

        return GetIdSlow(method, file, line, function, variable);
    }

    /// <summary>The site of an id (0 gives an empty site).</summary>
    public static CallSite Get(uint id)
    {
        var sites = Volatile.Read(ref s_sites);
        return id < (uint)sites.Length ? sites[id] : default;
    }

    /// <summary>
    /// "buffer" from "out buffer", "out byte* buffer", "out var buffer", "ref buffer", "&amp;buffer". An argument written
    /// over several lines ("out\n    buffer") reads as one: every run of white space becomes one space, so a listing's
    /// variable column never breaks a line.
    /// </summary>
    internal static string? NormaliseVariable(string? expression)
    {
        if (string.IsNullOrWhiteSpace(expression))
        {
            return null;
        }

        var text = CollapseWhiteSpace(expression);
        foreach (var prefix in (ReadOnlySpan<string>)["out ", "ref ", "in "])
        {
            if (text.StartsWith(prefix, StringComparison.Ordinal))
            {
                text = text[prefix.Length..].TrimStart();
            }
        }

        // A declaration expression ("byte* buffer", "var buffer") names the variable last.
        var space = text.LastIndexOfAny([' ', '\t', '*']);
        if (space >= 0 && IsIdentifier(text.AsSpan(space + 1)) && !text.Contains('(', StringComparison.Ordinal))
        {
            text = text[(space + 1)..];
        }

        return text.TrimStart('&');
    }

    /// <summary>The text with every run of white space (line breaks, tabs, indentation) replaced by one space, trimmed.</summary>
    private static string CollapseWhiteSpace(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slot(AllocationMethod method, string? file, int line) =>
        (int)((((uint)line ^ ((uint)method << 20) ^ ((uint)(file?.Length ?? 0) << 24)) * 0x9E3779B1u) >> (32 - CacheBits));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint GetIdSlow(AllocationMethod method, string? file, int line, string? function, string? variable)
    {
        var site = new CallSite(method, file, line, function, NormaliseVariable(variable));
        uint id;
        lock (s_lock)
        {
            if (!s_ids.TryGetValue(site, out id))
            {
                if (site.VariableName is not null && s_count >= MaxNamedSites)
                {
                    site = site with { VariableName = null };
                }

                if (!s_ids.TryGetValue(site, out id))
                {
                    id = s_count >= MaxSites ? s_overflowId : Add(site);
                }
            }
        }

        var cache = t_cache ??= new CacheEntry[1 << CacheBits];
        cache[Slot(method, file, line)] = new CacheEntry(file, function, variable, line, method, id);
        return id;
    }

    /// <summary>Adds a site; the caller holds the lock (or is the static constructor).</summary>
    private static uint Add(CallSite site)
    {
        var id = s_count;
        var sites = s_sites;
        if (id >= sites.Length)
        {
            var grown = new CallSite[sites.Length * 2];
            sites.CopyTo(grown, 0);
            sites = grown;
        }

        sites[id] = site;
        Volatile.Write(ref s_sites, sites);
        s_ids[site] = id;
        s_count = id + 1;
        return id;
    }

    private static bool IsIdentifier(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty || !(char.IsLetter(text[0]) || text[0] == '_' || text[0] == '@'))
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!(char.IsLetterOrDigit(c) || c == '_' || c == '@'))
            {
                return false;
            }
        }

        return true;
    }

    private readonly record struct CacheEntry(string? File, string? Function, string? Variable, int Line, AllocationMethod Method, uint Id);
}

// RegionNameRegistry: interns region names into small ids, so that a heap event names its region
// with 4 bytes instead of a reference. Process-wide and append-only, as the CallSiteRegistry is:
// a region takes the id of its name when it is created (a dictionary look-up, off the hot path),
// and every event then copies that int. Names are few (one per distinct region name a program
// creates); past MaxNames, which only a program that invents region names without end reaches,
// new names share one overflow id. Events built by user code or read from a trace keep their
// names in HeapEventDetails and never come here.
namespace MemTrace.Diagnostics;

internal static class RegionNameRegistry
{
    /// <summary>The most distinct names kept; more share <see cref="OverflowName"/>.</summary>
    public const int MaxNames = 1 << 16;

    /// <summary>The name of the id that names beyond <see cref="MaxNames"/> share.</summary>
    public const string OverflowName = "(too many region names)";

    private static readonly Lock s_lock = new();
    private static readonly Dictionary<string, int> s_ids = new(StringComparer.Ordinal);
    private static string?[] s_names = new string?[16];
    private static int s_count = 1; // Id 0 is "no region".
    private static int s_overflowId;

    /// <summary>The id of <paramref name="name"/>; the same name always gets the same id; 0 for null.</summary>
    public static int IdOf(string? name)
    {
        if (name is null)
        {
            return 0;
        }

        lock (s_lock)
        {
            if (s_ids.TryGetValue(name, out var id))
            {
                return id;
            }

            if (s_count >= MaxNames)
            {
                return s_overflowId != 0 ? s_overflowId : s_overflowId = Add(OverflowName);
            }

            return Add(name);
        }
    }

    /// <summary>Whether <paramref name="name"/> has an id (a look-up that adds nothing).</summary>
    public static bool IsKnown(string name)
    {
        lock (s_lock)
        {
            return s_ids.ContainsKey(name);
        }
    }

    /// <summary>The name of an id; null for 0 or an id never handed out.</summary>
    public static string? Get(int id)
    {
        var names = Volatile.Read(ref s_names);
        return (uint)id < (uint)names.Length ? names[id] : null;
    }

    /// <summary>Adds a name; the caller holds the lock.</summary>
    private static int Add(string name)
    {
        var id = s_count;
        var names = s_names;
        if (id >= names.Length)
        {
            var grown = new string?[names.Length * 2];
            names.CopyTo(grown, 0);
            names = grown;
        }

        names[id] = name;
        Volatile.Write(ref s_names, names);
        s_ids[name] = id;
        s_count = id + 1;
        return id;
    }
}

// TracePathRegistry: the trace files this process's TraceFileWriters have open, so that a second
// writer on the same file is refused before it truncates the first one's trace. Two writers on one
// file interleave their lines from two different sequence-number spaces (and the second's
// FileMode.Create cuts the first one's lines away), which no reader can make sense of.
//
// In-process only: another process opening the same file is not seen here (on Windows the sharing
// mode refuses it; Unix has no mandatory locks). Paths are compared as full paths, exactly on Linux,
// ignoring case on Windows and macOS, whose usual file systems do; two names of one file through a
// link are not recognised.
namespace MemTrace.Diagnostics;

internal static class TracePathRegistry
{
    private static readonly HashSet<string> s_open = new(OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);

    /// <summary>Records <paramref name="fullPath"/> as written by a writer; false when another writer of this process has it.</summary>
    public static bool TryAcquire(string fullPath)
    {
        lock (s_open)
        {
            return s_open.Add(fullPath);
        }
    }

    /// <summary>Lets another writer open <paramref name="fullPath"/>.</summary>
    public static void Release(string fullPath)
    {
        lock (s_open)
        {
            s_open.Remove(fullPath);
        }
    }
}

// C strings in and out of the native library. Call sites come as const char* (__FILE__, __func__, #var):
// the same pointer is turned into the same string instance each time, so that the tracker's call-site
// cache (which compares references) hits, and no string is allocated per call. A pointer whose text
// changed since (a reused buffer) gets a new string.
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace MemTrace.Native;

internal static unsafe class NativeStrings
{
    /// <summary>Pointers remembered at most; past it, strings are made per call (correct, slower).</summary>
    internal const int MaxCached = 4096;

    private static readonly ConcurrentDictionary<nint, Entry> s_fromNative = new();
    private static readonly ConcurrentDictionary<string, nint> s_toNative = new(StringComparer.Ordinal);

    /// <summary>The text of a NUL-terminated UTF-8 string, or null for a null pointer.</summary>
    public static string? FromUtf8(byte* text)
    {
        if (text is null)
        {
            return null;
        }

        var bytes = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text);
        if (s_fromNative.TryGetValue((nint)text, out var entry) && bytes.SequenceEqual(entry.Bytes))
        {
            return entry.Value;
        }

        var value = Encoding.UTF8.GetString(bytes);
        if (s_fromNative.Count < MaxCached)
        {
            s_fromNative[(nint)text] = new Entry(value, bytes.ToArray());
        }

        return value;
    }

    /// <summary>
    /// A NUL-terminated UTF-8 copy of <paramref name="text"/> that lives as long as the process: for the few
    /// fixed strings handed to C (the function names a failed-allocation callback receives).
    /// </summary>
    public static byte* ToUtf8(string text) =>
        (byte*)s_toNative.GetOrAdd(text, static t => (nint)System.Runtime.InteropServices.Marshalling.Utf8StringMarshaller.ConvertToUnmanaged(t));

    private sealed record Entry(string Value, byte[] Bytes);
}

// StringPool: interns the strings a trace reader decodes (file paths, function and region names
// repeat on every line), so that reading a large trace keeps one copy of each instead of one per
// line. Bounded: past its limit it hands out fresh strings and keeps nothing more.
namespace MemTrace.Diagnostics.Sinks;

internal sealed class StringPool(int limit = 65536)
{
    private readonly HashSet<string> _set = [];
    private readonly int _limit = limit;

    public string Get(ReadOnlySpan<char> chars)
    {
        var lookup = _set.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(chars, out var found))
        {
            return found;
        }

        var text = new string(chars);
        if (_set.Count < _limit)
        {
            _set.Add(text);
        }

        return text;
    }
}

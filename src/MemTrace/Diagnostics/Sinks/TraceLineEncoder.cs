// TraceLineEncoder: turns heap events into JSON Lines, on the trace writer's thread.
//
// Hand-written UTF-8 rather than Utf8JsonWriter because it is the writer's whole cost: every
// string that repeats (call sites, region names, caps) is escaped once and cached as bytes —
// a call site's whole {"method":…,"file":…} object is one copy — numbers go through
// Utf8Formatter, and the timestamp is formatted once per millisecond. A tracker's events carry
// call sites and regions as interned ids, so their cached bytes are found by indexing an array
// with the id (no hashing, no string compare). Events built by user code carry the values
// themselves: those caches compare strings by reference (call-site strings are the compiler's
// literals) and are cleared when they grow past a bound, so memory stays bounded whatever the
// program passes. Strings that do not repeat (labels, notes, messages) are escaped each time.
using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using MemTrace.Tracking;

namespace MemTrace.Diagnostics.Sinks;

internal sealed class TraceLineEncoder
{
    private const int MaxCacheEntries = 4096;

    /// <summary>Ids below this have their bytes cached in an array; higher ones (a program with more call sites) are encoded each time.</summary>
    private const int MaxCachedIds = 1 << 16;

    private readonly Dictionary<SiteKey, byte[]> _sites = new(SiteKeyComparer.Instance);
    private readonly Dictionary<string, byte[]> _strings = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<uint, byte[]> _caps = [];
    private byte[]?[] _sitesById = new byte[]?[256];
    private byte[]?[] _regionsById = new byte[]?[16];
    private byte[] _buffer;
    private int _length;
    private long _timeKey = long.MinValue;
    private byte[] _time = [];

    public TraceLineEncoder(int initialCapacity = 64 * 1024) => _buffer = new byte[initialCapacity];

    /// <summary>Bytes encoded since the last <see cref="Clear"/>.</summary>
    public int Length => _length;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public void Clear() => _length = 0;

    /// <summary>Takes back what was encoded after <paramref name="length"/> bytes (a line that could not be finished).</summary>
    public void Truncate(int length) => _length = Math.Min(_length, length);

    public void AppendEvent(in HeapEvent e)
    {
        ref readonly var data = ref HeapEvent.DataOf(in e);
        if ((uint)data.Kind <= (uint)HeapEventKind.FailedAllocation)
        {
            if (e.Details is null)
            {
                AppendOperation(in data);
                return;
            }

            // Built by hand or read from a trace: the same fields, with the region and sites as values.
            OperationFields(in data);
            if (data.Kind != HeapEventKind.FailedAllocation)
            {
                Region(e.RegionName);
            }

            Sites(e);
            Raw("}\n"u8);
            return;
        }

        Raw("{\"kind\":\""u8);
        Raw(KindName(e.Kind));
        Raw("\",\"seq\":"u8);
        Number(e.Sequence);
        Raw(",\"time\":"u8);
        Time(data.UtcTicks);
        Raw(",\"thread\":"u8);
        Number(e.ThreadId);
        switch (e.Kind)
        {
            case HeapEventKind.MemoryError:
                Raw(",\"addr\":"u8);
                Hex(e.Address);
                Raw(",\"size\":"u8);
                Number(e.Size);
                if (e.RequestNumber != 0)
                {
                    Raw(",\"req\":"u8);
                    Number(e.RequestNumber);
                }

                Region(e.RegionName);
                Sites(e);
                if (e.Error is { } error)
                {
                    Error(error);
                }

                break;
            default:
                if (e.Label is not null)
                {
                    Raw(",\"label\":"u8);
                    String(e.Label);
                }

                Raw(",\"live\":"u8);
                Number(e.LiveBlocks);
                Raw(",\"liveBytes\":"u8);
                Number(e.LiveBytes);
                if (e.Regions is { } regions)
                {
                    Regions(regions);
                }

                break;
        }

        Raw("}\n"u8);
    }

    /// <summary>An allocation, free, realloc or failure as a tracker emits it: sites and region as ids.</summary>
    private void AppendOperation(in HeapEventData e)
    {
        OperationFields(in e);
        if (e.Region != 0 && e.Kind != HeapEventKind.FailedAllocation)
        {
            Raw(",\"region\":"u8);
            RegionById(e.Region);
        }

        Raw(",\"site\":"u8);
        SiteById(e.Site);
        if (e.AllocSite != 0)
        {
            Raw(",\"allocSite\":"u8);
            SiteById(e.AllocSite);
        }

        Raw("}\n"u8);
    }

    /// <summary>The fields of an allocation, free, realloc or failure up to the region and sites, one format for both kinds of event.</summary>
    private void OperationFields(in HeapEventData e)
    {
        var kind = e.Kind;
        Raw("{\"kind\":\""u8);
        Raw(KindName(kind));
        Raw("\",\"seq\":"u8);
        Number(e.Sequence);
        Raw(",\"time\":"u8);
        Time(e.UtcTicks);
        Raw(",\"thread\":"u8);
        Number(e.ThreadId);
        if (kind != HeapEventKind.FailedAllocation)
        {
            Raw(",\"addr\":"u8);
            Hex(e.Address);
        }

        Raw(",\"size\":"u8);
        Number(e.Size);
        if (kind == HeapEventKind.Reallocation)
        {
            Raw(",\"prevAddr\":"u8);
            Hex(e.PreviousAddress);
            Raw(",\"prevSize\":"u8);
            Number(e.PreviousSize);
        }

        Raw(",\"caps\":"u8);
        Caps((MallocCaps)e.Caps);
        Raw(",\"req\":"u8);
        Number(e.RequestNumber);
    }

    public void AppendHeader(DateTimeOffset time, int processId, string? processName)
    {
        Raw("{\"kind\":\"header\",\"format\":\""u8);
        Raw(Encoding.UTF8.GetBytes(TraceFormat.FormatName));
        Raw("\",\"version\":"u8);
        Number(TraceFormat.Version);
        Raw(",\"time\":"u8);
        Time(time.UtcTicks);
        Raw(",\"pid\":"u8);
        Number(processId);
        if (processName is not null)
        {
            Raw(",\"process\":"u8);
            String(processName);
        }

        Raw("}\n"u8);
    }

    public void AppendDropped(long count, string reason, DateTimeOffset time)
    {
        Raw("{\"kind\":\"dropped\",\"count\":"u8);
        Number(count);
        Raw(",\"reason\":"u8);
        String(reason);
        Raw(",\"time\":"u8);
        Time(time.UtcTicks);
        Raw("}\n"u8);
    }

    public void AppendEnd(long events, long dropped, DateTimeOffset time)
    {
        Raw("{\"kind\":\"end\",\"time\":"u8);
        Time(time.UtcTicks);
        Raw(",\"events\":"u8);
        Number(events);
        Raw(",\"dropped\":"u8);
        Number(dropped);
        Raw("}\n"u8);
    }

    private static ReadOnlySpan<byte> KindName(HeapEventKind kind) => kind switch
    {
        HeapEventKind.Allocation => "alloc"u8,
        HeapEventKind.Free => "free"u8,
        HeapEventKind.Reallocation => "realloc"u8,
        HeapEventKind.FailedAllocation => "failed"u8,
        HeapEventKind.MemoryError => "error"u8,
        HeapEventKind.Checkpoint => "checkpoint"u8,
        HeapEventKind.Snapshot => "snapshot"u8,
        _ => "unknown"u8,
    };

    private void Sites(in HeapEvent e)
    {
        Raw(",\"site\":"u8);
        Site(e.Site);
        if (e.AllocatedAt is { } allocatedAt)
        {
            Raw(",\"allocSite\":"u8);
            Site(allocatedAt);
        }
    }

    private void Region(string? name)
    {
        if (name is null)
        {
            return;
        }

        Raw(",\"region\":"u8);
        CachedString(name);
    }

    private void Error(MemoryError error)
    {
        Raw(",\"error\":{\"type\":"u8);
        String(error.Kind.ToString());
        Raw(",\"op\":"u8);
        CachedString(error.Operation.ToCName());
        Raw(",\"message\":"u8);
        String(error.Message);
        if (error.BlockAddress is { } blockAddress)
        {
            Raw(",\"blockAddr\":"u8);
            Hex(blockAddress);
        }

        if (error.BlockSize is { } blockSize)
        {
            Raw(",\"blockSize\":"u8);
            Number(blockSize);
        }

        if (error.FreedAt is { } freedAt)
        {
            Raw(",\"freedAt\":"u8);
            Site(freedAt);
        }

        if (error.FreedByThreadId is { } freedBy)
        {
            Raw(",\"freedThread\":"u8);
            Number(freedBy);
        }

        if (error.Note is { } note)
        {
            Raw(",\"note\":"u8);
            String(note);
        }

        Raw("}"u8);
    }

    private void Regions(IReadOnlyList<RegionSnapshot> regions)
    {
        Raw(",\"regions\":["u8);
        for (var i = 0; i < regions.Count; i++)
        {
            var region = regions[i];
            Raw(i == 0 ? "{\"name\":"u8 : ",{\"name\":"u8);
            CachedString(region.Name);
            Raw(",\"caps\":"u8);
            Caps(region.Caps);
            if (region.IsUnbounded)
            {
                Raw(",\"unbounded\":true}"u8);
                continue;
            }

            Raw(",\"total\":"u8);
            Number(region.TotalSize);
            Raw(",\"free\":"u8);
            Number(region.FreeBytes);
            Raw(",\"largest\":"u8);
            Number(region.LargestFreeBlock);
            Raw(",\"minFree\":"u8);
            Number(region.MinimumFreeBytes);
            Raw("}"u8);
        }

        Raw("]"u8);
    }

    private void SiteById(uint id)
    {
        if (id >= MaxCachedIds)
        {
            Site(CallSiteRegistry.Get(id));
            return;
        }

        var cache = _sitesById;
        if (id >= (uint)cache.Length)
        {
            Array.Resize(ref _sitesById, (int)Math.Min(MaxCachedIds, System.Numerics.BitOperations.RoundUpToPowerOf2(id + 1)));
            cache = _sitesById;
        }

        Raw(cache[id] ??= EncodeSite(CallSiteRegistry.Get(id)));
    }

    private void RegionById(int id)
    {
        if ((uint)id >= MaxCachedIds)
        {
            CachedString(RegionNameRegistry.Get(id) ?? string.Empty);
            return;
        }

        var cache = _regionsById;
        if (id >= cache.Length)
        {
            Array.Resize(ref _regionsById, (int)Math.Min(MaxCachedIds, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)id + 1)));
            cache = _regionsById;
        }

        Raw(cache[id] ??= Encoding.UTF8.GetBytes(Quote(RegionNameRegistry.Get(id) ?? string.Empty)));
    }

    private void Site(CallSite site)
    {
        var key = new SiteKey(site);
        if (!_sites.TryGetValue(key, out var bytes))
        {
            bytes = EncodeSite(site);
            if (_sites.Count >= MaxCacheEntries)
            {
                _sites.Clear();
            }

            _sites[key] = bytes;
        }

        Raw(bytes);
    }

    private static byte[] EncodeSite(CallSite site)
    {
        var text = new StringBuilder(128);
        text.Append("{\"method\":\"").Append(site.Method.ToCName()).Append('"');
        if (site.File is not null)
        {
            text.Append(",\"file\":").Append(Quote(site.File));
        }

        if (site.File is not null || site.Line != 0)
        {
            text.Append(",\"line\":").Append(site.Line.ToString(CultureInfo.InvariantCulture));
        }

        if (site.Function is not null)
        {
            text.Append(",\"func\":").Append(Quote(site.Function));
        }

        if (site.VariableName is not null)
        {
            text.Append(",\"var\":").Append(Quote(site.VariableName));
        }

        text.Append('}');
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static string Quote(string value) => "\"" + JsonEncodedText.Encode(WellFormed(value), JavaScriptEncoder.UnsafeRelaxedJsonEscaping).Value + "\"";

    /// <summary>
    /// <paramref name="value"/> with each lone UTF-16 surrogate (a string cut in the middle of an emoji, say) replaced by
    /// U+FFFD, which JSON can carry: the UTF-8 encoder's own replacement, and only for a string with a surrogate in it
    /// (the usual string is returned as it is after one scan).
    /// </summary>
    internal static string WellFormed(string value) =>
        value.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0 ? value : Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(value));

    private void CachedString(string value)
    {
        if (!_strings.TryGetValue(value, out var bytes))
        {
            bytes = Encoding.UTF8.GetBytes(Quote(value));
            if (_strings.Count >= MaxCacheEntries)
            {
                _strings.Clear();
            }

            _strings[value] = bytes;
        }

        Raw(bytes);
    }

    private void Caps(MallocCaps caps)
    {
        if (!_caps.TryGetValue((uint)caps, out var bytes))
        {
            bytes = Encoding.UTF8.GetBytes(Quote(caps.ToCapsString()));
            if (_caps.Count >= MaxCacheEntries)
            {
                _caps.Clear();
            }

            _caps[(uint)caps] = bytes;
        }

        Raw(bytes);
    }

    private void String(string value)
    {
        // Plain ASCII with nothing to escape is copied as it is; anything else goes through the encoder.
        foreach (var c in value)
        {
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            {
                Raw(Encoding.UTF8.GetBytes(Quote(value)));
                return;
            }
        }

        Ensure(value.Length + 2);
        _buffer[_length++] = (byte)'"';
        _length += Encoding.ASCII.GetBytes(value, _buffer.AsSpan(_length));
        _buffer[_length++] = (byte)'"';
    }

    private void Time(long utcTicks)
    {
        var key = utcTicks / TimeSpan.TicksPerMillisecond;
        if (key != _timeKey)
        {
            Span<byte> text = stackalloc byte[40];
            text[0] = (byte)'"';
            new DateTime(key * TimeSpan.TicksPerMillisecond, DateTimeKind.Utc).TryFormat(text[1..], out var written, TraceFormat.TimeFormat, CultureInfo.InvariantCulture);
            text[written + 1] = (byte)'"';
            _time = text[..(written + 2)].ToArray();
            _timeKey = key;
        }

        Raw(_time);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Number(long value)
    {
        Ensure(20);
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_length), out var written);
        _length += written;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Number(nuint value)
    {
        Ensure(20);
        Utf8Formatter.TryFormat((ulong)value, _buffer.AsSpan(_length), out var written);
        _length += written;
    }

    private void Hex(nuint value)
    {
        Ensure(20);
        _buffer[_length++] = (byte)'"';
        _buffer[_length++] = (byte)'0';
        _buffer[_length++] = (byte)'x';
        Utf8Formatter.TryFormat((ulong)value, _buffer.AsSpan(_length), out var written, new System.Buffers.StandardFormat('x'));
        _length += written;
        _buffer[_length++] = (byte)'"';
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Raw(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Ensure(int count)
    {
        if (_length + count > _buffer.Length)
        {
            Grow(count);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int count) => Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));

    /// <summary>A call site compared by the identity of its strings, as the registry hands them out.</summary>
    private readonly record struct SiteKey(CallSite Site);

    private sealed class SiteKeyComparer : IEqualityComparer<SiteKey>
    {
        public static readonly SiteKeyComparer Instance = new();

        public bool Equals(SiteKey x, SiteKey y) =>
            x.Site.Line == y.Site.Line && x.Site.Method == y.Site.Method
            && ReferenceEquals(x.Site.File, y.Site.File) && ReferenceEquals(x.Site.Function, y.Site.Function)
            && ReferenceEquals(x.Site.VariableName, y.Site.VariableName);

        public int GetHashCode(SiteKey key) => HashCode.Combine(
            key.Site.Line,
            (int)key.Site.Method,
            RuntimeHelpers.GetHashCode(key.Site.File),
            RuntimeHelpers.GetHashCode(key.Site.Function),
            RuntimeHelpers.GetHashCode(key.Site.VariableName));
    }
}

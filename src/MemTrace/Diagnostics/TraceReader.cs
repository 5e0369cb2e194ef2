// TraceReader: reads a JSON Lines trace back into HeapEvents, streaming, in bounded memory, and
// without failing on bad input.
//
// Lines are split in a buffer that grows only up to MaxLineBytes; a longer line is skipped and
// reported. Each line is parsed on its own with Utf8JsonReader, so one corrupt line costs only
// that line: it is reported with its number and kind (not JSON, not an object, no kind, unknown
// kind, missing or invalid field) and reading goes on. A last line with no newline that does not
// parse is the torn tail of a killed writer, reported as such. Repeated strings are interned,
// and nothing else is kept from line to line, so a 1 GB trace is read in the memory of its
// longest line plus the distinct strings it names.
using System.Buffers.Text;
using System.Text.Json;
using MemTrace.Diagnostics.Sinks;
using MemTrace.Internals;

namespace MemTrace.Diagnostics;

/// <summary>Reads a MemTrace JSON Lines trace (see <see cref="TraceFormat"/>) as a stream of <see cref="HeapEvent"/>s.</summary>
/// <remarks>
/// Problems are reported, never thrown: see <see cref="Problems"/>. Events read back carry what the file
/// holds: a memory error's <see cref="MemoryError.Block"/> is not restored (its site is in <see cref="HeapEvent.AllocatedAt"/>).
/// Not thread-safe.
/// </remarks>
public sealed class TraceReader : IDisposable
{
    /// <summary>The largest block size an allocation, realloc or free event may carry: half the address space.</summary>
    private const ulong MaxBlockSize = long.MaxValue;

    private static readonly Dictionary<string, AllocationMethod> s_methods = Enum.GetValues<AllocationMethod>().ToDictionary(m => m.ToCName(), m => m);

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly TraceReaderOptions _options;
    private readonly int _maxLineBytes;
    private readonly List<TraceProblem> _problems = [];
    private readonly StringPool _strings = new();
    private readonly Dictionary<string, MallocCaps> _caps = [];
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _endOfStream;
    private bool _skippingLongLine;
    private bool _sawLine;
    private bool _reportedAfterEnd;
    private bool _reportedEmpty;
    private string? _fieldError;

    /// <summary>Reads from <paramref name="stream"/>.</summary>
    /// <param name="stream">A readable stream, read from its current position.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <param name="leaveOpen">Whether <see cref="Dispose"/> leaves the stream open.</param>
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="stream"/> is not readable.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    public TraceReader(Stream stream, TraceReaderOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException("The stream is not readable.", nameof(stream));
        }

        options ??= new TraceReaderOptions();
        if (options.MaxLineBytes < 256)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxLineBytes, $"TraceReaderOptions.MaxLineBytes must be at least 256, not {options.MaxLineBytes}.");
        }

        if (options.MaxProblemsKept < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxProblemsKept, $"TraceReaderOptions.MaxProblemsKept must not be negative, not {options.MaxProblemsKept}.");
        }

        _stream = stream;
        _leaveOpen = leaveOpen;
        _options = options;
        _maxLineBytes = Math.Min(options.MaxLineBytes, Array.MaxLength - 1); // The buffer holds the line and one byte more.
        Length = stream.CanSeek ? stream.Length - stream.Position : null;
    }

    /// <summary>Total bytes to read when the stream can tell, for progress displays.</summary>
    public long? Length { get; }

    /// <summary>Bytes consumed so far (whole lines).</summary>
    public long Position { get; private set; }

    /// <summary>The number of the line read last (1-based).</summary>
    public long LineNumber { get; private set; }

    /// <summary>The header line, once read; null when the trace has none.</summary>
    public TraceHeader? Header { get; private set; }

    /// <summary>Events returned so far.</summary>
    public long EventCount { get; private set; }

    /// <summary>Lines skipped because they could not be read (not counting a torn last line).</summary>
    public long BadLineCount { get; private set; }

    /// <summary>Events the writer reported as dropped, in <c>dropped</c> lines (summed up to <see cref="long.MaxValue"/>; a negative count is an invalid line).</summary>
    public long DroppedEvents { get; private set; }

    /// <summary>True once the <c>end</c> line of a writer that closed normally has been read; false for a trace whose writer was killed.</summary>
    public bool HasEnd { get; private set; }

    /// <summary>True when the last line was torn (see <see cref="TraceProblemKind.TornLastLine"/>).</summary>
    public bool TornLastLine { get; private set; }

    /// <summary>The problems found so far, the first <see cref="TraceReaderOptions.MaxProblemsKept"/> of them.</summary>
    public IReadOnlyList<TraceProblem> Problems => _problems;

    /// <summary>All problems found so far, kept or not.</summary>
    public long ProblemCount { get; private set; }

    /// <summary>Opens a trace file for reading.</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="DirectoryNotFoundException">Its directory does not exist.</exception>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be opened.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    public static TraceReader Open(string path, TraceReaderOptions? options = null)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1, FileOptions.SequentialScan);
        try
        {
            return new TraceReader(stream, options);
        }
        catch
        {
            stream.Dispose(); // Bad options: the file must not stay open.
            throw;
        }
    }

    /// <summary>Reads the next event, skipping (and reporting) lines that cannot be read.</summary>
    /// <param name="heapEvent">The event; default at the end.</param>
    /// <returns>False at the end of the trace.</returns>
    /// <exception cref="IOException">The stream failed.</exception>
    public bool Read(out HeapEvent heapEvent)
    {
        while (NextLine(out var line, out var terminated))
        {
            if (TryParse(line, terminated, out heapEvent))
            {
                EventCount++;
                return true;
            }
        }

        if (!_sawLine && !_reportedEmpty)
        {
            _reportedEmpty = true;
            Report(0, TraceProblemKind.EmptyTrace, LineNumber == 0
                ? "the trace is empty: it holds no lines"
                : $"the trace is empty: its {LineNumber} lines are all blank or too long");
        }

        heapEvent = default;
        return false;
    }

    /// <summary>Reads every remaining event.</summary>
    /// <returns>The events, lazily.</returns>
    public IEnumerable<HeapEvent> ReadAll()
    {
        while (Read(out var heapEvent))
        {
            yield return heapEvent;
        }
    }

    /// <summary>Closes the stream unless the reader was told to leave it open.</summary>
    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }

    // ---- Lines ----

    private bool NextLine(out ReadOnlySpan<byte> line, out bool terminated)
    {
        while (true)
        {
            var pending = _buffer.AsSpan(_start, _end - _start);
            var newline = pending.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                line = pending[..newline];
                _start += newline + 1;
                Position += newline + 1;
                if (_skippingLongLine)
                {
                    _skippingLongLine = false;
                    continue;
                }

                LineNumber++;
                if (newline > _maxLineBytes)
                {
                    BadLineCount++;
                    Report(LineNumber, TraceProblemKind.LineTooLong, $"line longer than {_maxLineBytes} bytes; line skipped");
                    continue;
                }

                terminated = true;
                return true;
            }

            if (_endOfStream)
            {
                line = pending;
                _start = _end;
                Position += pending.Length;
                terminated = false;
                if (pending.IsEmpty || _skippingLongLine)
                {
                    return false;
                }

                LineNumber++;
                return true;
            }

            if (pending.Length > _maxLineBytes)
            {
                if (!_skippingLongLine)
                {
                    LineNumber++;
                    BadLineCount++;
                    Report(LineNumber, TraceProblemKind.LineTooLong, $"line longer than {_maxLineBytes} bytes; line skipped");
                    _skippingLongLine = true;
                }

                Position += pending.Length;
                _start = _end = 0;
            }

            Fill();
        }
    }

    private void Fill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, (int)Math.Min(_buffer.Length * 2L, _maxLineBytes + 1L));
        }

        var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            _endOfStream = true;
        }

        _end += read;
    }

    // ---- Parsing ----

    private bool TryParse(ReadOnlySpan<byte> line, bool terminated, out HeapEvent heapEvent)
    {
        heapEvent = default;
        if (LineNumber == 1 && line.StartsWith("\uFEFF"u8))
        {
            line = line[3..]; // A UTF-8 byte order mark, as editors on Windows write: not part of the header.
        }

        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        if (line.Trim(" \t"u8).IsEmpty)
        {
            return false;
        }

        _sawLine = true;
        if (HasEnd && !_reportedAfterEnd)
        {
            // A writer writes nothing after its end line: two traces joined (cat a b), or a file written again in place.
            _reportedAfterEnd = true;
            Report(LineNumber, TraceProblemKind.LinesAfterEnd, "lines follow the trace's end line (two traces joined?); they are read as they come");
        }

        var fields = default(Fields);
        _fieldError = null;
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 16 });
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                var token = reader.TokenType;
                reader.Skip();
                if (reader.Read())
                {
                    throw new JsonException("more than one value on the line");
                }

                return Bad(terminated, TraceProblemKind.NotAnObject, $"a JSON {Describe(token)}, not an object; line skipped");
            }

            ReadObject(ref reader, ref fields);
            if (reader.Read())
            {
                throw new JsonException("text after the object");
            }
        }
        catch (JsonException e)
        {
            return Bad(terminated, TraceProblemKind.InvalidJson, $"not valid JSON ({FirstSentence(e.Message)}); line skipped");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException or ArgumentException)
        {
            // A safety net: no content may make the reader throw.
            return Bad(terminated, TraceProblemKind.InvalidValue, $"a value cannot be read ({FirstSentence(e.Message)}); line skipped");
        }

        if (_fieldError is not null)
        {
            return Bad(terminated, TraceProblemKind.InvalidValue, _fieldError + "; line skipped");
        }

        if (fields.KindName is null)
        {
            return Bad(terminated, TraceProblemKind.MissingKind, "no \"kind\" field; line skipped");
        }

        if (HeapEventKindExtensions.TryParseTraceName(fields.KindName, out var kind))
        {
            return Build(kind, ref fields, out heapEvent);
        }

        switch (fields.KindName)
        {
            case TraceFormat.HeaderKind:
                Header = new TraceHeader(fields.Format ?? string.Empty, (int)fields.Version, fields.HasTime ? fields.Time : null, (int)fields.ProcessId, fields.Process);
                if (fields.Format != TraceFormat.FormatName || fields.Version > TraceFormat.Version || fields.Version < 1)
                {
                    Report(LineNumber, TraceProblemKind.UnsupportedFormat, $"the header names format '{fields.Format}' version {fields.Version}; this reader knows '{TraceFormat.FormatName}' version {TraceFormat.Version} and reads what it understands");
                }

                return false;
            case TraceFormat.DroppedKind:
                if (fields.Count < 0)
                {
                    return Bad(terminated, TraceProblemKind.InvalidValue, $"a 'dropped' line's \"count\" is negative ({fields.Count}); line skipped");
                }

                DroppedEvents = fields.Count > long.MaxValue - DroppedEvents ? long.MaxValue : DroppedEvents + fields.Count; // Saturates: hand-made counts.
                Report(LineNumber, TraceProblemKind.DroppedEvents, $"the writer dropped {Counted.Of(fields.Count, "event")} here ({ReasonText(fields.Reason)})");
                return false;
            case TraceFormat.EndKind:
                HasEnd = true;
                return false;
            default:
                return Bad(terminated, TraceProblemKind.UnknownKind, $"unknown event kind '{Truncate(fields.KindName)}'; line skipped");
        }
    }

    private bool Build(HeapEventKind kind, ref Fields f, out HeapEvent heapEvent)
    {
        heapEvent = default;
        var missing = kind switch
        {
            HeapEventKind.Allocation or HeapEventKind.Reallocation when !f.HasAddress || !f.HasSize => "\"addr\" and \"size\"",
            HeapEventKind.Free when !f.HasAddress => "\"addr\"",
            HeapEventKind.FailedAllocation when !f.HasSize => "\"size\"",
            HeapEventKind.MemoryError when f.ErrorKind is null => "\"error\"",
            _ => null,
        };
        if (missing is not null)
        {
            BadLineCount++;
            Report(LineNumber, TraceProblemKind.MissingField, $"a '{kind.ToTraceName()}' event needs {missing}; line skipped");
            return false;
        }

        // No block can be larger than half the address space: such a size in a block's event is damage, and summed it
        // would wrap every total. (A failed request may be that large: an overflowing calloc is logged as nuint.MaxValue.)
        if (kind is HeapEventKind.Allocation or HeapEventKind.Reallocation or HeapEventKind.Free
            && (f.Size > MaxBlockSize || f.PreviousSize > MaxBlockSize))
        {
            BadLineCount++;
            Report(LineNumber, TraceProblemKind.InvalidValue, $"a '{kind.ToTraceName()}' event's block size is above {MaxBlockSize} bytes; line skipped");
            return false;
        }

        MemoryError? error = null;
        if (f.ErrorKind is { } errorKind)
        {
            error = new MemoryError(errorKind, f.ErrorOperation, f.Address)
            {
                DetectedAt = f.Site,
                BlockAddress = f.HasBlockAddress ? f.BlockAddress : null,
                BlockSize = f.HasBlockSize ? f.BlockSize : null,
                FreedAt = f.FreedAt,
                FreedByThreadId = f.HasFreedThread ? f.FreedThread : null,
                RegionName = f.Region,
                Note = f.Note,
            };
        }

        // The values themselves, in one object per event, rather than ids: what a trace names must not
        // fill the process-wide registries that the tracker's own call sites and regions need.
        heapEvent = new HeapEvent
        {
            Kind = kind,
            Sequence = f.Sequence,
            Time = f.Time,
            ThreadId = f.Thread,
            Address = f.Address,
            Size = f.Size,
            PreviousAddress = f.PreviousAddress,
            PreviousSize = f.PreviousSize,
            Caps = f.Caps,
            RequestNumber = f.Request,
            Details = new HeapEventDetails
            {
                Site = f.Site ?? default,
                AllocatedAt = f.AllocSite,
                RegionName = f.Region,
                Error = error,
                Label = f.Label,
                Regions = f.Regions,
                LiveBlocks = f.Live,
                LiveBytes = f.LiveBytes,
            },
        };
        return true;
    }

    private void ReadObject(ref Utf8JsonReader reader, ref Fields f)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("kind"u8)) { f.KindName = String(ref reader, "kind"); }
            else if (reader.ValueTextEquals("seq"u8)) { f.Sequence = Int64(ref reader, "seq"); }
            else if (reader.ValueTextEquals("time"u8)) { f.HasTime = Time(ref reader, out f.Time); }
            else if (reader.ValueTextEquals("thread"u8)) { f.Thread = (int)Int64(ref reader, "thread"); }
            else if (reader.ValueTextEquals("addr"u8)) { f.HasAddress = Hex(ref reader, "addr", out f.Address); }
            else if (reader.ValueTextEquals("size"u8)) { f.HasSize = UInt(ref reader, "size", out f.Size); }
            else if (reader.ValueTextEquals("caps"u8)) { f.Caps = Caps(ref reader); }
            else if (reader.ValueTextEquals("req"u8)) { f.Request = Int64(ref reader, "req"); }
            else if (reader.ValueTextEquals("region"u8)) { f.Region = String(ref reader, "region"); }
            else if (reader.ValueTextEquals("site"u8)) { f.Site = Site(ref reader, "site"); }
            else if (reader.ValueTextEquals("allocSite"u8)) { f.AllocSite = Site(ref reader, "allocSite"); }
            else if (reader.ValueTextEquals("prevAddr"u8)) { Hex(ref reader, "prevAddr", out f.PreviousAddress); }
            else if (reader.ValueTextEquals("prevSize"u8)) { UInt(ref reader, "prevSize", out f.PreviousSize); }
            else if (reader.ValueTextEquals("live"u8)) { f.Live = Int64(ref reader, "live"); }
            else if (reader.ValueTextEquals("liveBytes"u8)) { f.LiveBytes = Int64(ref reader, "liveBytes"); }
            else if (reader.ValueTextEquals("regions"u8)) { f.Regions = Regions(ref reader); }
            else if (reader.ValueTextEquals("label"u8)) { f.Label = String(ref reader, "label"); }
            else if (reader.ValueTextEquals("error"u8)) { Error(ref reader, ref f); }
            else if (reader.ValueTextEquals("count"u8)) { f.Count = Int64(ref reader, "count"); }
            else if (reader.ValueTextEquals("reason"u8)) { f.Reason = String(ref reader, "reason"); }
            else if (reader.ValueTextEquals("format"u8)) { f.Format = String(ref reader, "format"); }
            else if (reader.ValueTextEquals("version"u8)) { f.Version = Int64(ref reader, "version"); }
            else if (reader.ValueTextEquals("pid"u8)) { f.ProcessId = Int64(ref reader, "pid"); }
            else if (reader.ValueTextEquals("process"u8)) { f.Process = String(ref reader, "process"); }
            else
            {
                // Fields this reader does not know (a newer writer's, or "message") are skipped.
                reader.Read();
                reader.Skip();
            }
        }
    }

    private void Error(ref Utf8JsonReader reader, ref Fields f)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            FieldError("\"error\" is not an object");
            reader.Skip();
            return;
        }

        f.ErrorKind = MemoryErrorKind.DoubleFree;
        var typeSeen = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("type"u8))
            {
                var type = String(ref reader, "error.type");
                typeSeen = true;
                if (type is { Length: > 0 } && !char.IsDigit(type[0]) && Enum.TryParse<MemoryErrorKind>(type, ignoreCase: false, out var kind) && Enum.IsDefined(kind))
                {
                    f.ErrorKind = kind;
                }
                else
                {
                    FieldError($"unknown memory error type '{Truncate(type)}'");
                }
            }
            else if (reader.ValueTextEquals("op"u8)) { f.ErrorOperation = Method(String(ref reader, "error.op")); }
            else if (reader.ValueTextEquals("blockAddr"u8)) { f.HasBlockAddress = Hex(ref reader, "error.blockAddr", out f.BlockAddress); }
            else if (reader.ValueTextEquals("blockSize"u8)) { f.HasBlockSize = UInt(ref reader, "error.blockSize", out f.BlockSize); }
            else if (reader.ValueTextEquals("freedAt"u8)) { f.FreedAt = Site(ref reader, "error.freedAt"); }
            else if (reader.ValueTextEquals("freedThread"u8)) { f.FreedThread = (int)Int64(ref reader, "error.freedThread"); f.HasFreedThread = true; }
            else if (reader.ValueTextEquals("note"u8)) { f.Note = String(ref reader, "error.note"); }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (!typeSeen)
        {
            FieldError("\"error\" has no \"type\"");
        }
    }

    private CallSite? Site(ref Utf8JsonReader reader, string field)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            FieldError($"\"{field}\" is not an object");
            reader.Skip();
            return null;
        }

        var method = AllocationMethod.Unknown;
        string? file = null, function = null, variable = null;
        var line = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("method"u8)) { method = Method(String(ref reader, field + ".method")); }
            else if (reader.ValueTextEquals("file"u8)) { file = String(ref reader, field + ".file"); }
            else if (reader.ValueTextEquals("line"u8)) { line = (int)Int64(ref reader, field + ".line"); }
            else if (reader.ValueTextEquals("func"u8)) { function = String(ref reader, field + ".func"); }
            else if (reader.ValueTextEquals("var"u8)) { variable = String(ref reader, field + ".var"); }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new CallSite(method, file, line, function, variable);
    }

    private RegionSnapshot[]? Regions(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            FieldError("\"regions\" is not an array");
            reader.Skip();
            return null;
        }

        var regions = new List<RegionSnapshot>();
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            string? name = null;
            var caps = MallocCaps.None;
            nuint total = 0, free = 0, largest = 0, minimum = 0;
            var unbounded = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("name"u8)) { name = String(ref reader, "regions.name"); }
                else if (reader.ValueTextEquals("caps"u8)) { caps = Caps(ref reader); }
                else if (reader.ValueTextEquals("total"u8)) { UInt(ref reader, "regions.total", out total); }
                else if (reader.ValueTextEquals("free"u8)) { UInt(ref reader, "regions.free", out free); }
                else if (reader.ValueTextEquals("largest"u8)) { UInt(ref reader, "regions.largest", out largest); }
                else if (reader.ValueTextEquals("minFree"u8)) { UInt(ref reader, "regions.minFree", out minimum); }
                else if (reader.ValueTextEquals("unbounded"u8))
                {
                    reader.Read();
                    unbounded = reader.TokenType == JsonTokenType.True;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (unbounded)
            {
                total = free = largest = minimum = nuint.MaxValue;
            }

            regions.Add(new RegionSnapshot(name ?? "?", caps, total, free, largest, minimum, unbounded));
        }

        if (reader.TokenType != JsonTokenType.EndArray)
        {
            FieldError("\"regions\" holds something other than objects");
            reader.Skip();
        }

        return [.. regions];
    }

    private string? String(ref Utf8JsonReader reader, string field)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.String)
        {
            FieldError($"\"{field}\" is not a string");
            reader.Skip();
            return null;
        }

        var length = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        var chars = length <= 256 ? stackalloc char[256] : new char[length];
        int written;
        try
        {
            written = reader.CopyString(chars);
        }
        catch (InvalidOperationException)
        {
            FieldError($"\"{field}\" is not valid UTF-8");
            return null;
        }

        return _strings.Get(chars[..written]);
    }

    private long Int64(ref Utf8JsonReader reader, string field)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
        {
            return value;
        }

        FieldError($"\"{field}\" is not an integer");
        reader.Skip();
        return 0;
    }

    private bool UInt(ref Utf8JsonReader reader, string field, out nuint value)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out var number))
        {
            value = (nuint)number;
            return true;
        }

        if (reader.TokenType == JsonTokenType.Null)
        {
            value = nuint.MaxValue;
            return true;
        }

        FieldError($"\"{field}\" is not a non-negative integer");
        reader.Skip();
        value = 0;
        return false;
    }

    private bool Hex(ref Utf8JsonReader reader, string field, out nuint value)
    {
        reader.Read();
        value = 0;
        if (reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            var text = reader.ValueSpan;
            if (text.Length > 2 && text[0] == (byte)'0' && (text[1] | 0x20) == (byte)'x'
                && Utf8Parser.TryParse(text[2..], out ulong number, out var consumed, 'x') && consumed == text.Length - 2)
            {
                value = (nuint)number;
                return true;
            }
        }
        else if (reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out var plain))
        {
            value = (nuint)plain;
            return true;
        }

        FieldError($"\"{field}\" is not an address like \"0x3ffb0a10\"");
        reader.Skip();
        return false;
    }

    private bool Time(ref Utf8JsonReader reader, out DateTimeOffset time)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out time))
        {
            return true;
        }

        FieldError("\"time\" is not an ISO 8601 time");
        reader.Skip();
        time = default;
        return false;
    }

    private MallocCaps Caps(ref Utf8JsonReader reader)
    {
        var text = String(ref reader, "caps");
        if (text is null)
        {
            return MallocCaps.None;
        }

        if (_caps.TryGetValue(text, out var caps))
        {
            return caps;
        }

        if (!MallocCapsExtensions.TryParse(text, out caps, out var error))
        {
            FieldError($"\"caps\" is not valid: {error}");
            return MallocCaps.None;
        }

        if (_caps.Count < 4096)
        {
            _caps[text] = caps;
        }

        return caps;
    }

    private static AllocationMethod Method(string? name) =>
        name is not null && s_methods.TryGetValue(name, out var method) ? method : AllocationMethod.Unknown;

    private void FieldError(string message) => _fieldError ??= message;

    private bool Bad(bool terminated, TraceProblemKind kind, string message)
    {
        if (!terminated)
        {
            TornLastLine = true;
            Report(LineNumber, TraceProblemKind.TornLastLine, "the last line is incomplete (no newline, not a whole JSON object): the writer stopped mid-line; line skipped");
            return false;
        }

        BadLineCount++;
        Report(LineNumber, kind, message);
        return false;
    }

    private void Report(long line, TraceProblemKind kind, string message)
    {
        var problem = new TraceProblem(line, kind, message);
        ProblemCount++;
        if (_problems.Count < _options.MaxProblemsKept)
        {
            _problems.Add(problem);
        }

        _options.OnProblem?.Invoke(problem);
    }

    private static string ReasonText(string? reason) => reason switch
    {
        "full" => "its buffer was full in drop mode",
        "io" => "a write to the file failed",
        "closed" => "they were emitted while the writer was closing",
        "unencodable" => "an event could not be encoded",
        _ => reason ?? "no reason given",
    };

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return (end > 0 ? message[..end] : message).TrimEnd('.');
    }

    private static string Truncate(string? text) => text is null ? string.Empty : text.Length <= 40 ? text : text[..40] + "…";

    /// <summary>The fields of one line, as far as they were found.</summary>
    private struct Fields
    {
        public string? KindName;
        public long Sequence;
        public DateTimeOffset Time;
        public bool HasTime;
        public int Thread;
        public nuint Address;
        public bool HasAddress;
        public nuint Size;
        public bool HasSize;
        public nuint PreviousAddress;
        public nuint PreviousSize;
        public MallocCaps Caps;
        public long Request;
        public string? Region;
        public CallSite? Site;
        public CallSite? AllocSite;
        public long Live;
        public long LiveBytes;
        public RegionSnapshot[]? Regions;
        public string? Label;
        public MemoryErrorKind? ErrorKind;
        public AllocationMethod ErrorOperation;
        public nuint BlockAddress;
        public bool HasBlockAddress;
        public nuint BlockSize;
        public bool HasBlockSize;
        public CallSite? FreedAt;
        public int FreedThread;
        public bool HasFreedThread;
        public string? Note;
        public long Count;
        public string? Reason;
        public string? Format;
        public long Version;
        public long ProcessId;
        public string? Process;
    }
}

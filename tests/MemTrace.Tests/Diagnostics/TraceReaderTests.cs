// TraceReader on bad input: truncated, corrupt and non-JSON lines, unknown kinds, missing and
// invalid fields, over-long lines, empty input — each reported with its line number while the
// good lines around it are still read.
using System.Text;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class TraceReaderTests
{
    private const string Header = "{\"kind\":\"header\",\"format\":\"memtrace-trace\",\"version\":1,\"time\":\"2026-11-25T14:38:00.000Z\",\"pid\":42,\"process\":\"app\"}";
    private const string Alloc = "{\"kind\":\"alloc\",\"seq\":1,\"time\":\"2026-11-25T14:38:00.001Z\",\"thread\":1,\"addr\":\"0x1000\",\"size\":64,\"caps\":\"MALLOC_CAP_8BIT\",\"req\":1,\"region\":\"DRAM\",\"site\":{\"method\":\"heap_caps_malloc\",\"file\":\"/src/a.cs\",\"line\":3,\"func\":\"Main\",\"var\":\"p\"}}";
    private const string Free = "{\"kind\":\"free\",\"seq\":2,\"time\":\"2026-11-25T14:38:00.002Z\",\"thread\":1,\"addr\":\"0x1000\",\"size\":64,\"caps\":\"MALLOC_CAP_8BIT\",\"req\":1,\"site\":{\"method\":\"heap_caps_free\"}}";

    [Fact]
    public void A_default_problem_formats_as_empty_text_not_null()
    {
        Assert.Equal(string.Empty, default(TraceProblem).ToString());
        Assert.Equal("line 3: bad", new TraceProblem(3, TraceProblemKind.InvalidJson, "bad").ToString());
        Assert.Equal("empty", new TraceProblem(0, TraceProblemKind.EmptyTrace, "empty").ToString());
    }

    [Fact]
    public void A_clean_trace_reads_without_problems_and_with_its_header()
    {
        var reader = Read(Header, Alloc, Free, "{\"kind\":\"end\",\"events\":2,\"dropped\":0}");

        Assert.Equal([HeapEventKind.Allocation, HeapEventKind.Free], reader.Events.Select(e => e.Kind));
        Assert.Empty(reader.Problems);
        Assert.Equal("app", reader.Header!.ProcessName);
        Assert.Equal(42, reader.Header.ProcessId);
        Assert.True(reader.HasEnd);
        var alloc = reader.Events[0];
        Assert.Equal((nuint)0x1000, alloc.Address);
        Assert.Equal(MallocCaps.Bit8, alloc.Caps);
        Assert.Equal(new CallSite(AllocationMethod.Malloc, "/src/a.cs", 3, "Main", "p"), alloc.Site);
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 14, 38, 0, 1, TimeSpan.Zero), alloc.Time);
    }

    [Fact]
    public void A_torn_last_line_is_reported_as_torn_with_its_line_number_and_the_rest_is_read()
    {
        var text = string.Join('\n', Header, Alloc, Free) + "\n" + Alloc[..57];

        var reader = Read(text);

        Assert.Equal(2, reader.Events.Count);
        var problem = Assert.Single(reader.Problems);
        Assert.Equal(TraceProblemKind.TornLastLine, problem.Kind);
        Assert.Equal(4, problem.Line);
        Assert.False(problem.LosesEvents);
        Assert.True(reader.Reader.TornLastLine);
        Assert.Equal(0, reader.Reader.BadLineCount);
        Assert.StartsWith("line 4: the last line is incomplete", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_after_the_end_line_are_reported_once_and_read()
    {
        // Two traces joined with cat: the second header and its events follow the first trace's end line.
        const string end = "{\"kind\":\"end\",\"events\":2,\"dropped\":0}";
        var reader = Read(Header, Alloc, Free, end, Header, Alloc.Replace("\"seq\":1", "\"seq\":3", StringComparison.Ordinal), end);

        Assert.Equal(3, reader.Events.Count);
        var problem = Assert.Single(reader.Problems);
        Assert.Equal(TraceProblemKind.LinesAfterEnd, problem.Kind);
        Assert.Equal(5, problem.Line);
        Assert.False(problem.LosesEvents);
        Assert.Equal(0, reader.Reader.BadLineCount);
        Assert.StartsWith("line 5: lines follow the trace's end line", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_complete_last_line_without_a_newline_is_read()
    {
        var reader = Read(string.Join('\n', Header, Alloc, Free));

        Assert.Equal(2, reader.Events.Count);
        Assert.Empty(reader.Problems);
    }

    [Fact]
    public void Corrupt_and_non_JSON_lines_in_the_middle_are_reported_and_skipped()
    {
        var reader = Read(Header, Alloc, "this is not json", Alloc[..40] + "}", "[1,2,3]", "{\"size\":3}", Free, "{\"kind\":\"alloc\"} trailing");

        Assert.Equal([HeapEventKind.Allocation, HeapEventKind.Free], reader.Events.Select(e => e.Kind));
        Assert.Equal(
            [(3L, TraceProblemKind.InvalidJson), (4L, TraceProblemKind.InvalidJson), (5L, TraceProblemKind.NotAnObject), (6L, TraceProblemKind.MissingKind), (8L, TraceProblemKind.InvalidJson)],
            reader.Problems.Select(p => (p.Line, p.Kind)));
        Assert.Equal(5, reader.Reader.BadLineCount);
        Assert.All(reader.Problems, p => Assert.True(p.LosesEvents));
        Assert.Contains("a JSON array, not an object", reader.Problems[2].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_kind_is_named_in_the_report_and_skipped()
    {
        var reader = Read(Header, "{\"kind\":\"teleport\",\"seq\":1}", Alloc);

        var problem = Assert.Single(reader.Problems);
        Assert.Equal((2L, TraceProblemKind.UnknownKind), (problem.Line, problem.Kind));
        Assert.Contains("'teleport'", problem.Message, StringComparison.Ordinal);
        Assert.Single(reader.Events);
    }

    [Theory]
    [InlineData("{\"kind\":\"alloc\",\"seq\":1,\"size\":3}", TraceProblemKind.MissingField, "needs \"addr\" and \"size\"")]
    [InlineData("{\"kind\":\"free\",\"seq\":1}", TraceProblemKind.MissingField, "needs \"addr\"")]
    [InlineData("{\"kind\":\"error\",\"addr\":\"0x1\"}", TraceProblemKind.MissingField, "needs \"error\"")]
    [InlineData("{\"kind\":\"alloc\",\"addr\":\"12ab\",\"size\":3}", TraceProblemKind.InvalidValue, "\"addr\" is not an address")]
    [InlineData("{\"kind\":\"alloc\",\"addr\":\"0x10\",\"size\":-3}", TraceProblemKind.InvalidValue, "\"size\" is not a non-negative integer")]
    [InlineData("{\"kind\":\"alloc\",\"addr\":\"0x10\",\"size\":\"big\"}", TraceProblemKind.InvalidValue, "\"size\" is not a non-negative integer")]
    [InlineData("{\"kind\":\"alloc\",\"addr\":\"0x10\",\"size\":1,\"caps\":\"MALLOC_CAP_WINGS\"}", TraceProblemKind.InvalidValue, "unknown capability")]
    [InlineData("{\"kind\":\"alloc\",\"addr\":\"0x10\",\"size\":1,\"time\":\"yesterday\"}", TraceProblemKind.InvalidValue, "\"time\" is not an ISO 8601 time")]
    [InlineData("{\"kind\":\"alloc\",\"addr\":\"0x10\",\"size\":1,\"site\":[]}", TraceProblemKind.InvalidValue, "\"site\" is not an object")]
    [InlineData("{\"kind\":\"error\",\"addr\":\"0x10\",\"error\":{\"type\":\"Gremlins\"}}", TraceProblemKind.InvalidValue, "unknown memory error type 'Gremlins'")]
    [InlineData("{\"kind\":\"error\",\"addr\":\"0x10\",\"error\":{\"type\":\"\"}}", TraceProblemKind.InvalidValue, "unknown memory error type ''")]
    [InlineData("{\"kind\":\"snapshot\",\"regions\":{}}", TraceProblemKind.InvalidValue, "\"regions\" is not an array")]
    [InlineData("{\"kind\":7}", TraceProblemKind.InvalidValue, "\"kind\" is not a string")]
    [InlineData("{\"kind\":\"dropped\",\"count\":-5,\"reason\":\"full\"}", TraceProblemKind.InvalidValue, "\"count\" is negative (-5)")]
    [InlineData("{\"kind\":\"alloc\",\"addr\":\"0x10\",\"size\":9223372036854775808}", TraceProblemKind.InvalidValue, "block size is above 9223372036854775807 bytes")]
    [InlineData("{\"kind\":\"free\",\"addr\":\"0x10\",\"size\":18446744073709551615}", TraceProblemKind.InvalidValue, "block size is above")]
    [InlineData("{\"kind\":\"realloc\",\"addr\":\"0x10\",\"size\":8,\"prevSize\":18446744073709551615}", TraceProblemKind.InvalidValue, "'realloc' event's block size is above")]
    public void A_line_with_a_missing_or_invalid_field_is_reported_with_the_field(string line, TraceProblemKind kind, string message)
    {
        var reader = Read(Header, line, Alloc);

        var problem = Assert.Single(reader.Problems);
        Assert.Equal((2L, kind), (problem.Line, problem.Kind));
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
        Assert.Single(reader.Events);
    }

    [Fact]
    public void Dropped_counts_too_large_to_add_up_saturate_instead_of_wrapping()
    {
        var reader = Read(Header, "{\"kind\":\"dropped\",\"count\":9223372036854775807,\"reason\":\"full\"}", "{\"kind\":\"dropped\",\"count\":2,\"reason\":\"io\"}", Alloc);

        Assert.Equal(long.MaxValue, reader.Reader.DroppedEvents);
        Assert.Equal(2, reader.Problems.Count(p => p.Kind == TraceProblemKind.DroppedEvents));
    }

    [Fact]
    public void A_failed_request_may_be_as_large_as_the_address_space()
    {
        // An overflowing calloc is logged as nuint.MaxValue bytes: a request, not a block.
        var reader = Read(Header, "{\"kind\":\"failed\",\"size\":18446744073709551615}");

        Assert.Empty(reader.Problems);
        Assert.Equal(nuint.MaxValue, Assert.Single(reader.Events).Size);
    }

    [Fact]
    public void An_empty_trace_is_reported_as_empty()
    {
        var reader = Read(string.Empty);

        Assert.Empty(reader.Events);
        Assert.Equal(TraceProblemKind.EmptyTrace, Assert.Single(reader.Problems).Kind);
        Assert.Equal("the trace is empty: it holds no lines", reader.Problems[0].Message);
        Assert.Equal(0, reader.Reader.LineNumber);
    }

    [Fact]
    public void A_trace_of_blank_lines_is_empty_and_says_how_many_lines_it_has()
    {
        var reader = Read("\n  \r\n\t\n");

        Assert.Empty(reader.Events);
        var problem = Assert.Single(reader.Problems);
        Assert.Equal(TraceProblemKind.EmptyTrace, problem.Kind);
        Assert.Equal("the trace is empty: its 3 lines are all blank or too long", problem.Message);
    }

    [Fact]
    public void Blank_lines_and_CRLF_endings_are_accepted()
    {
        var reader = Read(Header + "\r\n\r\n" + Alloc + "\r\n   \n" + Free + "\r\n");

        Assert.Equal(2, reader.Events.Count);
        Assert.Empty(reader.Problems);
    }

    [Fact]
    public void A_line_longer_than_the_limit_is_skipped_in_bounded_memory_and_the_next_is_read()
    {
        var huge = "{\"kind\":\"label\",\"pad\":\"" + new string('x', 3000) + "\"}";
        var options = new TraceReaderOptions { MaxLineBytes = 1024 };

        var reader = Read(options, Header, huge, Alloc, huge, Free);

        Assert.Equal([HeapEventKind.Allocation, HeapEventKind.Free], reader.Events.Select(e => e.Kind));
        Assert.Equal([(2L, TraceProblemKind.LineTooLong), (4L, TraceProblemKind.LineTooLong)], reader.Problems.Select(p => (p.Line, p.Kind)));
        Assert.Equal(5, reader.Reader.LineNumber);
    }

    [Theory]
    [InlineData(int.MaxValue)] // "No limit": the buffer's growth to the limit plus one used to overflow and throw.
    [InlineData(int.MaxValue - 1)]
    public void A_limit_as_large_as_an_int_reads_long_lines_instead_of_throwing(int limit)
    {
        var longLine = Padded(Alloc, 200 * 1024);

        var reader = Read(new TraceReaderOptions { MaxLineBytes = limit }, Header, longLine, Free);

        Assert.Equal([HeapEventKind.Allocation, HeapEventKind.Free], reader.Events.Select(e => e.Kind));
        Assert.Empty(reader.Problems);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(64 * 1024)] // The reader's first buffer: the limit one byte short of a full buffer used to reject such a line.
    [InlineData(128 * 1024)]
    [InlineData(1024 * 1024)] // The default.
    public void A_line_of_exactly_the_limit_is_read_and_one_byte_more_is_skipped(int limit)
    {
        var exact = Padded(Alloc, limit);
        var over = Padded(Alloc, limit + 1);
        var options = new TraceReaderOptions { MaxLineBytes = limit };

        var reader = Read(options, Header, exact, over, Free);

        Assert.Equal([HeapEventKind.Allocation, HeapEventKind.Free], reader.Events.Select(e => e.Kind));
        Assert.Equal([(3L, TraceProblemKind.LineTooLong)], reader.Problems.Select(p => (p.Line, p.Kind)));

        // The same line last and unterminated.
        var last = Read(options, Header + "\n" + exact);
        Assert.Single(last.Events);
        Assert.Empty(last.Problems);
    }

    [Fact]
    public void A_UTF8_byte_order_mark_before_the_header_is_not_an_error()
    {
        var reader = Read("\uFEFF" + Header, Alloc, Free);

        Assert.Empty(reader.Problems);
        Assert.Equal("app", reader.Header!.ProcessName);
        Assert.Equal(2, reader.Events.Count);
    }

    /// <summary><paramref name="line"/> (a JSON object) padded with an unknown field to exactly <paramref name="bytes"/> bytes.</summary>
    private static string Padded(string line, int bytes)
    {
        var prefix = line[..^1] + ",\"pad\":\"";
        return prefix + new string('x', bytes - prefix.Length - 2) + "\"}";
    }

    [Fact]
    public void A_newer_format_version_is_a_warning_and_what_is_understood_is_read()
    {
        var reader = Read("{\"kind\":\"header\",\"format\":\"memtrace-trace\",\"version\":9}", Alloc);

        var problem = Assert.Single(reader.Problems);
        Assert.Equal(TraceProblemKind.UnsupportedFormat, problem.Kind);
        Assert.False(problem.LosesEvents);
        Assert.Single(reader.Events);
    }

    [Fact]
    public void Dropped_lines_add_up_and_are_reported_where_they_are()
    {
        var reader = Read(Header, Alloc, "{\"kind\":\"dropped\",\"count\":12,\"reason\":\"full\"}", Free, "{\"kind\":\"dropped\",\"count\":3,\"reason\":\"io\"}");

        Assert.Equal(15, reader.Reader.DroppedEvents);
        Assert.Equal([3L, 5L], reader.Problems.Select(p => p.Line));
        Assert.Contains("dropped 12 events here (its buffer was full in drop mode)", reader.Problems[0].Message, StringComparison.Ordinal);

        var one = Read(Header, Alloc, "{\"kind\":\"dropped\",\"count\":1,\"reason\":\"full\"}");
        Assert.Contains("dropped 1 event here (", Assert.Single(one.Problems).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_beyond_the_limit_are_counted_and_passed_to_the_callback_but_not_kept()
    {
        var seen = 0;
        var lines = Enumerable.Repeat("garbage", 50).Prepend(Header).Append(Alloc).ToArray();

        var reader = Read(new TraceReaderOptions { MaxProblemsKept = 10, OnProblem = _ => seen++ }, lines);

        Assert.Equal(10, reader.Problems.Count);
        Assert.Equal(50, reader.Reader.ProblemCount);
        Assert.Equal(50, seen);
        Assert.Single(reader.Events);
    }

    [Fact]
    public void Unknown_fields_are_ignored_so_newer_writers_stay_readable()
    {
        var reader = Read(Header, Alloc.Replace("\"seq\":1,", "\"seq\":1,\"future\":{\"nested\":[1,{\"a\":2}]},", StringComparison.Ordinal));

        Assert.Empty(reader.Problems);
        Assert.Single(reader.Events);
    }

    [Fact]
    public void Opening_a_missing_file_throws_FileNotFoundException()
    {
        var path = Path.Combine(Path.GetTempPath(), "memtrace-missing-" + Guid.NewGuid().ToString("N") + ".jsonl");

        Assert.Throws<FileNotFoundException>(() => TraceReader.Open(path));
    }

    [Theory]
    [InlineData(255, 0, "MaxLineBytes")]
    [InlineData(int.MinValue, 0, "MaxLineBytes")]
    [InlineData(1024, -1, "MaxProblemsKept")]
    public void An_option_out_of_range_is_refused_naming_it_and_Open_leaves_no_file_open(int maxLineBytes, int maxProblemsKept, string option)
    {
        var options = new TraceReaderOptions { MaxLineBytes = maxLineBytes, MaxProblemsKept = maxProblemsKept };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new TraceReader(new MemoryStream(), options));
        Assert.Contains("TraceReaderOptions." + option, e.Message, StringComparison.Ordinal);

        var path = Path.GetTempFileName();
        try
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => TraceReader.Open(path, options));
            if (Directory.Exists("/proc/self/fd"))
            {
                // The stream Open created is closed, not left to the finalizer.
                Assert.DoesNotContain(new DirectoryInfo("/proc/self/fd").GetFileSystemInfos(), fd => fd.LinkTarget == path);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentNullException>(() => new TraceReader(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TraceReader(new MemoryStream(), new TraceReaderOptions { MaxLineBytes = 10 }));
    }

    private static ReadResult Read(params string[] lines) => Read(null, lines);

    private static ReadResult Read(TraceReaderOptions? options, params string[] lines)
    {
        var text = lines.Length == 1 ? lines[0] : string.Join('\n', lines) + "\n";
        var reader = new TraceReader(new MemoryStream(Encoding.UTF8.GetBytes(text)), options);
        var events = reader.ReadAll().ToList();
        return new ReadResult(reader, events);
    }

    private sealed record ReadResult(TraceReader Reader, List<HeapEvent> Events)
    {
        public IReadOnlyList<TraceProblem> Problems => Reader.Problems;

        public TraceHeader? Header => Reader.Header;

        public bool HasEnd => Reader.HasEnd;
    }
}

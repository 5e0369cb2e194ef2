// The ILogger adapter (MemTrace.Extensions.Logging): levels, event ids, structured fields, the
// logger's own IsEnabled, and WriteTo.Logger in a pipeline.
using MemTrace.Diagnostics;
using MemTrace.Extensions.Logging;
using Microsoft.Extensions.Logging;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class LoggerSinkTests
{
    [Fact]
    public void Each_kind_is_logged_at_its_level_with_its_event_id_and_fields()
    {
        var logger = new RecordingLogger(LogLevel.Trace);
        var sink = new LoggerSink(logger);

        foreach (var e in TestEvents.OneOfEachKind())
        {
            sink.Emit(e);
        }

        Assert.Equal(
            [(LogLevel.Trace, 1), (LogLevel.Trace, 2), (LogLevel.Trace, 3), (LogLevel.Warning, 4), (LogLevel.Error, 5), (LogLevel.Information, 6), (LogLevel.Debug, 7)],
            logger.Entries.Select(e => (e.Level, e.EventId.Id)));
        var allocation = logger.Entries[0];
        Assert.Equal("Allocation", allocation.EventId.Name);
        Assert.Equal(256UL, allocation.Field("Size"));
        Assert.Equal("/src/App/Demo.cs:30 in Run (buffer)", allocation.Field("Site"));
        Assert.Equal("DRAM", allocation.Field("Region"));
        Assert.Equal(0x3ffb0a10UL, allocation.Field("Address")); // Structured: the number; in the message: hex, as every other output.
        Assert.Contains("Allocated 256 bytes at 0x3ffb0a10 (", allocation.Message, StringComparison.Ordinal);
        Assert.Contains("bytes at 0x3ffb0a10,", logger.Entries[1].Message, StringComparison.Ordinal);
        Assert.Matches(@"^Reallocated \d+ bytes at 0x[0-9a-f]+ to \d+ bytes at 0x[0-9a-f]+,", logger.Entries[2].Message);
        var error = logger.Entries[4];
        Assert.Contains("double free of 0x3ffb0a10", error.Message, StringComparison.Ordinal);
        Assert.Equal("DoubleFree", error.Field("ErrorKind"));
        Assert.Contains("after init ✓", logger.Entries[5].Message, StringComparison.Ordinal);
    }

    // JSON formatters (the console's, Serilog's) write the integer types they know as numbers and anything else, nuint
    // included, as a string: every size and address field is a ulong.
    [Fact]
    public void Sizes_and_addresses_are_ulong_fields_and_the_logger_is_asked_once_per_event()
    {
        var logger = new RecordingLogger(LogLevel.Trace);
        var sink = new LoggerSink(logger);
        var events = TestEvents.OneOfEachKind().ToList();

        foreach (var e in events)
        {
            sink.Emit(e);
        }

        string[] numeric = ["Size", "Address", "PreviousSize", "PreviousAddress"];
        var fields = logger.Entries.SelectMany(e => e.State).Where(f => numeric.Contains(f.Key)).ToList();
        Assert.Equal(10, fields.Count); // Allocation 2, free 2, realloc 4, failure 1, memory error 1.
        Assert.All(fields, f => Assert.IsType<ulong>(f.Value));
        Assert.Equal(events.Count, logger.EnabledQueries);
    }

    [Fact]
    public void Nothing_is_formatted_for_levels_the_logger_ignores()
    {
        var logger = new RecordingLogger(LogLevel.Warning);
        var sink = new LoggerSink(logger);

        foreach (var e in TestEvents.OneOfEachKind())
        {
            sink.Emit(e);
        }

        Assert.Equal([LogLevel.Warning, LogLevel.Error], logger.Entries.Select(e => e.Level));
    }

    [Fact]
    public void WriteTo_Logger_defaults_to_warnings_and_errors_and_can_take_everything()
    {
        var defaults = new RecordingLogger(LogLevel.Trace);
        var everything = new RecordingLogger(LogLevel.Trace);
        using (var pipeline = new HeapEventPipelineBuilder()
            .WriteTo.Logger(defaults)
            .WriteTo.Logger(everything, HeapEventLevel.Trace)
            .Build())
        {
            foreach (var e in TestEvents.OneOfEachKind())
            {
                pipeline.Emit(e);
            }
        }

        Assert.Equal([4, 5], defaults.Entries.Select(e => e.EventId.Id));
        Assert.Equal(7, everything.Entries.Count);
    }

    [Fact]
    public void WriteTo_Logger_takes_a_factory_and_names_the_category_MemTrace()
    {
        var factory = new RecordingFactory();
        using var pipeline = new HeapEventPipelineBuilder().WriteTo.Logger(factory).Build();
        pipeline.Emit(TestEvents.Failure());

        Assert.Equal("MemTrace", factory.Category);
        Assert.Single(factory.Logger.Entries);
    }

    [Fact]
    public unsafe void A_memory_error_from_a_tracker_carries_its_address_and_region_as_fields()
    {
        var logger = new RecordingLogger(LogLevel.Trace);
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var events = new HeapEventPipelineBuilder().WriteTo.Logger(logger).Build();
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = events, SnapshotInterval = TimeSpan.Zero });
        tracker.Malloc(out byte* buffer, 64, MallocCaps.Internal);
        var copy = buffer;
        tracker.Free(ref buffer);

        tracker.Free(ref copy);

        var error = Assert.Single(heap.RecentErrors);
        var entry = Assert.Single(logger.Entries);
        Assert.Equal(5, entry.EventId.Id);
        Assert.Equal((ulong)error.Address, entry.Field("Address"));
        Assert.NotNull(error.RegionName);
        Assert.Equal(error.RegionName, entry.Field("Region"));
        Assert.Contains($"address 0x{error.Address:x}, region {error.RegionName})", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_memory_errors_entry_does_not_end_with_a_blank_line()
    {
        var logger = new RecordingLogger(LogLevel.Trace);

        new LoggerSink(logger).Emit(TestEvents.Error());

        var entry = Assert.Single(logger.Entries);
        Assert.Contains("  region DRAM", entry.Message, StringComparison.Ordinal); // The report is there...
        Assert.False(char.IsWhiteSpace(entry.Message[^1]), "the message ends with a line break"); // ...without its last line break, as ConsoleSink writes it.
        Assert.False(char.IsWhiteSpace(((string)entry.Field("Report")!)[^1]), "the report ends with a line break");
    }

    [Fact]
    public void An_event_of_a_kind_outside_the_enum_is_not_logged_as_a_snapshot()
    {
        var logger = new RecordingLogger(LogLevel.Trace);

        new LoggerSink(logger).Emit(TestEvents.Allocation() with { Kind = (HeapEventKind)42 });

        Assert.Empty(logger.Entries);
    }

    [Fact]
    public void Null_arguments_are_refused()
    {
        Assert.Throws<ArgumentNullException>(() => new LoggerSink(null!));
        Assert.Throws<ArgumentNullException>(() => new HeapEventPipelineBuilder().WriteTo.Logger((ILogger)null!));
        Assert.Throws<ArgumentNullException>(() => new HeapEventPipelineBuilder().WriteTo.Logger((ILoggerFactory)null!));

        // A null WriteTo is refused before the factory is asked for a logger.
        var factory = new RecordingFactory();
        var nullWriteTo = Assert.Throws<ArgumentNullException>(() => ((HeapEventSinkConfiguration)null!).Logger(factory));
        Assert.Equal("writeTo", nullWriteTo.ParamName);
        Assert.Null(factory.Category);

        var badLevel = Assert.Throws<ArgumentOutOfRangeException>(() => new HeapEventPipelineBuilder().WriteTo.Logger(factory, (HeapEventLevel)9));
        Assert.Equal("restrictedToMinimumLevel", badLevel.ParamName);
    }

    private sealed record Entry(LogLevel Level, EventId EventId, string Message, IReadOnlyList<KeyValuePair<string, object?>> State)
    {
        public object? Field(string name) => State.Single(p => p.Key == name).Value;
    }

    private sealed class RecordingLogger(LogLevel minimum) : ILogger
    {
        public List<Entry> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public int EnabledQueries { get; private set; }

        public bool IsEnabled(LogLevel logLevel)
        {
            EnabledQueries++;
            return logLevel >= minimum;
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Assert.True(logLevel >= minimum, "logged a level the logger said it ignores");
            var fields = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
            Entries.Add(new Entry(logLevel, eventId, formatter(state, exception), fields));
        }
    }

    private sealed class RecordingFactory : ILoggerFactory
    {
        public RecordingLogger Logger { get; } = new(LogLevel.Trace);

        public string? Category { get; private set; }

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName)
        {
            Category = categoryName;
            return Logger;
        }

        public void Dispose()
        {
        }
    }
}

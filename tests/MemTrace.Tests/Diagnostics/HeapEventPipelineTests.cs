// HeapEventPipelineBuilder and HeapEventPipeline: composition, levels, filters, one-shot Build,
// ownership, and misuse.
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public unsafe class HeapEventPipelineTests
{
    [Fact]
    public void Every_sink_receives_every_event_in_order()
    {
        var first = new ListSink();
        var second = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(first).WriteTo.Sink(second).Build();

        foreach (var e in TestEvents.OneOfEachKind())
        {
            pipeline.Emit(e);
        }

        Assert.Equal(TestEvents.OneOfEachKind().Select(e => e.Sequence), first.Events.Select(e => e.Sequence));
        Assert.Equal(first.Events.Select(e => e.Sequence), second.Events.Select(e => e.Sequence));
        Assert.Equal(2, pipeline.Sinks.Count);
    }

    [Fact]
    public void A_pipeline_serves_one_tracker_for_its_whole_life()
    {
        // Each tracker numbers its events and requests from 1: two in one trace would write the same numbers twice.
        var sink = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(sink).Build();
        using var heapA = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var heapB = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        var first = new MemoryTracker(heapA, new MemoryTrackerOptions { Output = null, Events = pipeline });

        var together = Assert.Throws<InvalidOperationException>(() => new MemoryTracker(heapB, new MemoryTrackerOptions { Output = null, Events = pipeline }));
        Assert.Contains("one pipeline per tracker", together.Message, StringComparison.Ordinal);
        Assert.Null(heapB.Observer); // The refused tracker attached nothing.

        // The first tracker goes on as before.
        var events = sink.Events.Count;
        var p = first.Malloc(16, MallocCaps.Default);
        first.Free(ref p);
        Assert.Equal(events + 2, sink.Events.Count);

        // Also one after the other.
        first.Dispose();
        Assert.Throws<InvalidOperationException>(() => new MemoryTracker(heapB, new MemoryTrackerOptions { Output = null, Events = pipeline }));
    }

    [Fact]
    public void A_tracker_that_cannot_attach_leaves_its_pipeline_free_for_another()
    {
        using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(new ListSink()).Build();
        using var heap = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var attached = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });

        Assert.Throws<InvalidOperationException>(() => new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline })); // The heap has a tracker.

        using var other = new HeapCaps(HeapLayout.Host(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(other, new MemoryTrackerOptions { Output = null, Events = pipeline });
        Assert.Same(tracker, other.Observer);
    }

    [Fact]
    public void Minimum_level_drops_lower_events_before_any_sink()
    {
        var sink = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder().MinimumLevel(HeapEventLevel.Warning).WriteTo.Sink(sink).Build();

        foreach (var e in TestEvents.OneOfEachKind())
        {
            pipeline.Emit(e);
        }

        Assert.Equal([HeapEventKind.FailedAllocation, HeapEventKind.MemoryError], sink.Events.Select(e => e.Kind));
        Assert.False(pipeline.IsEnabled(HeapEventKind.Allocation));
        Assert.True(pipeline.IsEnabled(HeapEventKind.MemoryError));
    }

    [Fact]
    public void A_sink_restricted_to_a_level_sees_only_that_level_while_others_see_everything()
    {
        var errorsOnly = new ListSink();
        var everything = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder()
            .WriteTo.Sink(errorsOnly, HeapEventLevel.Error)
            .WriteTo.Sink(everything)
            .Build();

        foreach (var e in TestEvents.OneOfEachKind())
        {
            pipeline.Emit(e);
        }

        Assert.Equal([HeapEventKind.MemoryError], errorsOnly.Events.Select(e => e.Kind));
        Assert.Equal(7, everything.Events.Count);
    }

    [Fact]
    public void Filters_include_exclude_and_select_kinds()
    {
        var sink = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder()
            .Filter.ByKinds(HeapEventKind.Allocation, HeapEventKind.Free, HeapEventKind.Reallocation)
            .Filter.ByExcluding((in HeapEvent e) => e.Kind == HeapEventKind.Free)
            .Filter.ByIncludingOnly((in HeapEvent e) => e.Size >= 256)
            .WriteTo.Sink(sink)
            .Build();

        foreach (var e in TestEvents.OneOfEachKind())
        {
            pipeline.Emit(e);
        }

        pipeline.Emit(TestEvents.Allocation(sequence: 99, size: 16));

        Assert.Equal([HeapEventKind.Allocation, HeapEventKind.Reallocation], sink.Events.Select(e => e.Kind));
    }

    [Fact]
    public void Build_runs_once_and_the_builder_refuses_changes_afterwards()
    {
        var builder = new HeapEventPipelineBuilder();
        using var pipeline = builder.Build();

        Assert.Throws<InvalidOperationException>(() => builder.Build());
        Assert.Throws<InvalidOperationException>(() => builder.WriteTo.Sink(new ListSink()));
        Assert.Throws<InvalidOperationException>(() => builder.Filter.ByKinds(HeapEventKind.Free));
        Assert.Throws<InvalidOperationException>(() => builder.MinimumLevel(HeapEventLevel.Error));
    }

    [Fact]
    public void Misuse_is_rejected_when_configuring()
    {
        var builder = new HeapEventPipelineBuilder();

        Assert.Throws<ArgumentNullException>(() => builder.WriteTo.Sink((IHeapEventSink)null!));
        Assert.Throws<ArgumentNullException>(() => builder.WriteTo.Sink((Func<IHeapEventSink>)null!));
        Assert.Throws<ArgumentNullException>(() => builder.Filter.ByIncludingOnly(null!));
        Assert.Throws<ArgumentNullException>(() => builder.Filter.ByExcluding(null!));
        Assert.Throws<ArgumentException>(() => builder.Filter.ByKinds());
        Assert.Throws<ArgumentException>(() => builder.Filter.ByKinds((HeapEventKind)42));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.MinimumLevel((HeapEventLevel)9));
        var badLevel = Assert.Throws<ArgumentOutOfRangeException>(() => builder.WriteTo.Sink(new ListSink(), (HeapEventLevel)(-1)));
        Assert.Equal("restrictedToMinimumLevel", badLevel.ParamName); // The caller's parameter, not the builder's own.
        Assert.ThrowsAny<ArgumentException>(() => builder.WriteTo.TraceFile(string.Empty));
    }

    [Fact]
    public void An_empty_pipeline_accepts_events_and_reports_nothing_enabled()
    {
        using var pipeline = new HeapEventPipelineBuilder().Build();

        pipeline.Emit(TestEvents.Allocation());

        Assert.Empty(pipeline.Sinks);
        Assert.False(pipeline.IsEnabled(HeapEventKind.MemoryError));
    }

    [Fact]
    public void Threads_disposing_the_pipeline_at_once_dispose_each_sink_once()
    {
        for (var round = 0; round < 5000; round++)
        {
            var sink = new DisposalCountingSink();
            var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(sink).Build();
            using var start = new Barrier(4);
            var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                pipeline.Dispose();
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            Assert.Equal(1, sink.Disposals);
        }
    }

    [Fact]
    public void Disposing_the_pipeline_disposes_its_sinks_and_stops_delivery()
    {
        var sink = new ListSink();
        var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(sink).Build();

        pipeline.Dispose();
        pipeline.Dispose();
        pipeline.Emit(TestEvents.Allocation());

        Assert.True(sink.Disposed);
        Assert.Empty(sink.Events);
        Assert.False(pipeline.IsEnabled(HeapEventKind.MemoryError));
    }

    [Fact]
    public void A_sink_factory_that_fails_disposes_the_sinks_built_before_it()
    {
        var built = new ListSink();
        var builder = new HeapEventPipelineBuilder()
            .WriteTo.Sink(() => built)
            .WriteTo.Sink(() => throw new IOException("disk gone"));

        var e = Assert.Throws<IOException>(() => builder.Build());

        Assert.Equal("disk gone", e.Message);
        Assert.True(built.Disposed);
    }

    [Fact]
    public void A_sink_factory_that_returns_null_fails_Build_and_disposes_the_sinks_built_before_it()
    {
        // A null sink used to be kept: Sinks held null and Emit threw a NullReferenceException from its own catch.
        var built = new ListSink();
        var builder = new HeapEventPipelineBuilder()
            .WriteTo.Sink(() => built)
            .WriteTo.Sink(() => null!);

        Assert.Throws<InvalidOperationException>(() => builder.Build());
        Assert.True(built.Disposed);
    }

    [Fact]
    public void A_trace_file_in_a_missing_directory_fails_at_Build_with_the_IO_error()
    {
        var path = Path.Combine(Path.GetTempPath(), "memtrace-no-such-dir-" + Guid.NewGuid().ToString("N"), "trace.jsonl");
        var builder = new HeapEventPipelineBuilder().WriteTo.TraceFile(path);

        Assert.Throws<DirectoryNotFoundException>(() => builder.Build());
    }

    [Fact]
    public unsafe void A_trackers_events_below_the_pipelines_minimum_level_are_never_built()
    {
        // The tracker reads the pipeline's kinds and builds no event of the others: none takes a number.
        var sink = new ListSink();
        using var pipeline = new HeapEventPipelineBuilder().MinimumLevel(HeapEventLevel.Error).WriteTo.Sink(sink).Build();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using (var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline }))
        {
            var p = tracker.Malloc(64, MallocCaps.Default);
            tracker.Free(ref p);
            Assert.Equal(0, tracker.LastEventSequence);
        }

        Assert.Empty(sink.Events);
    }

    [Fact]
    public void The_pipelines_kinds_are_what_its_levels_and_kind_filters_let_through_to_some_sink()
    {
        using var mixed = new HeapEventPipelineBuilder()
            .WriteTo.Sink(new ListSink(), HeapEventLevel.Error)
            .WriteTo.Sink(new ListSink(), HeapEventLevel.Information)
            .Build();
        using var filtered = new HeapEventPipelineBuilder()
            .Filter.ByKinds(HeapEventKind.Allocation, HeapEventKind.Free, HeapEventKind.MemoryError)
            .Filter.ByKinds(HeapEventKind.Free, HeapEventKind.MemoryError, HeapEventKind.Snapshot)
            .WriteTo.Sink(new ListSink())
            .Build();

        Assert.Equal(
            [HeapEventKind.FailedAllocation, HeapEventKind.MemoryError, HeapEventKind.Checkpoint],
            Enum.GetValues<HeapEventKind>().Where(mixed.IsEnabled));
        Assert.Equal([HeapEventKind.Free, HeapEventKind.MemoryError], Enum.GetValues<HeapEventKind>().Where(filtered.IsEnabled));
        Assert.False(filtered.IsEnabled((HeapEventKind)42));
    }

    /// <summary>A sink that counts its Dispose calls, and takes a moment over each (a file closing).</summary>
    private sealed class DisposalCountingSink : IHeapEventSink, IDisposable
    {
        private int _disposals;

        public int Disposals => Volatile.Read(ref _disposals);

        public void Emit(in HeapEvent heapEvent)
        {
        }

        public void Dispose()
        {
            Interlocked.Increment(ref _disposals);
            Thread.SpinWait(1000);
        }
    }
}

[Collection(SelfLogCollection.Name)]
public class HeapEventPipelineSelfLogTests
{
    [Fact]
    public void A_throwing_sink_is_reported_to_the_self_log_and_the_next_sink_still_receives_the_event()
    {
        var after = new ListSink();
        var messages = SelfLogCollection.Capture(() =>
        {
            using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(new ThrowingSink()).WriteTo.Sink(after).Build();
            pipeline.Emit(TestEvents.Allocation());
            pipeline.Emit(TestEvents.Free());
        });

        Assert.Equal(2, after.Events.Count);
        Assert.Equal(2, messages.Count(m => m.Contains("emitting an event of kind Allocation to sink ThrowingSink", StringComparison.Ordinal) || m.Contains("emitting an event of kind Free to sink ThrowingSink", StringComparison.Ordinal)));
        Assert.Contains(messages, m => m.Contains("ThrowingSink threw while being disposed", StringComparison.Ordinal));
    }

    [Fact]
    public void A_failed_Build_disposes_every_sink_built_before_it_and_throws_the_factorys_exception_even_when_a_Dispose_throws()
    {
        // The clean-up disposed the built sinks with no catch: a sink whose Dispose threw replaced the factory's
        // exception (the caller saw "dispose failure", not the IO error) and left the sinks after it undisposed.
        var after = new ListSink();
        var builder = new HeapEventPipelineBuilder()
            .WriteTo.Sink(new ThrowingSink())
            .WriteTo.Sink(after)
            .WriteTo.Sink(() => throw new IOException("disk gone"));
        Exception? thrown = null;

        var messages = SelfLogCollection.Capture(() => thrown = Record.Exception(() => builder.Build()));

        Assert.Equal("disk gone", Assert.IsType<IOException>(thrown).Message);
        Assert.True(after.Disposed);
        Assert.Contains(messages, m => m.Contains("ThrowingSink threw while being disposed", StringComparison.Ordinal));
    }

    [Fact]
    public void A_throwing_filter_drops_the_event_and_is_reported()
    {
        var sink = new ListSink();
        var messages = SelfLogCollection.Capture(() =>
        {
            using var pipeline = new HeapEventPipelineBuilder()
                .Filter.ByIncludingOnly((in HeapEvent e) => e.Kind == HeapEventKind.Free ? throw new InvalidOperationException("bad filter") : true)
                .WriteTo.Sink(sink)
                .Build();
            pipeline.Emit(TestEvents.Allocation());
            pipeline.Emit(TestEvents.Free());
        });

        Assert.Equal([HeapEventKind.Allocation], sink.Events.Select(e => e.Kind));
        Assert.Contains(messages, m => m.Contains("threw on an event of kind Free, which was dropped", StringComparison.Ordinal));
    }

    [Fact]
    public void A_sink_exception_that_cannot_be_described_is_still_caught_and_the_next_sink_gets_the_event()
    {
        // Reporting the exception formatted it (its Message getter threw) outside any catch: Emit threw, and so
        // did Dispose, leaving the sinks after it undisposed.
        var after = new ListSink();
        var messages = SelfLogCollection.Capture(() =>
        {
            using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(new UndescribableSink()).WriteTo.Sink(after).Build();
            using var single = new HeapEventPipelineBuilder()
                .WriteTo.Sink(new UndescribableSink())
                .Filter.ByIncludingOnly((in HeapEvent e) => throw new UndescribableException())
                .Build();
            pipeline.Emit(TestEvents.Allocation());
            single.Emit(TestEvents.Allocation());
        });

        Assert.Single(after.Events);
        Assert.True(after.Disposed);
        Assert.Contains(messages, m => m.Contains("sink UndescribableSink", StringComparison.Ordinal) && m.Contains(nameof(UndescribableException), StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("which was dropped", StringComparison.Ordinal) && m.Contains(nameof(UndescribableException), StringComparison.Ordinal));
    }

    private sealed class UndescribableException : Exception
    {
        public override string Message => throw new InvalidOperationException("no message");
    }

    private sealed class UndescribableSink : IHeapEventSink, IDisposable
    {
        public void Emit(in HeapEvent heapEvent) => throw new UndescribableException();

        public void Dispose() => throw new UndescribableException();
    }

    [Fact]
    public unsafe void A_throwing_sink_in_a_trackers_pipeline_never_breaks_an_allocation()
    {
        var after = new ListSink();
        var messages = SelfLogCollection.Capture(() =>
        {
            using var pipeline = new HeapEventPipelineBuilder().WriteTo.Sink(new ThrowingSink()).WriteTo.Sink(after).Build();
            using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = pipeline, SnapshotInterval = TimeSpan.Zero });
            tracker.Malloc(out byte* block, 100, MallocCaps.Default);
            Assert.True(block != null);
            tracker.Free(ref block);
            Assert.True(block == null);
            Assert.Equal(0, tracker.LiveBlocks);
        });

        Assert.Contains(after.Events, e => e.Kind == HeapEventKind.Allocation);
        Assert.Contains(after.Events, e => e.Kind == HeapEventKind.Free);
        Assert.Contains(messages, m => m.Contains("sink ThrowingSink", StringComparison.Ordinal));
    }

    [Fact]
    public unsafe void A_plain_sink_whose_exception_cannot_be_described_never_breaks_an_allocation()
    {
        // A sink given to the tracker directly (no pipeline): the tracker's own catch formatted the exception, and a
        // Message getter that throws escaped into the allocation.
        var messages = SelfLogCollection.Capture(() =>
        {
            using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
            using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null, Events = new UndescribableSink(), SnapshotInterval = TimeSpan.Zero });
            tracker.Malloc(out byte* block, 100, MallocCaps.Default);
            Assert.True(block != null);
            tracker.Free(ref block);
            Assert.Equal(0, tracker.LiveBlocks);
        });

        Assert.Contains(messages, m => m.Contains("sink UndescribableSink", StringComparison.Ordinal) && m.Contains(nameof(UndescribableException), StringComparison.Ordinal));
    }
}

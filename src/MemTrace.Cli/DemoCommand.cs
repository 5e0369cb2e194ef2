// `memtrace demo`: the seed's example program (its README's app_main), step by step. With
// --trace, a short workload afterwards fills a trace for `memtrace report`; with --metrics, the
// tracker publishes the "MemTrace" meter and heap traffic goes on for --duration seconds so that
// dotnet-counters (or any metrics tool) can watch a running program.
using System.CommandLine;
using System.Text;
using MemTrace.Diagnostics;

namespace MemTrace.Cli;

/// <summary>The <c>demo</c> command.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var layout = LayoutOption.Create();
        var trace = new Option<string?>("--trace") { Description = "Also write a JSON Lines trace of every heap event to this file, after a short workload that gives `memtrace report` something to show." };
        var metrics = new Option<bool>("--metrics") { Description = "Publish the meter 'MemTrace' (live bytes and blocks, free, minimum free and largest free block per region and caps, counters, size histogram) and keep heap traffic running for --duration seconds: watch it with `dotnet-counters monitor -p PID --counters MemTrace`. Failures and memory errors are counted, not printed, while it runs." };
        var duration = new Option<int>("--duration") { Description = "With --metrics: how long the traffic runs, in seconds (Ctrl+C stops it earlier).", DefaultValueFactory = _ => DefaultMetricsSeconds };
        var command = new Command("demo", "Run the seed's example: two tracked allocations, listings, frees, then memory info.")
        {
            layout,
            trace,
            metrics,
            duration,
        };
        duration.Validators.Add(result =>
        {
            if (IsOutOfRange(result))
            {
                result.AddError("--duration must be between 1 and 86400 seconds.");
            }
        });
        command.Validators.Add(result =>
        {
            // Given without --metrics it would change nothing: say so rather than run a demo that ignores it.
            if (result.GetResult(duration) is { Implicit: false } && !result.GetValue(metrics))
            {
                result.AddError("--duration applies only with --metrics.");
            }
        });
        command.SetAction(result =>
        {
            var output = result.InvocationConfiguration.Output;
            var error = result.InvocationConfiguration.Error;
            var chosen = LayoutOption.Resolve(result.GetValue(layout)!, error);
            if (chosen is null)
            {
                return 2;
            }

            if (!result.GetValue(metrics))
            {
                return Run(output, chosen, result.GetValue(trace), error);
            }

            // Only the metrics traffic runs long enough to stop early: Ctrl+C ends it cleanly (elsewhere it ends the demo).
            using var stop = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                stop.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                return RunWithMetrics(output, chosen, result.GetValue(trace), TimeSpan.FromSeconds(result.GetValue(duration)), stop.Token, error);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        });
        return command;
    }

    /// <summary>How long --metrics keeps the traffic running when --duration is not given.</summary>
    public const int DefaultMetricsSeconds = 30;

    /// <summary>Runs the demo on the default layout (an ESP32 with 4 MiB of PSRAM).</summary>
    public static int Run(TextWriter output) => Run(output, HeapLayout.FromName(LayoutOption.DefaultName));

    /// <summary>
    /// Runs the demo; returns the exit code: 0 when every step behaved as expected, 1 when one did not, 2 when the layout's
    /// memory map cannot be built or the trace file cannot be created.
    /// </summary>
    /// <param name="output">Where the demo writes.</param>
    /// <param name="layout">The memory map to run on.</param>
    /// <param name="tracePath">A trace file to write, or null.</param>
    /// <param name="error">Where a layout that cannot be built is reported; null for <paramref name="output"/>.</param>
    public static int Run(TextWriter output, HeapLayout layout, string? tracePath = null, TextWriter? error = null) =>
        Run(output, layout, tracePath, error, null, CancellationToken.None);

    /// <summary>Runs the demo, then publishes the meter and keeps heap traffic running for <paramref name="period"/> or until <paramref name="stop"/>.</summary>
    public static int RunWithMetrics(TextWriter output, HeapLayout layout, string? tracePath, TimeSpan period, CancellationToken stop, TextWriter? error = null) =>
        Run(output, layout, tracePath, error, period, stop);

    private static unsafe int Run(TextWriter output, HeapLayout layout, string? tracePath, TextWriter? error, TimeSpan? metricsFor, CancellationToken stop)
    {
        using var heap = CreateHeap(layout, metricsFor is null ? output : null, error ?? output);
        if (heap is null)
        {
            return 2;
        }

        using var events = DemoWorkload.OpenTrace(tracePath, error ?? output, out var traceWriter);
        if (tracePath is not null && events is null)
        {
            return 2;
        }

        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output, Events = events });
        using var metrics = metricsFor is null ? null : new HeapMetrics(tracker);

        output.WriteLine($"MemTrace demo on the '{heap.Layout.Name}' layout");
        output.WriteLine();

        // debug_track_allocation = true;
        tracker.Enabled = true;

        // char *buffer = TRACE_CALLOC(1, 256, MALLOC_CAP_8BIT);
        if (!tracker.Calloc(out byte* buffer, 1, 256, MallocCaps.Bit8))
        {
            output.WriteLine("Failed to allocate buffer!");
            return 1;
        }

        // char *debug_string = TRACE_CALLOC(1, 512, MALLOC_CAP_SPIRAM);
        // On a layout without PSRAM this fails, as on such a chip: the tracker logs it, and the demo goes on.
        if (!tracker.Calloc(out byte* debug_string, 1, 512, MallocCaps.Spiram))
        {
            output.WriteLine("(debug_string: no PSRAM on this layout; the failure is logged above)");
        }

        // snprintf(buffer, 256, "Hello from memory tracking!");
        var written = Encoding.ASCII.GetBytes("Hello from memory tracking!", new Span<byte>(buffer, 255));
        buffer[written] = 0;
        output.WriteLine($"buffer holds: \"{Encoding.ASCII.GetString(buffer, written)}\"");
        output.WriteLine();

        output.WriteLine("== list_allocations() after two allocations");
        var afterAlloc = tracker.ListAllocations(output);
        output.WriteLine();

        // free_unregister_allocation((void **)&buffer);
        tracker.Free(ref buffer);
        output.WriteLine($"== free_unregister_allocation(&buffer): buffer is now {(buffer is null ? "NULL" : "not NULL")}");
        var afterFirstFree = tracker.ListAllocations(output);
        output.WriteLine();

        tracker.Free(ref debug_string);
        output.WriteLine($"== free_unregister_allocation(&debug_string): debug_string is now {(debug_string is null ? "NULL" : "not NULL")}");
        var afterSecondFree = tracker.ListAllocations(output);
        output.WriteLine();

        output.WriteLine("== print_memory_info(\"demo\")");
        tracker.PrintMemoryInfo("demo", output);
        output.WriteLine();
        output.WriteLine("== heap_caps_print_heap_info(MALLOC_CAP_DEFAULT)");
        heap.PrintHeapInfo(MallocCaps.Default, output);

        var expected = tracker.FailedAllocationCount == 0 ? 2 : 1;
        var ok = afterAlloc.Count == expected && afterFirstFree.Count == expected - 1 && afterSecondFree.Count == 0
            && buffer is null && debug_string is null && heap.ErrorCount == 0;
        if (events is not null)
        {
            DemoWorkload.Run(tracker, output);
        }

        if (metricsFor is { } period)
        {
            DemoWorkload.RunForMetrics(tracker, output, period, stop);
        }

        if (events is not null)
        {
            // The tracker's last events (its final snapshot) go into the trace before it is closed.
            metrics?.Dispose();
            tracker.Dispose();
            if (!DemoWorkload.CloseTrace(events, traceWriter!, tracePath!, output, error ?? output))
            {
                return 1;
            }
        }

        return ok ? 0 : 1;
    }

    /// <summary>
    /// Whether --duration is a whole number outside 1..86400. Text that is not one is left to the parser's own error:
    /// reading the value (GetValueOrDefault) would throw there.
    /// </summary>
    private static bool IsOutOfRange(System.CommandLine.Parsing.OptionResult duration) =>
        duration.Tokens is [var token]
        && int.TryParse(token.Value, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
        && seconds is < 1 or > 86_400;

    /// <summary>The heap of <paramref name="layout"/>, or null with the reason written to <paramref name="error"/> (its regions' memory could not be had).</summary>
    private static HeapCaps? CreateHeap(HeapLayout layout, TextWriter? errorOutput, TextWriter error)
    {
        try
        {
            return new HeapCaps(layout, new HeapCapsOptions { ErrorOutput = errorOutput });
        }
        catch (Exception e) when (e is ArgumentException or OutOfMemoryException)
        {
            error.WriteLine($"memtrace: cannot build the memory map of layout '{layout.Name}': {e.Message}");
            return null;
        }
    }
}

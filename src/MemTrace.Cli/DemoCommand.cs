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
            if (result.GetValueOrDefault<int>() is < 1 or > 86_400)
            {
                result.AddError("--duration must be between 1 and 86400 seconds.");
            }
        });
        command.SetAction(result =>
        {
            var chosen = LayoutOption.Resolve(result.GetValue(layout)!, Console.Error);
            if (chosen is null)
            {
                return 2;
            }

            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                stop.Cancel();
            };
            return result.GetValue(metrics)
                ? RunWithMetrics(Console.Out, chosen, result.GetValue(trace), TimeSpan.FromSeconds(result.GetValue(duration)), stop.Token)
                : Run(Console.Out, chosen, result.GetValue(trace));
        });
        return command;
    }

    /// <summary>How long --metrics keeps the traffic running when --duration is not given.</summary>
    public const int DefaultMetricsSeconds = 30;

    /// <summary>Runs the demo on the default layout (an ESP32 with 4 MiB of PSRAM).</summary>
    public static int Run(TextWriter output) => Run(output, HeapLayout.FromName(LayoutOption.DefaultName));

    /// <summary>Runs the demo; returns the exit code (0 when every step behaved as expected, 2 when the trace file cannot be created).</summary>
    public static int Run(TextWriter output, HeapLayout layout, string? tracePath = null) => Run(output, layout, tracePath, null, CancellationToken.None);

    /// <summary>Runs the demo, then publishes the meter and keeps heap traffic running for <paramref name="period"/> or until <paramref name="stop"/>.</summary>
    public static int RunWithMetrics(TextWriter output, HeapLayout layout, string? tracePath, TimeSpan period, CancellationToken stop) => Run(output, layout, tracePath, period, stop);

    private static unsafe int Run(TextWriter output, HeapLayout layout, string? tracePath, TimeSpan? metricsFor, CancellationToken stop)
    {
        using var events = DemoWorkload.OpenTrace(tracePath, output);
        if (tracePath is not null && events is null)
        {
            return 2;
        }

        using var heap = new HeapCaps(layout, new HeapCapsOptions { ErrorOutput = metricsFor is null ? output : null });
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
            DemoWorkload.Run(tracker, output, tracePath!);
        }

        if (metricsFor is { } period)
        {
            DemoWorkload.RunForMetrics(tracker, output, period, stop);
        }

        return ok ? 0 : 1;
    }
}

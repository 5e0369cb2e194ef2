// The workload of `memtrace demo --trace FILE`: after the seed's example, about a second and a
// half of firmware-like heap traffic so that the trace has something to show in
// `memtrace report` — packet buffers coming and going in internal DMA memory, camera frames in
// PSRAM, internal memory filled and half freed (fragmentation), one request too large for any
// region (a failed allocation), one deliberate double free (a memory error), a packet grown in
// place or moved (a realloc), a checkpoint when traffic starts, and two blocks left allocated on
// purpose (leaks): every kind of event. Seeded, so every run draws the same sizes.
//
// RunForMetrics is the traffic of `memtrace demo --metrics`: steady packet traffic around a few
// long-lived tables, with a failed request and a double free four times a second, so that every
// instrument of the MemTrace meter moves while a tool watches.
using MemTrace.Diagnostics;

namespace MemTrace.Cli;

internal static unsafe class DemoWorkload
{
    /// <summary>The event pipeline that writes the trace, or null (with the reason written to <paramref name="error"/>) when it cannot be created.</summary>
    public static HeapEventPipeline? OpenTrace(string? tracePath, TextWriter error, out TraceFileWriter? writer)
    {
        writer = null;
        if (tracePath is null)
        {
            return null;
        }

        if (Directory.Exists(tracePath))
        {
            error.WriteLine($"memtrace: cannot create trace file '{tracePath}': it is a directory.");
            return null;
        }

        try
        {
            writer = new TraceFileWriter(tracePath);
            return new HeapEventPipelineBuilder().WriteTo.Sink(writer).Build(); // The pipeline owns the writer.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error.WriteLine($"memtrace: cannot create trace file '{tracePath}': {e.Message}");
            return null;
        }
    }

    public static void Run(MemoryTracker tracker, TextWriter output)
    {
        var heap = tracker.Heap;
        var random = new Random(5);
        output.WriteLine();
        output.WriteLine("== workload for the trace: packets, frames, fragmentation, a failure, an error, two leaks");

        // Boot: tables that live as long as the program; nobody frees them, so they are the leaks at the end.
        tracker.Malloc(out byte* config_table, 4096, MallocCaps.Internal | MallocCaps.Bit8);
        tracker.Calloc(out byte* wifi_rx_buffers, 8, 1600, MallocCaps.Dma);

        // Traffic: a queue of packet buffers whose depth swells and shrinks; a PSRAM frame every 40 packets.
        tracker.Checkpoint("traffic");
        var packets = new Queue<nint>();
        var frames = new Queue<nint>();
        for (var i = 0; i < 1600; i++)
        {
            if (tracker.Malloc(out byte* packet, (nuint)random.Next(64, 1537), MallocCaps.Dma | MallocCaps.Bit8))
            {
                if (i == 800)
                {
                    // A fragmented datagram: its buffer grows to hold the next fragment.
                    tracker.Realloc(ref packet, 1600, MallocCaps.Dma | MallocCaps.Bit8);
                }

                packets.Enqueue((nint)packet);
            }

            var depth = 40 + (int)(35 * Math.Sin(i / 160.0));
            while (packets.Count > depth)
            {
                var done = (byte*)packets.Dequeue();
                tracker.Free(ref done);
            }

            if (i % 40 == 0)
            {
                if (tracker.Malloc(out byte* frame, (nuint)random.Next(64, 257) * 1024, MallocCaps.Spiram))
                {
                    frames.Enqueue((nint)frame);
                }

                while (frames.Count > 1 + (i / 200 % 5))
                {
                    var shown = (byte*)frames.Dequeue();
                    tracker.Free(ref shown);
                }
            }

            if (i % 25 == 0)
            {
                Thread.Sleep(15);
            }
        }

        // Fragmentation: fill most of internal memory with 2 KiB blocks, then free every other one.
        var chunks = new List<nint>();
        var target = (long)heap.GetFreeSize(MallocCaps.Internal | MallocCaps.Bit8) * 7 / 10;
        for (long held = 0; held < target; held += 2048)
        {
            if (!tracker.Malloc(out byte* chunk, 2048, MallocCaps.Internal | MallocCaps.Bit8))
            {
                break;
            }

            chunks.Add((nint)chunk);
            if (chunks.Count % 20 == 0)
            {
                Thread.Sleep(10);
            }
        }

        for (var i = 0; i < chunks.Count; i += 2)
        {
            var chunk = (byte*)chunks[i];
            tracker.Free(ref chunk);
        }

        // Light traffic while internal memory is fragmented: snapshots come with events, so this shows the state for a while.
        for (var i = 0; i < 30; i++)
        {
            tracker.Malloc(out byte* log_line, (nuint)random.Next(32, 200), MallocCaps.Spiram);
            tracker.Free(ref log_line);
            Thread.Sleep(10);
        }

        // A request no region can satisfy: logged, and a failed-allocation event.
        tracker.Malloc(out byte* video_buffer, 8 * 1024 * 1024, MallocCaps.Spiram);
        output.WriteLine(video_buffer is null ? "(the 8 MiB video_buffer request failed, as intended)" : "video_buffer was allocated?");

        // A deliberate double free: reported, not done, and a memory-error event.
        tracker.Malloc(out byte* scratch, 96, MallocCaps.Default);
        var alias = scratch;
        tracker.Free(ref scratch);
        output.WriteLine("(a deliberate double free follows)");
        tracker.Free(ref alias);

        for (var i = 1; i < chunks.Count; i += 2)
        {
            var chunk = (byte*)chunks[i];
            tracker.Free(ref chunk);
            if (i % 40 == 1)
            {
                Thread.Sleep(5);
            }
        }

        while (packets.TryDequeue(out var left))
        {
            var done = (byte*)left;
            tracker.Free(ref done);
        }

        while (frames.TryDequeue(out var left))
        {
            var shown = (byte*)left;
            tracker.Free(ref shown);
        }

        output.WriteLine($"== trace: {tracker.TotalAllocations} allocations, {tracker.LiveBlocks} blocks left live on purpose (config_table at 0x{(nuint)config_table:x}, wifi_rx_buffers at 0x{(nuint)wifi_rx_buffers:x})");
    }

    /// <summary>
    /// Closes the trace (every event written, the file flushed) and says where it is, or, when events could not be
    /// written (a full disk, a failing device: the reasons went to the self-log), how many: false then.
    /// </summary>
    public static bool CloseTrace(HeapEventPipeline events, TraceFileWriter writer, string tracePath, TextWriter output, TextWriter error)
    {
        events.Dispose();
        var lost = writer.EventsDropped;
        if (lost > 0)
        {
            error.WriteLine($"memtrace: {lost} of {writer.EventsWritten + lost} events could not be written to the trace '{tracePath}'; it is incomplete.");
            return false;
        }

        output.WriteLine($"   written to {tracePath}; see it with: memtrace report {tracePath} --html report.html");
        return true;
    }

    /// <summary>Steady traffic for --metrics: until <paramref name="period"/> has passed or <paramref name="stop"/> is signalled.</summary>
    public static void RunForMetrics(MemoryTracker tracker, TextWriter output, TimeSpan period, CancellationToken stop)
    {
        var random = new Random(7);

        // Long-lived tables: what the live figures show between rounds.
        tracker.Malloc(out byte* sensor_table, 2048, MallocCaps.Internal | MallocCaps.Bit8);
        tracker.Calloc(out byte* dma_descriptors, 16, 256, MallocCaps.Dma);
        var pid = Environment.ProcessId;
        output.WriteLine();
        output.WriteLine($"== metrics: meter '{HeapMetrics.MeterName}' of process {pid}, traffic for {period.TotalSeconds:F0} s; watch it with: dotnet-counters monitor -p {pid} --counters {HeapMetrics.MeterName}");
        output.Flush();

        // Failures are counted, not logged with heap information each time (the heap's error reports are off too).
        var log = tracker.Output;
        tracker.Output = null;
        var packets = new Queue<nint>();
        var end = Environment.TickCount64 + (long)period.TotalMilliseconds;
        for (var round = 0; Environment.TickCount64 < end && !stop.IsCancellationRequested; round++)
        {
            for (var i = 0; i < 50; i++)
            {
                if (tracker.Malloc(out byte* packet, (nuint)random.Next(64, 1537), MallocCaps.Dma | MallocCaps.Bit8))
                {
                    packets.Enqueue((nint)packet);
                }

                while (packets.Count > 32)
                {
                    var done = (byte*)packets.Dequeue();
                    tracker.Free(ref done);
                }
            }

            if (round % 5 == 0)
            {
                // Four times a second: a request no region can serve, and a double free (counted, not printed).
                tracker.Malloc(out byte* video_buffer, 8 * 1024 * 1024, MallocCaps.Spiram);
                tracker.Malloc(out byte* scratch, 96, MallocCaps.Default);
                var alias = scratch;
                tracker.Free(ref scratch);
                tracker.Free(ref alias);
            }

            stop.WaitHandle.WaitOne(50);
        }

        while (packets.TryDequeue(out var left))
        {
            var done = (byte*)left;
            tracker.Free(ref done);
        }

        tracker.Free(ref sensor_table);
        tracker.Free(ref dma_descriptors);
        tracker.Output = log;
        output.WriteLine($"== metrics: {tracker.TotalAllocations} allocations, {tracker.FailedAllocationCount} failed, {tracker.Heap.ErrorCount} memory errors");
    }
}

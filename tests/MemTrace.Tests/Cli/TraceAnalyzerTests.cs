// TraceAnalyzer: the figures of the report on a trace small enough to check by hand, and a
// trace far larger than the memory the analysis may use, read as a stream.
using System.Text;
using MemTrace.Cli.Report;
using MemTrace.Diagnostics;
using MemTrace.Tests.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

public class TraceAnalyzerTests
{
    private static readonly CallSite s_siteA = new(AllocationMethod.Malloc, "/src/a.cs", 10, "Load", "table");
    private static readonly CallSite s_siteB = new(AllocationMethod.Calloc, "/src/b.cs", 20, "Send", "packet");

    [Fact]
    public void Peak_leaks_and_call_sites_are_computed_from_the_events()
    {
        var t0 = TestEvents.Time;
        HeapEvent[] events =
        [
            Event(HeapEventKind.Allocation, 1, 0xA0, 100, s_siteA, t0),
            Event(HeapEventKind.Allocation, 2, 0xB0, 200, s_siteB, t0.AddMilliseconds(100)),   // live 300
            Event(HeapEventKind.Free, 3, 0xA0, 100, s_siteA, t0.AddMilliseconds(200)),         // live 200
            Event(HeapEventKind.Reallocation, 4, 0xC0, 300, s_siteB, t0.AddMilliseconds(300)) with { PreviousAddress = 0xB0, PreviousSize = 200 }, // live 300
            Event(HeapEventKind.Allocation, 5, 0xD0, 50, s_siteA, t0.AddMilliseconds(400)),    // live 350: the peak
            Event(HeapEventKind.Free, 6, 0xEE, 8, s_siteA, t0.AddMilliseconds(500)),           // never allocated in the trace
            TestEvents.Failure() with { Time = t0.AddMilliseconds(600) },
            TestEvents.Error() with { Time = t0.AddMilliseconds(700) },
        ];

        var a = Analyze(events);

        Assert.Equal(350, a.PeakBytes);
        Assert.Equal(2, a.PeakBlocks);
        Assert.Equal(0.4, a.PeakSeconds, 3);
        Assert.Equal(0.7, a.DurationSeconds, 3);
        Assert.Equal((3L, 2L, 1L, 1L, 1L, 1L), (a.Allocations, a.Frees, a.Reallocations, a.Failures, a.Errors, a.UnknownFrees));
        Assert.Equal((2L, 350L), (a.LiveBlocksAtEnd, a.LiveBytesAtEnd));
        Assert.Equal([(s_siteB, 1L, 300L), (s_siteA, 1L, 50L)], a.LeaksBySite.Select(r => (r.Site, r.Blocks, r.Bytes)));
        Assert.Equal("#5", "#" + a.LeaksBySite[1].FirstRequest);
        Assert.Equal([(s_siteB, 200L), (s_siteA, 150L)], a.TopSitesByBytes.Select(r => (r.Site, r.Bytes)));
        Assert.Equal([(s_siteA, 2L), (s_siteB, 1L)], a.TopSitesByCount.Select(r => (r.Site, r.Blocks)));
        Assert.Equal(350, a.PeakByRegion["DRAM"]);
        Assert.Equal(1, a.SizeHistogram[5]);  // 50 in [32, 64)
        Assert.Equal(1, a.SizeHistogram[6]);  // 100 in [64, 128)
        Assert.Equal(1, a.SizeHistogram[7]);  // 200 in [128, 256)
        Assert.Equal("video_buffer", a.FailureList.Single().Site.VariableName);
        Assert.Equal("DoubleFree", a.ErrorList.Single().Kind);
        Assert.Equal(350, a.InUseTotal.Max(p => p.Value));
    }

    [Fact]
    public void Snapshots_give_the_free_and_largest_free_block_series_of_each_region_name()
    {
        RegionSnapshot Region(string name, nuint free, nuint largest) => new(name, MallocCaps.Internal, 1000, free, largest, free, false);
        HeapEvent Snapshot(int ms, params RegionSnapshot[] regions) => TestEvents.Snapshot() with { Time = TestEvents.Time.AddMilliseconds(ms), Regions = regions };

        var a = Analyze(
        [
            Snapshot(0, Region("DRAM", 900, 800), Region("DRAM", 500, 400), Region("IRAM", 100, 100)),
            Snapshot(500, Region("DRAM", 600, 100), Region("DRAM", 500, 300), Region("IRAM", 100, 100)),
        ]);

        Assert.Equal([800.0, 300.0], a.LargestFreeByRegion["DRAM"].Select(p => p.Value));
        Assert.Equal([1400.0, 1100.0], a.FreeByRegion["DRAM"].Select(p => p.Value));
        var dram = a.Regions.Single(r => r.Name == "DRAM");
        Assert.Equal((2000L, 1100L, 300L, 300L), (dram.Total, dram.Free, dram.Largest, dram.LowestLargest));
    }

    [Fact]
    public void A_trace_far_larger_than_the_memory_it_may_use_is_analysed_as_a_stream()
    {
        const long Pairs = 200_000; // About 110 MB of trace.
        var trace = new SyntheticTrace(Pairs, live: 1000);
        var positions = new List<long>();
        long maxHeap = 0;
        using var reader = new TraceReader(trace);

        var a = TraceAnalyzer.Analyze(reader, "synthetic", (position, length) =>
        {
            positions.Add(position);
            if (positions.Count % 10 == 0)
            {
                // What the analysis holds on to, garbage collected: it must not grow with the trace.
                maxHeap = Math.Max(maxHeap, GC.GetTotalMemory(forceFullCollection: true));
            }
        });

        Assert.True(trace.Length > 100L * 1024 * 1024, $"trace of only {trace.Length} bytes");
        Assert.Equal(2 * Pairs, a.Events);
        Assert.Equal(1000, a.LiveBlocksAtEnd);
        Assert.Equal(0, a.BadLines);
        Assert.True(maxHeap < 24L * 1024 * 1024, $"the managed heap reached {maxHeap / (1024 * 1024)} MiB for a {trace.Length / (1024 * 1024)} MiB trace");
        Assert.True(positions.SequenceEqual(positions.Order()), "progress went backwards");
        Assert.Equal(trace.Length, positions[^1]);
        Assert.True(positions.Count > 50);
        Assert.True(a.InUseTotal.Count <= 400);
    }

    [Fact]
    public void A_bounded_series_keeps_its_capacity_and_the_peak_of_each_interval()
    {
        var series = new BoundedSeries(capacity: 16, keepMinimum: false);
        for (var i = 0; i < 10_000; i++)
        {
            series.Add(i * 0.001, i == 5_000 ? 1_000_000 : i);
        }

        var points = series.Points();
        Assert.True(points.Count <= 16);
        Assert.Equal(1_000_000, points.Max(p => p.Value));
        Assert.True(points.Zip(points.Skip(1)).All(p => p.First.Seconds < p.Second.Seconds));
        Assert.Equal(9_999, points[^1].Value);
    }

    [Fact]
    public void A_bounded_series_of_points_far_apart_stays_within_its_capacity()
    {
        // Snapshots ten seconds apart: halving the buckets once merges none of them.
        var series = new BoundedSeries(capacity: 16, keepMinimum: true);
        for (var i = 0; i < 1000; i++)
        {
            series.Add(i * 10.0, 1000 - i);
        }

        var points = series.Points();
        Assert.True(points.Count <= 16);
        Assert.Equal(1, points.Min(p => p.Value));
        Assert.True(points[0].Value > 800 && points[0].Seconds == 0);
    }

    private static TraceAnalysis Analyze(HeapEvent[] events)
    {
        var stream = new MemoryStream();
        using (var writer = new TraceFileWriter(stream, ownsStream: false))
        {
            foreach (var e in events)
            {
                writer.Emit(e);
            }
        }

        stream.Position = 0;
        using var reader = new TraceReader(stream);
        return TraceAnalyzer.Analyze(reader, "test");
    }

    private static HeapEvent Event(HeapEventKind kind, long sequence, nuint address, nuint size, CallSite site, DateTimeOffset time) => new()
    {
        Kind = kind,
        Sequence = sequence,
        Time = time,
        ThreadId = 1,
        Address = address,
        Size = size,
        Caps = MallocCaps.Bit8,
        RequestNumber = sequence,
        Site = site,
        RegionName = "DRAM",
    };

    /// <summary>A trace made line by line as it is read, never held whole: `live` blocks stay allocated while pairs churn.</summary>
    private sealed class SyntheticTrace(long pairs, int live) : Stream
    {
        private const string Line = "{{\"kind\":\"{0}\",\"seq\":{1},\"time\":\"2026-11-25T14:38:{2:00}.{3:000}Z\",\"thread\":1,\"addr\":\"0x{4:x}\",\"size\":{5},\"caps\":\"MALLOC_CAP_8BIT\",\"req\":{1},\"region\":\"DRAM\",\"site\":{{\"method\":\"heap_caps_malloc\",\"file\":\"/home/dev/firmware/src/network/packet_queue.cs\",\"line\":{6},\"func\":\"Enqueue\",\"var\":\"packet\"}}}}\n";
        private byte[] _pending = [];
        private int _offset;
        private long _line;
        private long _position;
        private long? _length;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => _length ??= Measure();

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var written = 0;
            while (written < count)
            {
                if (_offset == _pending.Length && !Next())
                {
                    break;
                }

                var n = Math.Min(count - written, _pending.Length - _offset);
                Array.Copy(_pending, _offset, buffer, offset + written, n);
                _offset += n;
                written += n;
            }

            _position += written;
            return written;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private bool Next()
        {
            if (_line >= 2 * pairs)
            {
                return false;
            }

            _pending = Encoding.UTF8.GetBytes(Make(_line++));
            _offset = 0;
            return true;
        }

        private string Make(long line)
        {
            // Lines 0..live-1 allocate the blocks that stay; then each pair allocates and frees one more.
            var allocating = line < live || (line - live) % 2 == 0;
            var block = line < live ? line : live + ((line - live) / 2);
            var ms = line / 1000;
            return string.Format(System.Globalization.CultureInfo.InvariantCulture, Line, allocating ? "alloc" : "free", line + 1, ms / 1000 % 60, ms % 1000, 0x10000 + (block * 64), 16 + (block % 512), 100 + (block % 7));
        }

        private long Measure()
        {
            long total = 0;
            for (long line = 0; line < 2 * pairs; line++)
            {
                total += Encoding.UTF8.GetByteCount(Make(line));
            }

            return total;
        }
    }
}

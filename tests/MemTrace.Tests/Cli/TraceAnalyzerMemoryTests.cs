// Reading a trace far larger than the memory the analysis may use. It measures the process's
// managed heap, so it runs in a collection of its own, alone and after the parallel tests, where
// no other test's objects are counted.
using System.Text;
using MemTrace.Cli.Report;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    public const string Name = "Memory measurement";
}

[Collection(MemoryMeasurementCollection.Name)]
public class TraceAnalyzerMemoryTests
{
    [Fact]
    public void A_trace_far_larger_than_the_memory_it_may_use_is_analysed_as_a_stream()
    {
        const long Pairs = 200_000; // About 110 MB of trace.
        var trace = new SyntheticTrace(Pairs, live: 1000);
        var positions = new List<long>();
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
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
        Assert.True(maxHeap - baseline < 16L * 1024 * 1024, $"the managed heap grew by {(maxHeap - baseline) / (1024 * 1024)} MiB for a {trace.Length / (1024 * 1024)} MiB trace");
        Assert.True(positions.SequenceEqual(positions.Order()), "progress went backwards");
        Assert.Equal(trace.Length, positions[^1]);
        Assert.True(positions.Count > 50);
        Assert.True(a.InUseTotal.Count <= 400);
    }
}

/// <summary>A trace made line by line as it is read, never held whole: `live` blocks stay allocated while pairs churn.</summary>
internal sealed class SyntheticTrace(long pairs, int live) : Stream
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

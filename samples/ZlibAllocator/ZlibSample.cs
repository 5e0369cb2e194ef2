// The sample's steps: a deflate/inflate round trip whose blocks are all freed (checked with a
// checkpoint), then an inflate whose inflateEnd is forgotten, which the tracker's leak report
// shows with the managed stack that started it.
using System.Runtime.InteropServices;
using System.Text;

namespace MemTrace.Samples.Zlib;

/// <summary>zlib with MemTrace as its allocator: what the sample does, callable from a test.</summary>
public static unsafe class ZlibSample
{
    /// <summary>Runs the sample, writing what it sees to <paramref name="output"/>.</summary>
    /// <returns>0 when the round trip is exact, leaves nothing behind and the forgotten inflateEnd is reported as a leak;
    /// 1 when any of that does not hold; 2 when no zlib can be loaded on this machine.</returns>
    public static int Run(TextWriter output)
    {
        if (!ZlibNative.IsAvailable())
        {
            output.WriteLine("zlib was not found (libz.so.1 or libz.dylib); this sample needs the system's zlib.");
            return 2;
        }

        using var heap = new HeapCaps(HeapLayout.Host());
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output, StackTraceDepth = 4 });
        var handle = GCHandle.Alloc(tracker);
        try
        {
            return Run(tracker, handle, output);
        }
        finally
        {
            handle.Free();
        }
    }

    private static int Run(MemoryTracker tracker, GCHandle handle, TextWriter output)
    {
        output.WriteLine($"zlib {ZlibNative.Version()}, every block through a MemoryTracker over HeapLayout.Host()");
        var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("Hello from memory tracking! ", 40_000)));

        var start = tracker.Checkpoint("round trip");
        var compressed = Compress(text, handle, tracker, output);
        var restored = Decompress(compressed, text.Length, handle);
        var roundTrip = tracker.Difference(start, tracker.Checkpoint("after the round trip"));
        output.WriteLine($"\n== {text.Length} bytes -> {compressed.Length} -> {restored.Length}; the tracker saw:");
        output.WriteLine(roundTrip);
        var exact = restored.AsSpan().SequenceEqual(text);
        var clean = !roundTrip.IsSignificant && roundTrip.Allocations > 0;

        output.WriteLine("\n== an inflate whose inflateEnd is forgotten:");
        var beforeLeak = tracker.Checkpoint("forgotten inflateEnd");
        var stream = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
        try
        {
            StartInflateAndForgetTheEnd(stream, compressed, handle);
            var leaks = tracker.DumpMemoryLeaks(beforeLeak);
            ZlibNative.inflateEnd(stream);   // tidy up, so the sample itself ends clean
            var reported = leaks.HasLeaks && !tracker.GetLeakReport(beforeLeak).HasLeaks;

            output.WriteLine($"\nround trip exact: {exact}; nothing left after deflateEnd/inflateEnd: {clean}; forgotten inflateEnd reported: {reported}");
            return exact && clean && reported ? 0 : 1;
        }
        finally
        {
            NativeMemory.Free(stream);
        }
    }

    private static byte[] Compress(byte[] input, GCHandle handle, MemoryTracker tracker, TextWriter output)
    {
        var bound = input.Length + (input.Length >> 8) + 64;
        var result = new byte[bound];
        ZStream stream = default;
        TrackedZlibAllocator.Install(&stream, handle);
        Check(ZlibNative.DeflateInit(&stream, ZlibNative.BestCompression), "deflateInit");

        output.WriteLine("\n== deflate's state, allocated by zlib through the tracker:");
        tracker.ListAllocations();

        RunToEnd(&stream, input, result, &ZlibNative.deflate, "deflate");
        var length = (int)stream.TotalOut.Value;
        Check(ZlibNative.deflateEnd(&stream), "deflateEnd");
        return result.AsSpan(0, length).ToArray();
    }

    private static byte[] Decompress(byte[] input, int length, GCHandle handle)
    {
        var result = new byte[length];
        ZStream stream = default;
        TrackedZlibAllocator.Install(&stream, handle);
        Check(ZlibNative.InflateInit(&stream), "inflateInit");
        RunToEnd(&stream, input, result, &ZlibNative.inflate, "inflate");
        Check(ZlibNative.inflateEnd(&stream), "inflateEnd");
        return result;
    }

    /// <summary>Runs deflate or inflate (<paramref name="step"/>) over all of <paramref name="input"/> into <paramref name="output"/> in one call.</summary>
    private static void RunToEnd(ZStream* stream, byte[] input, byte[] output, delegate*<ZStream*, int, int> step, string name)
    {
        fixed (byte* source = input)
        fixed (byte* destination = output)
        {
            stream->NextIn = source;
            stream->AvailIn = (uint)input.Length;
            stream->NextOut = destination;
            stream->AvailOut = (uint)output.Length;
            var status = step(stream, ZlibNative.Finish);
            if (status != ZlibNative.StreamEnd)
            {
                throw new InvalidOperationException($"{name} returned {status}");
            }
        }
    }

    // The bug the leak report finds: the stream is inflated but never ended. The stack kept with each
    // block names this method, although the block was allocated by zlib's C code.
    private static void StartInflateAndForgetTheEnd(ZStream* stream, byte[] input, GCHandle handle)
    {
        TrackedZlibAllocator.Install(stream, handle);
        Check(ZlibNative.InflateInit(stream), "inflateInit");
        var sink = new byte[4096];
        fixed (byte* source = input)
        fixed (byte* destination = sink)
        {
            stream->NextIn = source;
            stream->AvailIn = (uint)input.Length;
            stream->NextOut = destination;
            stream->AvailOut = (uint)sink.Length;
            ZlibNative.inflate(stream, ZlibNative.NoFlush);   // inflate allocates its window here
        }
    }

    private static void Check(int status, string call)
    {
        if (status != ZlibNative.Ok)
        {
            throw new InvalidOperationException($"{call} returned {status}");
        }
    }
}

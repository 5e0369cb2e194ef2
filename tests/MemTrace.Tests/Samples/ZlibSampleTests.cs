// The zlib sample (samples/ZlibAllocator): zlib's zalloc/zfree routed through a tracker. Run in-process,
// it must round-trip its text exactly, leave nothing after deflateEnd/inflateEnd, and report the
// forgotten inflateEnd as a leak whose kept stacks start at the managed code that called zlib (the
// shims are [StackTraceHidden]).
using MemTrace.Samples.Zlib;
using Xunit;

namespace MemTrace.Tests.Samples;

public class ZlibSampleTests
{
    [Fact]
    public void The_zlib_sample_tracks_zlibs_blocks_and_reports_the_forgotten_inflateEnd_at_its_caller()
    {
        var output = new StringWriter();

        var exitCode = ZlibSample.Run(output);

        var text = output.ToString();
        if (exitCode == 2)
        {
            Assert.Skip("no system zlib on this machine: " + text);
        }

        Assert.True(exitCode == 0, text);
        Assert.Contains("allocations, ", text, StringComparison.Ordinal);
        Assert.Contains("live blocks: 0 -> 0 (0)", text, StringComparison.Ordinal);
        var leak = text[text.IndexOf("detected memory leaks", StringComparison.Ordinal)..];
        var firstFrame = leak.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("at ", StringComparison.Ordinal));
        Assert.Equal("at MemTrace.Samples.Zlib.ZlibSample.StartInflateAndForgetTheEnd(ZStream* stream, Byte[] input, GCHandle handle)", firstFrame);
        Assert.DoesNotContain("TrackedZlibAllocator.Allocate(", text, StringComparison.Ordinal);
        Assert.DoesNotContain("ZlibNative.", text, StringComparison.Ordinal);
        Assert.Contains("round trip exact: True; nothing left after deflateEnd/inflateEnd: True; forgotten inflateEnd reported: True", text, StringComparison.Ordinal);
    }
}

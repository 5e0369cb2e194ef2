// The FailFast policy with poisoning, in a child process (MemTrace.TestHost): for each region kind and
// level, a damaged block ends the process when the damage is found, with the whole report (kind, block,
// sites, ESP-IDF's line and the hex dump) on standard error.
using Xunit;

namespace MemTrace.Tests.Poisoning;

public class PoisoningProcessTests
{
    [Theory]
    [InlineData("esp32", PoisoningLevel.Light, "overflow")]
    [InlineData("esp32", PoisoningLevel.Comprehensive, "write-after-free")]
    [InlineData("host", PoisoningLevel.Light, "underflow")]
    [InlineData("host", PoisoningLevel.Comprehensive, "write-after-free")]
    public void Under_the_fail_fast_policy_a_damaged_block_ends_the_process_with_the_report(string layout, PoisoningLevel level, string fault)
    {
        var result = TestHost.Run("fail-fast-poisoning", layout, level.ToString(), fault);

        Assert.NotEqual(0, result.ExitCode);
        Assert.DoesNotContain("not reached", result.StandardOutput, StringComparison.Ordinal);
        var error = result.StandardError;
        Assert.Matches(@"allocated at .*MemTrace\.TestHost[/\\]Program\.cs:\d+ in .* \(victim\)", error);
        Assert.Contains("40 bytes, request #1, caps MALLOC_CAP_DEFAULT", error, StringComparison.Ordinal);
        Assert.Contains("region " + (layout == "host" ? "host" : "DRAM"), error, StringComparison.Ordinal);
        switch (fault)
        {
            case "overflow":
                Assert.Matches(@"MEMTRACE ERROR: buffer overflow after block 0x[0-9a-f]+ \(40-byte block\)", error);
                Assert.Matches(@"detected by heap_caps_free at .*Program\.cs:\d+ in .* \(victim\)", error);
                Assert.Matches(@"CORRUPT HEAP: Bad tail at 0x[0-9a-f]+\. Expected 0xbaad5678 got 0xbaad5600", error);
                Assert.Contains("expected: 78 56 ad ba", error, StringComparison.Ordinal);
                Assert.Contains("found:    00 56 ad ba", error, StringComparison.Ordinal);
                break;
            case "underflow":
                Assert.Matches(@"MEMTRACE ERROR: buffer underflow before block 0x[0-9a-f]+ \(40-byte block\)", error);
                Assert.Matches(@"detected by heap_caps_free at .*Program\.cs:\d+ in .* \(victim\)", error);
                Assert.Matches(@"CORRUPT HEAP: Bad head at 0x[0-9a-f]+\. Expected 0xabba1234 got 0xabba1200", error);
                Assert.Contains("expected: 34 12 ba ab", error, StringComparison.Ordinal);
                Assert.Contains("found:    00 12 ba ab", error, StringComparison.Ordinal);
                break;
            default:
                Assert.Matches(@"MEMTRACE ERROR: write after free in block 0x[0-9a-f]+ \(40-byte block\)", error);
                Assert.Matches(layout == "host" ? @"detected by heap_caps_free at .*Program\.cs:\d+ in .* \(next\)" : @"detected by heap_caps_malloc at .*Program\.cs:\d+ in .* \(next\)", error);
                Assert.Matches(@"first freed at .*Program\.cs:\d+ in .* \(victim\) on thread \d+", error);
                Assert.Matches(@"CORRUPT HEAP: Invalid data at 0x[0-9a-f]+\. Expected 0xfefefefe got 0x42fefefe", error);
                Assert.Contains("found:    42 fe fe fe", error, StringComparison.Ordinal);
                break;
        }
    }
}

// Scenarios that need a process of their own (MemTrace.TestHost): the leak report written at
// process exit by a tracker never disposed, and the FailFast error policy ending the process on
// a double free, or on a heap found damaged when the tracker is disposed, with the report on standard error;
// and variable names built at run time filling the process-wide call-site registry.
using Xunit;

namespace MemTrace.Tests;

public class MemoryTrackerProcessTests
{
    [Fact]
    public void A_tracker_never_disposed_reports_its_leaks_when_the_process_exits()
    {
        var result = TestHost.Run("leak-report-at-exit");

        Assert.Equal(0, result.ExitCode);
        var output = result.StandardOutput;
        Assert.True(output.IndexOf("main returns", StringComparison.Ordinal) < output.IndexOf("detected memory leaks", StringComparison.Ordinal));
        Assert.Contains("MemTrace: detected memory leaks since tracking began: 1 block, 123 bytes, from 1 call site", output, StringComparison.Ordinal);
        Assert.Contains("variables: leaked_buffer", output, StringComparison.Ordinal);
        Assert.Contains("123 bytes long, MALLOC_CAP_8BIT", output, StringComparison.Ordinal);
        Assert.Contains("Program.cs:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("freed_buffer", output, StringComparison.Ordinal);
        Assert.Contains("SUMMARY: MemTrace: 123 bytes leaked in 1 allocation.", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Variable_names_built_at_run_time_are_kept_for_the_first_65536_sites_and_later_sites_keep_their_location()
    {
        // Every distinct variable name was a site kept for the life of the process, up to 4 194 304 of them (630 MB).
        var result = TestHost.Run("run-time-variable-names");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"first: variable=frame_0 file=Program\.cs line=\d+ function=\S+", result.StandardOutput);
        Assert.Matches(@"last: variable=\(none\) file=Program\.cs line=\d+ function=\S+", result.StandardOutput);
        Assert.DoesNotContain("other:", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Under_the_fail_fast_policy_a_double_free_ends_the_process_with_the_report_on_standard_error()
    {
        var result = TestHost.Run("fail-fast-double-free");

        Assert.NotEqual(0, result.ExitCode);
        Assert.DoesNotContain("not reached", result.StandardOutput, StringComparison.Ordinal);
        var error = result.StandardError;
        Assert.Contains("MEMTRACE ERROR: double free of 0x", error, StringComparison.Ordinal);
        Assert.Contains("(64-byte block)", error, StringComparison.Ordinal);
        Assert.Matches(@"detected by heap_caps_free at .*MemTrace\.TestHost[/\\]Program\.cs:\d+ in .* \(copy\)", error);
        Assert.Matches(@"allocated at .*Program\.cs:\d+ in .* \(buffer\)", error);
        Assert.Matches(@"first freed at .*Program\.cs:\d+ in .* \(buffer\) on thread \d+", error);
    }

    [Fact]
    public void Under_the_fail_fast_policy_a_heap_damaged_when_the_tracker_is_disposed_ends_the_process_with_the_report()
    {
        var result = TestHost.Run("fail-fast-corrupt-heap-at-dispose");

        Assert.NotEqual(0, result.ExitCode);
        Assert.DoesNotContain("not reached", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("disposing", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("MEMTRACE ERROR: corrupt block header at 0x", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("failed its integrity check (multi_heap_check) when the tracker was disposed", result.StandardError, StringComparison.Ordinal);
    }
}

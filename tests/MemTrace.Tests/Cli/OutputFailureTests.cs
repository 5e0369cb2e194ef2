// Standard output that cannot be written (a full disk, /dev/full) ends any command with one line on standard
// error and EX_IOERR: System.CommandLine's default handler printed a stack trace and exited 1, which for
// `report` means "the HTML file could not be written" and for `demo` "a step failed".
using System.Text;
using MemTrace.Cli;
using Xunit;

namespace MemTrace.Tests.Cli;

public class OutputFailureTests
{
    [Theory]
    [InlineData("demo")]
    [InlineData("report", "--json")]
    [InlineData("report")]
    public void A_standard_output_that_fails_ends_the_command_with_EX_IOERR_and_one_line(params string[] args)
    {
        if (args[0] == "report")
        {
            args = [args[0], DemoTrace.Path, .. args[1..]];
        }

        var error = new StringWriter();

        var exitCode = MemTraceCommand.Run(args, new FullDiskWriter(), error);

        Assert.Equal(MemTraceCommand.ExitIOError, exitCode);
        Assert.Equal(74, exitCode);
        Assert.Equal("memtrace: input/output error: No space left on device" + Environment.NewLine, error.ToString());
    }

    [Fact]
    public void Other_failures_are_not_taken_for_output_errors()
    {
        // A usage error is still EX_USAGE and a missing trace still "unusable input" (2), with the writer working.
        Assert.Equal(MemTraceCommand.ExitUsage, MemTraceCommand.Run(["demo", "--bogus"], new StringWriter(), new StringWriter()));
        Assert.Equal(ReportCommand.ExitUnusable, MemTraceCommand.Run(["report", "/nonexistent/trace.jsonl"], new StringWriter(), new StringWriter()));
    }

    /// <summary>A writer whose every write fails as a write to /dev/full does.</summary>
    private sealed class FullDiskWriter : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value) => throw new IOException("No space left on device");

        public override void Write(string? value) => throw new IOException("No space left on device");

        public override void Write(char[] buffer, int index, int count) => throw new IOException("No space left on device");
    }
}

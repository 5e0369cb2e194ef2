// The installed tool is run as `memtrace` (ToolCommandName), but a RootCommand is named after the assembly
// the tool's shim starts, MemTrace.Cli.dll: `memtrace --help` and every usage error printed
// "Usage: MemTrace.Cli [command] [options]", a command the user does not have. The built tool is started
// as the shim starts it (dotnet MemTrace.Cli.dll), since in-process the name would be the test host's.
using MemTrace.Cli;
using MemTrace.Tests.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Cli;

public sealed class ToolNameTests
{
    [Fact]
    public void The_built_tool_calls_itself_memtrace_in_its_help_and_usage_errors()
    {
        var cli = typeof(MemTraceCommand).Assembly.Location;
        var directory = Path.GetTempPath();

        var help = ChildProcess.Run("dotnet", [cli, "--help"], directory, TimeSpan.FromSeconds(90));
        var demoHelp = ChildProcess.Run("dotnet", [cli, "demo", "--help"], directory, TimeSpan.FromSeconds(90));
        var typo = ChildProcess.Run("dotnet", [cli, "bogus"], directory, TimeSpan.FromSeconds(90));

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("Usage:" + Environment.NewLine + "  memtrace [command] [options]", help.Output, StringComparison.Ordinal);
        Assert.Contains("Usage:" + Environment.NewLine + "  memtrace demo [options]", demoHelp.Output, StringComparison.Ordinal);
        Assert.Equal(MemTraceCommand.ExitUsage, typo.ExitCode);
        Assert.Contains("  memtrace [command] [options]", typo.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("MemTrace.Cli", help.Output + demoHelp.Output + typo.Error, StringComparison.Ordinal);
    }
}

using MemTrace.Cli;
using Xunit;

namespace MemTrace.Tests.Cli;

public class DemoCommandTests
{
    [Fact]
    public void The_demo_runs_the_seeds_example_step_by_step()
    {
        var output = new StringWriter();

        var exitCode = DemoCommand.Run(output);

        var text = output.ToString();
        Assert.Equal(0, exitCode);
        Assert.Contains("buffer holds: \"Hello from memory tracking!\"", text, StringComparison.Ordinal);
        Assert.Contains("Total: 2 live blocks, 768 bytes", text, StringComparison.Ordinal);
        Assert.Contains("Total: 1 live block, 512 bytes", text, StringComparison.Ordinal);
        Assert.Contains("Total: 0 live blocks, 0 bytes", text, StringComparison.Ordinal);
        Assert.Contains("buffer is now NULL", text, StringComparison.Ordinal);
        Assert.Contains("debug_string is now NULL", text, StringComparison.Ordinal);
        Assert.Contains("debug_string", text, StringComparison.Ordinal);
        Assert.Contains("MALLOC_CAP_SPIRAM", text, StringComparison.Ordinal);
        Assert.Contains("[demo] Memory info", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("Total: 2 live", StringComparison.Ordinal) < text.IndexOf("Total: 1 live", StringComparison.Ordinal));
    }
}

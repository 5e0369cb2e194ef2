// Runs a scenario of MemTrace.TestHost in a child process and collects its exit code and output.
using System.Diagnostics;

namespace MemTrace.Tests;

internal static class TestHost
{
    public static Result Run(params string[] arguments)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "MemTrace.TestHost.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_DbgEnableMiniDump"] = "0"; // A fail-fast must not write a dump.
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("The test host did not finish in 60 s.");
        }

        return new Result(process.ExitCode, output.Result, error.Result);
    }

    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);
}

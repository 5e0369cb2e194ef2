// Child processes for the diagnostics tests: the test host or the memtrace command line started
// so that the test can talk to it while it runs (read up to a line, then kill it or measure it),
// the repository root (for the local dotnet tools), and commands run to completion with a deadline.
using System.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

internal static class ChildProcess
{
    /// <summary>Starts a MemTrace.TestHost scenario and waits for its first line of output.</summary>
    public static (Process Process, string FirstLine) StartHost(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "MemTrace.TestHost.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(60)) || line.Result is null)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The test host '{string.Join(' ', arguments)}' printed nothing in 60 s: {process.StandardError.ReadToEnd()}");
        }

        return (process, line.Result!);
    }

    /// <summary>Starts the <c>memtrace</c> command line (MemTrace.Cli.dll) and reads its output until a line starts with <paramref name="readyPrefix"/>; returns that line.</summary>
    public static (Process Process, string ReadyLine) StartCli(string readyPrefix, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "MemTrace.Cli.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var seen = new System.Text.StringBuilder();
        var deadline = Environment.TickCount64 + 60_000;
        while (Environment.TickCount64 < deadline)
        {
            var line = process.StandardOutput.ReadLineAsync();
            if (!line.Wait(TimeSpan.FromMilliseconds(Math.Max(1, deadline - Environment.TickCount64))) || line.Result is null)
            {
                break;
            }

            if (line.Result.StartsWith(readyPrefix, StringComparison.Ordinal))
            {
                return (process, line.Result);
            }

            seen.AppendLine(line.Result);
        }

        process.Kill(entireProcessTree: true);
        Assert.Fail($"'memtrace {string.Join(' ', arguments)}' never printed a line starting with '{readyPrefix}'. It printed:\n{seen}");
        return default;
    }

    /// <summary>Runs a command to completion; fails the test when it takes longer than <paramref name="timeout"/>.</summary>
    public static (int ExitCode, string Output, string Error) Run(string file, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"'{file} {string.Join(' ', arguments)}' did not finish in {timeout.TotalSeconds} s.");
        }

        return (process.ExitCode, output.Result, error.Result);
    }

    /// <summary>The repository's root: the first directory above the test binaries that holds MemTrace.slnx.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MemTrace.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("MemTrace.slnx not found above " + AppContext.BaseDirectory);
    }
}

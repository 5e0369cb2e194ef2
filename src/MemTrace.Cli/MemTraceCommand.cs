// The memtrace command line: the root command with its subcommands, and the entry point Program.cs
// calls. Tests run the same entry point with their own writers, so they go through the real
// argument parsing, not around it.
using System.CommandLine;
using System.CommandLine.Help;

namespace MemTrace.Cli;

/// <summary>The <c>memtrace</c> root command.</summary>
internal static class MemTraceCommand
{
    /// <summary>
    /// The name help and usage errors show. A <see cref="RootCommand"/> takes the name of the assembly the process
    /// started, which for the installed tool (and <c>dotnet run</c>) is <c>MemTrace.Cli</c>, a command the user does not
    /// have; the assembly cannot be named <c>memtrace</c> either, since assembly names are compared without case and the
    /// library beside it is <c>MemTrace</c>. So the root is a command of this name with a root command's two options.
    /// </summary>
    public const string Name = "memtrace";

    public static Command Create()
    {
        var root = new Command(Name, "MemTrace: native memory tracking and debugging on a model of ESP-IDF's capability heaps.")
        {
            new HelpOption(),
            new VersionOption(),
        };
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        return root;
    }

    /// <summary>
    /// The exit code of a command line that cannot be parsed (an unknown option, a missing argument): EX_USAGE of
    /// sysexits.h, so that a script tells a typo from the commands' own codes (1 to 3).
    /// </summary>
    public const int ExitUsage = 64;

    /// <summary>
    /// The exit code when an input or output fails in a way the command does not handle itself, such as standard
    /// output on a full disk (a pipe closed early is not an error): EX_IOERR of sysexits.h, for every command.
    /// </summary>
    public const int ExitIOError = 74;

    /// <summary>Parses <paramref name="args"/> and runs the command they name; returns its exit code.</summary>
    /// <param name="args">The command line, without the program name.</param>
    /// <param name="output">Standard output for the commands that write through the invocation (demo, help, parse errors).</param>
    /// <param name="error">Standard error for them.</param>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var parsed = Create().Parse(args);
        int exitCode;
        try
        {
            // System.CommandLine's own handler would print any exception with its stack trace and exit 1, a code the
            // commands use for their own failures; an I/O failure gets one line and EX_IOERR instead.
            // The help printed after a usage error goes to standard error with the error: a script reading standard
            // output gets nothing rather than a help text.
            var helpAndOutput = parsed.Errors.Count > 0 ? error : output;
            exitCode = parsed.Invoke(new InvocationConfiguration { Output = helpAndOutput, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (IOException e)
        {
            error.WriteLine($"memtrace: input/output error: {e.Message}");
            return ExitIOError;
        }

        return parsed.Errors.Count > 0 ? ExitUsage : exitCode;
    }
}

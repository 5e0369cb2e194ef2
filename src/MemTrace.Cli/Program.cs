// The memtrace command line: parses arguments and dispatches to one class per command.
using MemTrace.Cli;

return MemTraceCommand.Run(args, Console.Out, Console.Error);

// The memtrace command line: parses arguments and dispatches to one class per command.
using MemTrace.Cli;

// The library's own failures (a trace write that failed, a sink that threw) go to standard error.
MemTrace.Diagnostics.SelfLog.Enable(Console.Error);
return MemTraceCommand.Run(args, Console.Out, Console.Error);

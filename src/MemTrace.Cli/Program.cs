// The memtrace command line: parses arguments and dispatches to one class per command.
using System.CommandLine;
using MemTrace.Cli;

var root = new RootCommand("MemTrace: native memory tracking and debugging on a model of ESP-IDF's capability heaps.");
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(ReportCommand.Create());
return root.Parse(args).Invoke();

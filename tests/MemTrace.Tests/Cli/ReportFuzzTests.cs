// `memtrace report` never crashes on damaged traces: the demo's trace with lines flipped, cut,
// swapped or duplicated always gives an exit code (0, 2 or 3) and, when usable, all three outputs.
using System.Text;
using MemTrace.Cli;
using Xunit;

namespace MemTrace.Tests.Cli;

public sealed class ReportFuzzTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-report-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Damaged_traces_always_give_an_exit_code_and_never_an_exception()
    {
        var lines = File.ReadAllLines(DemoTrace.Path).Take(300).Select(Encoding.UTF8.GetBytes).ToList();
        var random = new Random(515);
        var path = Path.Combine(_directory, "damaged.jsonl");
        var html = Path.Combine(_directory, "damaged.html");
        for (var round = 0; round < 60; round++)
        {
            var damaged = lines.Select(l => (byte[])l.Clone()).ToList();
            for (var i = 0; i < 5; i++)
            {
                var at = random.Next(damaged.Count);
                var line = damaged[at];
                switch (random.Next(5))
                {
                    case 0:
                        line[random.Next(line.Length)] = (byte)random.Next(256);
                        break;
                    case 1:
                        damaged[at] = line[..random.Next(line.Length)];
                        break;
                    case 2:
                        (damaged[at], damaged[0]) = (damaged[0], damaged[at]);
                        break;
                    case 3:
                        damaged.Insert(at, line);
                        break;
                    default:
                        damaged.RemoveAt(at);
                        break;
                }
            }

            File.WriteAllBytes(path, [.. damaged.SelectMany(l => l.Append((byte)'\n'))]);

            var (exitCode, _, output, _) = DemoTrace.Report(path, round % 10 == 0 ? html : null, json: round % 2 == 0);

            Assert.Contains(exitCode, new[] { ReportCommand.ExitComplete, ReportCommand.ExitUnusable, ReportCommand.ExitPartial });
            if (round % 2 == 0 && exitCode != ReportCommand.ExitUnusable)
            {
                System.Text.Json.JsonDocument.Parse(output).Dispose();
            }
        }
    }
}

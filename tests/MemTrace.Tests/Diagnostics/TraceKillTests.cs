// Crash safety of the trace file: a child process writes a trace as fast as it can and is killed
// with SIGKILL mid-stream; every complete line must then be readable, with no event missing
// between the first and the last, and a torn tail reported as such.
using System.Text;
using System.Text.Json;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public sealed class TraceKillTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("memtrace-kill-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void After_SIGKILL_every_complete_line_is_readable_and_no_event_is_missing_before_it()
    {
        Assert.False(OperatingSystem.IsWindows(), "SIGKILL is a Unix signal.");
        var path = Path.Combine(_directory, "killed.jsonl");
        var (process, first) = ChildProcess.StartHost("trace-until-killed", path);
        using (process)
        {
            try
            {
                Assert.Equal("ready", first);
                Thread.Sleep(150); // Mid-stream: the writer is busy.
            }
            finally
            {
                process.Kill(); // SIGKILL on Unix; the scenario never ends by itself.
                Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)));
            }

            Assert.Equal(128 + 9, process.ExitCode); // Killed by signal 9.
        }

        var bytes = File.ReadAllBytes(path);
        var completeLines = bytes.Count(b => b == (byte)'\n');
        var tail = bytes.AsSpan(bytes.AsSpan().LastIndexOf((byte)'\n') + 1);
        var tailIsWhole = tail.Length > 0 && IsJson(tail);

        using var reader = TraceReader.Open(path);
        var events = reader.ReadAll().ToList();

        Assert.Equal(0, reader.BadLineCount);
        Assert.Equal(0, reader.DroppedEvents);
        Assert.False(reader.HasEnd); // Killed: no end line.
        Assert.NotNull(reader.Header);
        Assert.True(events.Count >= 20_000, $"only {events.Count} events");
        Assert.Equal(completeLines - 1 + (tailIsWhole ? 1 : 0), events.Count); // Every complete line but the header is an event.
        Assert.Equal(tail.Length > 0 && !tailIsWhole, reader.TornLastLine);

        // No gap: the sequence numbers read are exactly first..last. (Not in file order: the tracker numbers an event
        // before the periodic snapshot that it sends ahead of it.)
        var sequences = events.Select(e => e.Sequence).Order().ToList();
        Assert.Equal(Enumerable.Range((int)sequences[0], events.Count).Select(i => (long)i), sequences);

        // A write the kernel cut short leaves half a line: the same file cut inside its last line reads the same way, with that line reported torn.
        var complete = bytes.AsSpan(0, bytes.AsSpan().LastIndexOf((byte)'\n') + 1);
        var lastLineStart = complete[..^1].LastIndexOf((byte)'\n') + 1;
        var torn = complete[..(lastLineStart + ((complete.Length - lastLineStart) / 2))].ToArray();
        using var tornReader = new TraceReader(new MemoryStream(torn));
        var tornEvents = tornReader.ReadAll().ToList();
        Assert.Equal(completeLines - 2, tornEvents.Count);
        var problem = Assert.Single(tornReader.Problems);
        Assert.Equal((TraceProblemKind.TornLastLine, (long)completeLines), (problem.Kind, problem.Line));
    }

    private static bool IsJson(ReadOnlySpan<byte> text)
    {
        try
        {
            JsonDocument.Parse(Encoding.UTF8.GetString(text)).Dispose();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

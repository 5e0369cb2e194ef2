// The reader never throws on content: random bytes, and valid lines with bytes flipped, cut,
// duplicated or replaced by invalid UTF-8, are all reported as problems while reading goes on.
using System.Text;
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

public class TraceReaderFuzzTests
{
    [Fact]
    public void Random_bytes_never_make_the_reader_throw()
    {
        var random = new Random(1125);
        for (var round = 0; round < 200; round++)
        {
            var bytes = new byte[random.Next(0, 4096)];
            random.NextBytes(bytes);
            var reader = new TraceReader(new MemoryStream(bytes), new TraceReaderOptions { MaxLineBytes = 1024 });

            var events = reader.ReadAll().Count();

            Assert.True(events == 0 || reader.ProblemCount > 0 || bytes.Length == 0);
        }
    }

    [Fact]
    public void Mutated_trace_lines_never_make_the_reader_throw_and_every_line_is_accounted_for()
    {
        var stream = new MemoryStream();
        using (var writer = new TraceFileWriter(stream, ownsStream: false))
        {
            foreach (var e in TestEvents.OneOfEachKind())
            {
                writer.Emit(e);
            }
        }

        // The event lines only (not the header and end lines, which are not events).
        var lines = Encoding.UTF8.GetString(stream.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)[1..^1].Select(Encoding.UTF8.GetBytes).ToArray();
        var random = new Random(20261125);
        for (var round = 0; round < 2000; round++)
        {
            var line = (byte[])lines[random.Next(lines.Length)].Clone();
            switch (random.Next(4))
            {
                case 0:
                    line[random.Next(line.Length)] = (byte)random.Next(256);
                    break;
                case 1:
                    line = line[..random.Next(line.Length)];
                    break;
                case 2:
                    line[random.Next(line.Length)] = 0xFF; // Invalid UTF-8.
                    break;
                default:
                    var at = random.Next(line.Length);
                    line = [.. line[..at], .. line[at..], .. line[at..]];
                    break;
            }

            var text = new MemoryStream();
            text.Write(line);
            text.WriteByte((byte)'\n');
            text.Write(lines[0]);
            text.WriteByte((byte)'\n');
            text.Position = 0;
            var reader = new TraceReader(text);

            var events = reader.ReadAll().Count();

            // The good second line is always read; the mutated one is either read or reported.
            Assert.True(events >= 1, Encoding.UTF8.GetString(line));
            Assert.True(events == 2 || reader.ProblemCount >= 1 || line.Length == 0 || line.All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r'), Encoding.UTF8.GetString(line));
        }
    }
}

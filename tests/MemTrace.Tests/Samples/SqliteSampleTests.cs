// The SQLite sample (samples/SqliteAllocator): SQLITE_CONFIG_MALLOC routed through a tracker over a modelled
// ESP32's PSRAM. Run in-process (twice, as SQLite's configuration is process-wide and the sample must put it
// back), it must count its rows, see sqlite3_close refused while a statement is open, report that statement's
// blocks at the method that prepared it, and leave nothing after sqlite3_shutdown.
using MemTrace.Samples.Sqlite;
using Xunit;

namespace MemTrace.Tests.Samples;

public class SqliteSampleTests
{
    [Fact]
    public void The_sqlite_sample_runs_sqlite_in_modelled_psram_and_reports_the_unfinalized_statement_at_its_caller()
    {
        for (var run = 0; run < 2; run++)
        {
            var output = new StringWriter();

            var exitCode = SqliteSample.Run(output);

            var text = output.ToString();
            if (exitCode == 2)
            {
                Assert.Skip(text);
            }

            Assert.True(exitCode == 0, text);
            Assert.Contains("20000 rows", text, StringComparison.Ordinal);
            Assert.Contains("sqlite3_close returned 5 (SQLITE_BUSY", text, StringComparison.Ordinal);
            Assert.Contains("MALLOC_CAP_SPIRAM", text, StringComparison.Ordinal);
            var leak = text[text.IndexOf("detected memory leaks", StringComparison.Ordinal)..];
            var firstFrame = leak.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("at ", StringComparison.Ordinal));
            Assert.Equal("at MemTrace.Samples.Sqlite.SqliteSample.PrepareAndForgetToFinalize(Void* db)", firstFrame);
            Assert.Contains("blocks left after sqlite3_shutdown: 0; PSRAM free size restored: True", text, StringComparison.Ordinal);
        }
    }
}

// The sample's steps: SQLite allocating in the PSRAM of a modelled ESP32 through a tracker; a table of
// sensor readings and the PSRAM it took (now and at its peak); a prepared statement whose finalize is
// forgotten, which makes sqlite3_close fail and which the leak report shows at the method that prepared it;
// and nothing left once SQLite is shut down.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MemTrace.Samples.Sqlite;

/// <summary>SQLite with MemTrace as its allocator: what the sample does, callable from a test.</summary>
public static unsafe class SqliteSample
{
    private const int Rows = 20_000;

    /// <summary>Runs the sample, writing what it sees to <paramref name="output"/>.</summary>
    /// <returns>0 when every step shows what it should; 1 when one does not; 2 on a platform where SQLite's
    /// variadic <c>sqlite3_config</c> cannot be called from C# (macOS on arm64).</returns>
    public static int Run(TextWriter output)
    {
        if (OperatingSystem.IsMacOS() && RuntimeInformation.ProcessArchitecture == Architecture.Arm64)
        {
            output.WriteLine("sqlite3_config is variadic, and Apple's arm64 calling convention passes variadic arguments differently: not run here.");
            return 2;
        }

        using var heap = new HeapCaps(HeapLayout.Esp32(psramMiB: 4));
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = output, StackTraceDepth = 3 });
        var psram = heap.GetTotalSize(MallocCaps.Spiram);
        var freeBefore = heap.GetFreeSize(MallocCaps.Spiram);
        TrackedSqliteAllocator.Install(tracker, heap, MallocCaps.Spiram);
        bool rowsRight, busy, leakAtCaller;
        try
        {
            void* db;
            Check(SqliteNative.sqlite3_open(":memory:", &db), "sqlite3_open");
            Exec(db, "CREATE TABLE log(id INTEGER PRIMARY KEY, message TEXT)");
            Exec(db, $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {Rows}) INSERT INTO log(message) SELECT 'reading ' || i || ' from the sensor task' FROM n");
            var count = CountRows(db);
            rowsRight = count == Rows;
            output.WriteLine($"SQLite in the PSRAM of an ESP32 model ({psram / 1024} KiB), {count} rows in an in-memory table:");
            output.WriteLine($"  PSRAM in use: {(freeBefore - heap.GetFreeSize(MallocCaps.Spiram)) / 1024} KiB now, {(freeBefore - heap.GetMinimumFreeSize(MallocCaps.Spiram)) / 1024} KiB at the peak; {tracker.GetAllocations().Count} live blocks");

            output.WriteLine("\n== a prepared statement whose sqlite3_finalize is forgotten:");
            var beforeStatement = tracker.Checkpoint("statement");
            var statement = PrepareAndForgetToFinalize(db);
            var closed = SqliteNative.sqlite3_close(db);
            busy = closed == SqliteNative.Busy;
            output.WriteLine($"sqlite3_close returned {closed}{(busy ? " (SQLITE_BUSY: a statement is still open)" : "")}");
            var leaks = tracker.DumpMemoryLeaks(beforeStatement);
            leakAtCaller = leaks.HasLeaks
                && leaks.Allocations.All(b => b.StackTrace?.GetFrame(0) is { } frame && DiagnosticMethodInfo.Create(frame)?.Name == nameof(PrepareAndForgetToFinalize));

            SqliteNative.sqlite3_finalize(statement);   // tidy up, so the sample itself ends clean
            Check(SqliteNative.sqlite3_close(db), "sqlite3_close");
        }
        finally
        {
            TrackedSqliteAllocator.Uninstall();
        }

        var left = tracker.GetAllocations().Count;
        var restored = heap.GetFreeSize(MallocCaps.Spiram) == freeBefore;
        output.WriteLine($"\nrows right: {rowsRight}; close refused while the statement is open: {busy}; leak shown at its caller: {leakAtCaller}; blocks left after sqlite3_shutdown: {left}; PSRAM free size restored: {restored}");
        return rowsRight && busy && leakAtCaller && left == 0 && restored ? 0 : 1;
    }

    // The bug the leak report finds: the statement is prepared and stepped, never finalized.
    private static void* PrepareAndForgetToFinalize(void* db)
    {
        void* statement;
        Check(SqliteNative.sqlite3_prepare_v2(db, "SELECT message FROM log WHERE id > 100 ORDER BY message DESC", -1, &statement, null), "sqlite3_prepare_v2");
        SqliteNative.sqlite3_step(statement);
        return statement;
    }

    private static long CountRows(void* db)
    {
        void* statement;
        Check(SqliteNative.sqlite3_prepare_v2(db, "SELECT count(*) FROM log", -1, &statement, null), "sqlite3_prepare_v2");
        try
        {
            return SqliteNative.sqlite3_step(statement) == SqliteNative.Row ? SqliteNative.sqlite3_column_int64(statement, 0) : -1;
        }
        finally
        {
            SqliteNative.sqlite3_finalize(statement);
        }
    }

    private static void Exec(void* db, string sql) => Check(SqliteNative.sqlite3_exec(db, sql, null, null, null), sql);

    private static void Check(int status, string call)
    {
        if (status != SqliteNative.Ok)
        {
            throw new InvalidOperationException($"{call} returned {status}");
        }
    }
}

// The few SQLite entry points the sample calls, bound to e_sqlite3 (the SourceGear.sqlite3 package's build).
// Hidden from the stacks the tracker keeps, with the marshalling stubs generated for it, so that they start
// at the sample's code.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MemTrace.Samples.Sqlite;

[StackTraceHidden]
internal static unsafe partial class SqliteNative
{
    public const int Ok = 0;
    public const int Busy = 5;
    public const int Row = 100;
    public const int Done = 101;
    public const int ConfigMalloc = 4;
    public const int ConfigGetMalloc = 5;

    private const string Library = "e_sqlite3";

    // sqlite3_config is variadic; its one argument here is a pointer, which the x64 and Linux/Windows arm64
    // calling conventions pass as they pass a fixed argument. Apple's arm64 convention does not (variadic
    // arguments go on the stack), so the sample does not run there.
    [LibraryImport(Library, EntryPoint = "sqlite3_config")]
    public static partial int ConfigureMemory(int option, SqliteMemMethods* methods);

    [LibraryImport(Library)]
    public static partial int sqlite3_initialize();

    [LibraryImport(Library)]
    public static partial int sqlite3_shutdown();

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sqlite3_open(string filename, void** db);

    [LibraryImport(Library)]
    public static partial int sqlite3_close(void* db);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sqlite3_exec(void* db, string sql, void* callback, void* argument, byte** error);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sqlite3_prepare_v2(void* db, string sql, int bytes, void** statement, byte** tail);

    [LibraryImport(Library)]
    public static partial int sqlite3_step(void* statement);

    [LibraryImport(Library)]
    public static partial long sqlite3_column_int64(void* statement, int column);

    [LibraryImport(Library)]
    public static partial int sqlite3_finalize(void* statement);
}

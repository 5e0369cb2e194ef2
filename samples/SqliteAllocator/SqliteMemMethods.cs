// SQLite's sqlite3_mem_methods (sqlite3.h), field for field: the allocator SQLITE_CONFIG_MALLOC installs.
namespace MemTrace.Samples.Sqlite;

internal unsafe struct SqliteMemMethods
{
    public delegate* unmanaged<int, void*> Malloc;
    public delegate* unmanaged<void*, void> Free;
    public delegate* unmanaged<void*, int, void*> Realloc;
    public delegate* unmanaged<void*, int> Size;
    public delegate* unmanaged<int, int> Roundup;
    public delegate* unmanaged<void*, int> Init;
    public delegate* unmanaged<void*, void> Shutdown;
    public void* AppData;
}

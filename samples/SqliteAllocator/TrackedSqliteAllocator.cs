// SQLite's allocator (SQLITE_CONFIG_MALLOC) routed through a MemoryTracker. sqlite3_mem_methods has no
// per-call context (pAppData reaches only xInit and xShutdown), so the tracker is process-wide, as SQLite's
// configuration is; SQLite calls these from any thread, which the tracker allows. [StackTraceHidden] keeps the
// callbacks out of the kept stacks, so that they start at the code that called SQLite.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MemTrace.Samples.Sqlite;

[StackTraceHidden]
internal static unsafe class TrackedSqliteAllocator
{
    private static MemoryTracker? s_tracker;
    private static HeapCaps? s_heap;
    private static MallocCaps s_caps;
    private static SqliteMemMethods s_previous;

    /// <summary>
    /// Makes SQLite allocate through <paramref name="tracker"/> with <paramref name="caps"/>, from a shut-down state
    /// (SQLITE_CONFIG_MALLOC is refused once SQLite is initialised); <see cref="Uninstall"/> restores its own allocator.
    /// </summary>
    public static void Install(MemoryTracker tracker, HeapCaps heap, MallocCaps caps)
    {
        (s_tracker, s_heap, s_caps) = (tracker, heap, caps);
        SqliteNative.sqlite3_shutdown();
        SqliteMemMethods previous;
        Check(SqliteNative.ConfigureMemory(SqliteNative.ConfigGetMalloc, &previous), "SQLITE_CONFIG_GETMALLOC");
        s_previous = previous;
        var methods = new SqliteMemMethods
        {
            Malloc = &Malloc,
            Free = &Free,
            Realloc = &Realloc,
            Size = &Size,
            Roundup = &Roundup,
            Init = &Init,
            Shutdown = &Shutdown,
        };
        Check(SqliteNative.ConfigureMemory(SqliteNative.ConfigMalloc, &methods), "SQLITE_CONFIG_MALLOC");
        Check(SqliteNative.sqlite3_initialize(), "sqlite3_initialize");
    }

    /// <summary>Shuts SQLite down (it frees what it still holds) and gives it back the allocator it had.</summary>
    public static void Uninstall()
    {
        SqliteNative.sqlite3_shutdown();
        var previous = s_previous;
        SqliteNative.ConfigureMemory(SqliteNative.ConfigMalloc, &previous);
        (s_tracker, s_heap) = (null, null);
    }

    // No exception may cross back into C (the process would end): a failure is a null block, which SQLite turns into SQLITE_NOMEM.
    // MemoryErrorException is caught too: under HeapCapsOptions.ErrorPolicy = Throw a bad pointer from C is one.
    [UnmanagedCallersOnly]
    private static void* Malloc(int size)
    {
        try
        {
            return size <= 0 ? null : s_tracker!.Malloc((nuint)size, s_caps);
        }
        catch (Exception e) when (e is ObjectDisposedException or MemoryErrorException)
        {
            return null;
        }
    }

    [UnmanagedCallersOnly]
    private static void Free(void* block)
    {
        try
        {
            s_tracker!.Free(ref block);
        }
        catch (Exception e) when (e is ObjectDisposedException or MemoryErrorException)
        {
            // The tracker is gone: the block stays allocated on its heap, as any block does then.
        }
    }

    // SQLite never reallocs to 0 bytes; a failed realloc leaves the block intact, as SQLite expects.
    [UnmanagedCallersOnly]
    private static void* Realloc(void* block, int size)
    {
        try
        {
            return s_tracker!.Realloc(block, (nuint)Math.Max(size, 1), s_caps);
        }
        catch (Exception e) when (e is ObjectDisposedException or MemoryErrorException)
        {
            return null;
        }
    }

    // SQLite wants the block's usable size ("at least as big as the requested size"): heap_caps_get_allocated_size.
    [UnmanagedCallersOnly]
    private static int Size(void* block) => block is null ? 0 : (int)s_heap!.GetAllocatedSize(block);

    [UnmanagedCallersOnly]
    private static int Roundup(int size) => (size + 7) & ~7;

    [UnmanagedCallersOnly]
    private static int Init(void* appData) => SqliteNative.Ok;

    [UnmanagedCallersOnly]
    private static void Shutdown(void* appData)
    {
    }

    private static void Check(int status, string call)
    {
        if (status != SqliteNative.Ok)
        {
            throw new InvalidOperationException($"{call} returned {status}");
        }
    }
}

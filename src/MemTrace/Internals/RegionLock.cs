// RegionLock: the lock of one region, ESP-IDF's per-heap spinlock for .NET.
//
// A region holds its lock for a few dozen nanoseconds (one TLSF operation). System.Threading.Lock
// costs about 15 ns per acquire-release pair here even uncontended, half a TLSF malloc; one
// compare-exchange of 0 -> 1 costs a few. Under contention the waiter spins, then yields (SpinWait).
//
// Not re-entrant. The only way back into a region while its lock is held is a user callback run
// under the lock (a heap walker, a live-block visitor) that allocates or frees on the same region:
// that would spin forever. Such callers take the lock with EnterForCallbacks, which also records the
// thread; a waiter that finds itself recorded throws a LockRecursionException instead of spinning.
// The fast path never reads the thread id (a thread-static read costs more than the CAS).
//
// Usage: `using (_lock.Enter()) { ... }`; the scope is a struct, so nothing is allocated.
using System.Runtime.CompilerServices;

namespace MemTrace.Internals;

internal sealed class RegionLock
{
    private int _held;

    /// <summary>Thread running user callbacks under the lock (EnterForCallbacks), 0 when none.</summary>
    private int _callbackThread;

    /// <summary>Takes the lock; dispose the result to release it.</summary>
    /// <exception cref="LockRecursionException">This thread holds the lock to run callbacks (a visitor re-entering its region).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Scope Enter()
    {
        EnterUnscoped();
        return new Scope(this, clearsCallbackThread: false);
    }

    /// <summary>
    /// Takes the lock without a scope, for a section that cannot throw (no callback, no allocation): the caller
    /// releases it with <see cref="Exit"/>. Saves the try/finally of a scope on the hottest paths.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void EnterUnscoped()
    {
        if (Interlocked.CompareExchange(ref _held, 1, 0) != 0)
        {
            EnterSlow();
        }
    }

    /// <summary>Releases a lock taken with <see cref="EnterUnscoped"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => Volatile.Write(ref _held, 0);

    /// <summary>
    /// Takes the lock for a section that only reads, unless this thread already holds it to run callbacks: a walker's
    /// visitor asking about its own region, which ESP-IDF's recursive heap lock lets it do (the scope then releases
    /// nothing). Dispose the result; the fast path reads no thread id.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Scope EnterForRead()
    {
        if (Interlocked.CompareExchange(ref _held, 1, 0) != 0)
        {
            if (IsHeldForCallbacksByThisThread)
            {
                return default;
            }

            EnterSlow();
        }

        return new Scope(this, clearsCallbackThread: false);
    }

    /// <summary>Whether this thread holds the lock to run callbacks (a walker's visitor asking about its region).</summary>
    public bool IsHeldForCallbacksByThisThread => Volatile.Read(ref _callbackThread) == Environment.CurrentManagedThreadId;

    /// <summary>Takes the lock to run user callbacks under it: a callback that re-enters the region throws instead of deadlocking.</summary>
    public Scope EnterForCallbacks()
    {
        EnterUnscoped();
        Volatile.Write(ref _callbackThread, Environment.CurrentManagedThreadId);
        return new Scope(this, clearsCallbackThread: true);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterSlow()
    {
        if (Volatile.Read(ref _callbackThread) == Environment.CurrentManagedThreadId)
        {
            throw new LockRecursionException("This thread already holds the region's lock: a heap walker or callback must not allocate or free on the region it runs for.");
        }

        var spinner = default(SpinWait);
        do
        {
            spinner.SpinOnce();
        }
        while (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0);
    }

    /// <summary>Holds the lock until disposed; the default scope holds nothing (a read under a walker's lock).</summary>
    public readonly ref struct Scope
    {
        private readonly RegionLock? _lock;
        private readonly bool _clearsCallbackThread;

        public Scope(RegionLock owner, bool clearsCallbackThread)
        {
            _lock = owner;
            _clearsCallbackThread = clearsCallbackThread;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Dispose()
        {
            if (_lock is null)
            {
                return;
            }

            if (_clearsCallbackThread)
            {
                _lock._callbackThread = 0;
            }

            _lock.Exit();
        }
    }
}

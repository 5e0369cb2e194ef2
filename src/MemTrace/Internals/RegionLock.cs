// RegionLock: the lock of one region, ESP-IDF's per-heap spinlock for .NET.
//
// A region holds its lock for a few dozen nanoseconds (one TLSF operation). System.Threading.Lock
// costs about 15 ns per acquire-release pair here even uncontended, half a TLSF malloc; a
// compare-exchange on the owner's thread id costs a few. Under contention the waiter spins, then
// yields (SpinWait). The owner id also catches re-entry from the same thread, e.g. a heap walker
// that allocates on the region it walks: that would spin forever, so it throws instead.
//
// Usage: `using (_lock.Enter()) { ... }`; the scope is a struct, so nothing is allocated.
using System.Runtime.CompilerServices;

namespace MemTrace.Internals;

internal sealed class RegionLock
{
    private int _owner;

    /// <summary>Takes the lock; dispose the result to release it.</summary>
    /// <exception cref="LockRecursionException">This thread already holds the lock.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Scope Enter()
    {
        var me = Environment.CurrentManagedThreadId;
        if (Interlocked.CompareExchange(ref _owner, me, 0) != 0)
        {
            EnterSlow(me);
        }

        return new Scope(this);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterSlow(int me)
    {
        if (Volatile.Read(ref _owner) == me)
        {
            throw new LockRecursionException("This thread already holds the region's lock: a heap walker or callback must not allocate or free on the region it runs for.");
        }

        var spinner = default(SpinWait);
        do
        {
            spinner.SpinOnce();
        }
        while (Volatile.Read(ref _owner) != 0 || Interlocked.CompareExchange(ref _owner, me, 0) != 0);
    }

    /// <summary>Holds the lock until disposed.</summary>
    public readonly ref struct Scope
    {
        private readonly RegionLock _lock;

        public Scope(RegionLock owner) => _lock = owner;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Dispose() => Volatile.Write(ref _lock._owner, 0);
    }
}

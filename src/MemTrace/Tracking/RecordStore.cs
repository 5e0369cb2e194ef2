// RecordStore: the tracker's records, in native memory that never moves, addressed by handle.
//
// Handles are 1-based (0 means "no record", the tag of an untracked block). Records sit in
// chunks of 4096 (240 KiB, committed by the OS page by page as records are first written);
// a chunk is never freed or moved while the store lives, so a handle stays valid and a record
// can be read without a lock. Free handles circulate through per-thread rings (see
// TrackerThreadCell) and, in batches, through one shared pool guarded by a lock; fresh handles
// are taken from the end of the last chunk. The store's own memory comes from NativeMemory,
// never from the heap being traced.
//
// After Dispose the store is unusable rather than dangerous: it hands out no handle, takes none
// back, has no record below HandleLimit, and its indexer finds no chunk (IndexOutOfRangeException)
// instead of reaching freed memory. The tracker makes sure no thread is inside a record when it
// disposes the store (see MemoryTracker.Dispose).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Tracking;

internal sealed unsafe class RecordStore : IDisposable
{
    public const int ChunkShift = 12;
    public const int ChunkSize = 1 << ChunkShift;

    /// <summary>Handles move between a thread's ring and the shared pool in batches of this many.</summary>
    public const int Batch = 64;

    private readonly Lock _lock = new();
    private nint[] _chunks = new nint[16];
    private int _chunkCount;
    private uint _fresh = 1;
    private uint[] _pool = new uint[4 * Batch];
    private int _poolCount;
    private bool _disposed;

    /// <summary>Handles handed out so far: every record with a handle below this has been written at least once or is in a ring.</summary>
    public uint HandleLimit => Volatile.Read(ref _fresh);

    /// <summary>Bytes of native and managed memory the store holds.</summary>
    public long ReservedBytes
    {
        get
        {
            lock (_lock)
            {
                return ((long)_chunkCount * ChunkSize * sizeof(TrackedRecord)) + ((long)_chunks.Length * sizeof(nint)) + ((long)_pool.Length * sizeof(uint));
            }
        }
    }

    /// <summary>The record of a handle. The handle must have been handed out and the store not disposed (after disposal there is no chunk: the lookup throws).</summary>
    public ref TrackedRecord this[uint handle]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var index = handle - 1;
            var chunk = (TrackedRecord*)Volatile.Read(ref _chunks)[index >> ChunkShift];
            return ref chunk[index & (ChunkSize - 1)];
        }
    }

    /// <summary>Moves up to <c>destination.Length</c> handles from the shared pool; returns how many.</summary>
    public int TakePooled(Span<uint> destination)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return 0;
            }

            var count = Math.Min(destination.Length, _poolCount);
            _pool.AsSpan(_poolCount - count, count).CopyTo(destination);
            _poolCount -= count;
            return count;
        }
    }

    /// <summary>Hands out never-used handles, adding chunks as needed; returns how many (fewer only when memory ran out).</summary>
    public int TakeFresh(Span<uint> destination)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return 0;
            }

            var count = 0;
            while (count < destination.Length)
            {
                var index = _fresh - 1;
                if ((index >> ChunkShift) >= (uint)_chunkCount && !AddChunk())
                {
                    break;
                }

                destination[count++] = _fresh;
                Volatile.Write(ref _fresh, _fresh + 1);
            }

            return count;
        }
    }

    /// <summary>Gives handles back to the shared pool (dropped once the store is disposed).</summary>
    public void Give(ReadOnlySpan<uint> handles)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            EnsurePool(_poolCount + handles.Length);
            handles.CopyTo(_pool.AsSpan(_poolCount));
            _poolCount += handles.Length;
        }
    }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed
    {
        get
        {
            lock (_lock)
            {
                return _disposed;
            }
        }
    }

    /// <summary>Frees every chunk. The caller guarantees that no thread still uses a record.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            var chunks = _chunks;
            Volatile.Write(ref _chunks, []);
            Volatile.Write(ref _fresh, 1);
            _poolCount = 0;
            for (var i = 0; i < _chunkCount; i++)
            {
                NativeMemory.Free((void*)chunks[i]);
                chunks[i] = 0;
            }

            _chunkCount = 0;
        }
    }

    private bool AddChunk()
    {
        if (_chunkCount == int.MaxValue >> ChunkShift)
        {
            return false;
        }

        void* chunk;
        try
        {
            chunk = NativeMemory.AllocZeroed(ChunkSize, (nuint)sizeof(TrackedRecord));
        }
        catch (OutOfMemoryException)
        {
            return false;
        }

        if (_chunkCount == _chunks.Length)
        {
            var grown = new nint[_chunks.Length * 2];
            _chunks.CopyTo(grown, 0);
            Volatile.Write(ref _chunks, grown);
        }

        _chunks[_chunkCount++] = (nint)chunk;
        return true;
    }

    private void EnsurePool(int count)
    {
        if (count > _pool.Length)
        {
            Array.Resize(ref _pool, Math.Max(count, _pool.Length * 2));
        }
    }
}

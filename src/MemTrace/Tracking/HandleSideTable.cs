// HandleSideTable: per-record data that only some trackers keep (allocation stack traces, the
// thread account a block is charged to), in managed chunks indexed by record handle.
//
// Keeping such data beside the records instead of in them keeps TrackedRecord at 60 bytes and
// costs nothing when the feature is off: the table is not even created. Chunks hold 4096 entries,
// as the record store's chunks do, and are made on the first write to one of their handles; a
// chunk is never moved or freed, so an entry can be read without a lock. Only the thread that
// owns a record writes its entries (as for the record itself); readers that need an entry
// consistent with the record read it inside the record's sequence-lock window.
using System.Runtime.CompilerServices;

namespace MemTrace.Tracking;

internal sealed class HandleSideTable<T>
{
    private const int Shift = RecordStore.ChunkShift;
    private const int Mask = RecordStore.ChunkSize - 1;

    private readonly Lock _lock = new();
    private T[]?[] _chunks = new T[]?[16];
    private int _chunkCount;

    /// <summary>Bytes of managed memory the table's arrays hold (not what their entries refer to).</summary>
    public long ReservedBytes
    {
        get
        {
            lock (_lock)
            {
                var entrySize = RuntimeHelpers.IsReferenceOrContainsReferences<T>() ? IntPtr.Size : Unsafe.SizeOf<T>();
                return ((long)_chunkCount * RecordStore.ChunkSize * entrySize) + ((long)_chunks.Length * IntPtr.Size);
            }
        }
    }

    /// <summary>The entry of <paramref name="handle"/>, making its chunk if needed. Call only as the record's owner.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T At(uint handle)
    {
        var index = handle - 1;
        var chunks = Volatile.Read(ref _chunks);
        var c = index >> Shift;
        if (c < (uint)chunks.Length && chunks[c] is { } chunk)
        {
            return ref chunk[index & Mask];
        }

        return ref Grow(index)[index & Mask];
    }

    /// <summary>The entry of <paramref name="handle"/>, or the default when none was ever written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T? Get(uint handle)
    {
        var index = handle - 1;
        var chunks = Volatile.Read(ref _chunks);
        var c = index >> Shift;
        return c < (uint)chunks.Length && Volatile.Read(ref chunks[c]) is { } chunk ? chunk[index & Mask] : default;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private T[] Grow(uint index)
    {
        var c = (int)(index >> Shift);
        lock (_lock)
        {
            var chunks = _chunks;
            if (c >= chunks.Length)
            {
                var grown = new T[]?[Math.Max(c + 1, chunks.Length * 2)];
                chunks.CopyTo(grown, 0);
                Volatile.Write(ref _chunks, grown);
                chunks = grown;
            }

            if (chunks[c] is not { } chunk)
            {
                chunk = new T[RecordStore.ChunkSize];
                Volatile.Write(ref chunks[c], chunk);
                _chunkCount++;
            }

            return chunk;
        }
    }
}

// LiveBlockMap: which addresses are the starts of live blocks of one process-heap region.
//
// The process heap hands out addresses anywhere, so the map is a radix tree over the address
// space, like jemalloc's rtree: a top node indexed by bits 36..47, mid nodes by bits 24..35,
// and leaves with one byte per 16-byte granule (bits 4..23). A byte per granule, not a bit,
// is the point: marking a fresh block live is a plain store (the granule belongs to that block
// alone), and only the claim on free needs an atomic compare-exchange, which is also what makes
// two racing frees of one pointer safe (one wins, the other sees Freed). Nodes are allocated on
// first touch and published with a compare-exchange; reads need no lock. Leaves are 1 MiB of
// zeroed memory that the OS commits page by page as they are touched.
//
// Addresses at or above 2^48 (never returned by today's x64 or arm64 user-space allocators, but
// possible with 5-level paging or tagged pointers) go to a small locked dictionary instead.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Regions;

internal sealed unsafe class LiveBlockMap : IDisposable
{
    public const int GranuleShift = 4;
    private const int LeafShift = 24;
    private const int MidShift = 36;
    private const int NodeBits = 12;
    private const int NodeEntries = 1 << NodeBits;
    private const nuint LeafBytes = 1u << (LeafShift - GranuleShift);
    private static readonly nuint FarLimit = IntPtr.Size == 8 ? unchecked((nuint)(1UL << (MidShift + NodeBits))) : nuint.MaxValue;

    private readonly byte*** _top;
    private readonly Dictionary<nuint, byte> _far = [];
    private readonly Lock _farLock = new();
    private bool _disposed;

    public LiveBlockMap()
    {
        _top = (byte***)NativeMemory.AllocZeroed(NodeEntries, (nuint)sizeof(nint));
    }

    /// <summary>Bytes of native memory the map has reserved (nodes and leaves).</summary>
    public long ReservedBytes { get; private set; } = NodeEntries * sizeof(nint);

    /// <summary>Marks a fresh block start live. Returns false only when a leaf could not be allocated.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MarkLive(nuint address)
    {
        var cell = Cell(address);
        if (cell is null)
        {
            return SetSlow(address, (byte)BlockState.Live);
        }

        Volatile.Write(ref *cell, (byte)BlockState.Live); // Release: what was written before (a poisoning construction's mark) is visible first.
        return true;
    }

    /// <summary>Moves a live block start to Freed atomically; returns the state it was in (only Live means the caller now owns the block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BlockState TryClaim(nuint address)
    {
        var cell = Cell(address);
        if (cell is null)
        {
            return ClaimSlow(address);
        }

        return (BlockState)Interlocked.CompareExchange(ref *cell, (byte)BlockState.Freed, (byte)BlockState.Live);
    }

    /// <summary>The state of an address.</summary>
    public BlockState Get(nuint address)
    {
        var cell = Cell(address);
        if (cell is not null)
        {
            return (BlockState)Volatile.Read(ref *cell);
        }

        if (address >= FarLimit)
        {
            lock (_farLock)
            {
                return _far.TryGetValue(address, out var state) ? (BlockState)state : BlockState.NotABlock;
            }
        }

        return BlockState.NotABlock;
    }

    /// <summary>Sets the state of an address the caller owns (restoring Live after a failed realloc).</summary>
    public void Set(nuint address, BlockState state)
    {
        var cell = Cell(address);
        if (cell is null)
        {
            SetSlow(address, (byte)state);
            return;
        }

        Volatile.Write(ref *cell, (byte)state);
    }

    /// <summary>Calls <paramref name="visitor"/> with every address whose state is Live.</summary>
    public void ForEachLive(Action<nuint> visitor)
    {
        for (nuint top = 0; top < NodeEntries; top++)
        {
            var mid = (byte**)Volatile.Read(ref *(nint*)(_top + top));
            if (mid is null)
            {
                continue;
            }

            for (nuint m = 0; m < NodeEntries; m++)
            {
                var leaf = (byte*)Volatile.Read(ref *(nint*)(mid + m));
                if (leaf is null)
                {
                    continue;
                }

                var baseAddress = (nuint)(((ulong)top << MidShift) | ((ulong)m << LeafShift));
                var span = new ReadOnlySpan<byte>(leaf, (int)LeafBytes);
                var offset = 0;
                while (true)
                {
                    var found = span[offset..].IndexOf((byte)BlockState.Live);
                    if (found < 0)
                    {
                        break;
                    }

                    offset += found;
                    visitor(baseAddress | ((nuint)(uint)offset << GranuleShift));
                    offset++;
                }
            }
        }

        List<nuint> far;
        lock (_farLock)
        {
            far = [.. _far.Where(static pair => pair.Value == (byte)BlockState.Live).Select(static pair => pair.Key)];
        }

        far.ForEach(visitor);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        for (nuint top = 0; top < NodeEntries; top++)
        {
            var mid = _top[top];
            if (mid is null)
            {
                continue;
            }

            for (nuint m = 0; m < NodeEntries; m++)
            {
                NativeMemory.Free(mid[m]);
            }

            NativeMemory.Free(mid);
        }

        NativeMemory.Free(_top);
    }

    /// <summary>The byte for an address when its leaf exists; null otherwise (and for far addresses).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* Cell(nuint address)
    {
        if (address >= FarLimit)
        {
            return null;
        }

        var mid = (byte**)Volatile.Read(ref *(nint*)(_top + TopIndex(address)));
        if (mid is null)
        {
            return null;
        }

        var leaf = (byte*)Volatile.Read(ref *(nint*)(mid + MidIndex(address)));
        if (leaf is null)
        {
            return null;
        }

        return leaf + LeafIndex(address);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint TopIndex(nuint address) => (nuint)((ulong)address >> MidShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint MidIndex(nuint address) => (nuint)(((ulong)address >> LeafShift) & (NodeEntries - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint LeafIndex(nuint address) => (nuint)(((ulong)address >> GranuleShift) & (LeafBytes - 1));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool SetSlow(nuint address, byte state)
    {
        if (address >= FarLimit)
        {
            lock (_farLock)
            {
                _far[address] = state;
            }

            return true;
        }

        var cell = CreateCell(address);
        if (cell is null)
        {
            return false;
        }

        Volatile.Write(ref *cell, state);
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private BlockState ClaimSlow(nuint address)
    {
        if (address < FarLimit)
        {
            return BlockState.NotABlock; // No leaf: nothing was ever marked here.
        }

        lock (_farLock)
        {
            if (_far.TryGetValue(address, out var state) && state == (byte)BlockState.Live)
            {
                _far[address] = (byte)BlockState.Freed;
            }

            return (BlockState)state;
        }
    }

    private byte* CreateCell(nuint address)
    {
        var midSlot = (nint*)(_top + TopIndex(address));
        var mid = (byte**)Volatile.Read(ref *midSlot);
        if (mid is null)
        {
            var fresh = TryAllocZeroed((nuint)NodeEntries * (nuint)sizeof(nint));
            if (fresh is null)
            {
                return null;
            }

            var won = Interlocked.CompareExchange(ref *midSlot, (nint)fresh, 0);
            if (won == 0)
            {
                mid = (byte**)fresh;
                AddReserved(NodeEntries * sizeof(nint));
            }
            else
            {
                NativeMemory.Free(fresh);
                mid = (byte**)won;
            }
        }

        var leafSlot = (nint*)(mid + MidIndex(address));
        var leaf = (byte*)Volatile.Read(ref *leafSlot);
        if (leaf is null)
        {
            var fresh = TryAllocZeroed(LeafBytes);
            if (fresh is null)
            {
                return null;
            }

            var won = Interlocked.CompareExchange(ref *leafSlot, (nint)fresh, 0);
            if (won == 0)
            {
                leaf = (byte*)fresh;
                AddReserved((long)LeafBytes);
            }
            else
            {
                NativeMemory.Free(fresh);
                leaf = (byte*)won;
            }
        }

        return leaf + LeafIndex(address);
    }

    private void AddReserved(long bytes)
    {
        lock (_farLock)
        {
            ReservedBytes += bytes;
        }
    }

    private static void* TryAllocZeroed(nuint bytes)
    {
        try
        {
            return NativeMemory.AllocZeroed(bytes);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }
}

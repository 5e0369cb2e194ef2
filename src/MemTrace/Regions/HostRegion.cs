// HostRegion: the process heap (NativeMemory) as one unbounded region.
//
// Each block is the native allocation plus a 16-byte header right before the user pointer:
//     [ ... alignment padding ... | Size (nuint) | Tag (uint) | Offset (uint) | user bytes ... ]
// Size is the usable size (the request rounded up to 16), Tag the owner word for the layer
// above, Offset the distance back to the native allocation (its top bit marks an aligned
// allocation, which must be released with NativeMemory.AlignedFree).
//
// What the region can know: the LiveBlockMap says exactly which addresses are the starts of its
// live blocks, and which were freed and not reused, so a double free, a pointer never handed
// out or an interior pointer is recognised without reading memory through the pointer, and is
// never passed to the native free. What it cannot know: whether a pointer that is the start of
// a live block is a stale copy from before the address was reused (that needs a quarantine);
// anything about writes out of bounds (that needs canaries); and, since the process heap has no
// fixed size, any free, minimum-free or largest-free figure: they are reported as unbounded.
//
// Reading a header is safe only while the block cannot be freed. Free claims a block with one
// compare-exchange before touching its header, so frees never race with each other. Readers that
// do not own a block (Query, ForEachLiveBlock) announce the address they are about to read in a
// hazard slot, fence, and re-check the map; a free that sees a reader active waits until the
// reader has left that address (Dekker's pattern: both sides fence, so one always sees the
// other). The free fast path pays one plain read of the reader count for this.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Regions;

internal sealed unsafe class HostRegion : Region
{
    /// <summary>The largest request the region accepts; larger ones fail at once (keeps size arithmetic free of overflow).</summary>
    public static readonly nuint MaxRequest = (nuint)nint.MaxValue >> 2;

    /// <summary>
    /// The largest alignment the region serves (1 GiB); larger ones fail as out of memory. A block's offset back to its native
    /// allocation is the alignment, kept in 31 bits beside the aligned flag: 2^31 would become the flag and 2^32 zero.
    /// </summary>
    public const nuint MaxAlignment = 1u << 30;

    private const int HeaderSize = 16;
    private const uint AlignedFlag = 1u << 31;
    private const nuint Granule = 16;

    private readonly LiveBlockMap _map = new();
    private readonly Lock _readerLock = new();
    private int _readers;
    private nuint _hazard;
    private int _disposed;

    public HostRegion(string name, MallocCaps caps0, MallocCaps caps1, MallocCaps caps2)
        : base(name, caps0, caps1, caps2)
    {
    }

    public override bool IsUnbounded => true;

    public override nuint Start => 0;

    public override nuint End => nuint.MaxValue;

    public override nuint TotalSize => nuint.MaxValue;

    public override nuint FreeBytes => nuint.MaxValue;

    public override nuint MinimumFreeBytes => nuint.MaxValue;

    public override nuint LargestFreeBlock => nuint.MaxValue;

    /// <summary>Bytes of native memory the live-block map has reserved.</summary>
    public long MapReservedBytes => _map.ReservedBytes;

    public override void* Allocate(nuint size, nuint alignment, bool zero, uint tag)
    {
        if (size > MaxRequest)
        {
            return null;
        }

        var usable = (size + (Granule - 1)) & ~(Granule - 1);
        byte* user;
        uint offset;
        if (alignment <= Granule)
        {
            var native = (byte*)TryAlloc(usable + HeaderSize, zero);
            if (native is null)
            {
                return null;
            }

            if (((nuint)native & (Granule - 1)) != 0)
            {
                // The platform malloc gives less than 16-byte alignment (32-bit runtimes): use the aligned path.
                NativeMemory.Free(native);
                return AllocateAligned(usable, Granule, zero, tag);
            }

            user = native + HeaderSize;
            offset = HeaderSize;
        }
        else
        {
            return alignment <= MaxAlignment ? AllocateAligned(usable, alignment, zero, tag) : null;
        }

        return Publish(user, usable, tag, offset);
    }

    public override void* Reallocate(void* ptr, nuint size, out BlockState state, out BlockInfo old)
    {
        var address = (nuint)ptr;
        state = Claim(address);
        if (state != BlockState.Live)
        {
            old = default;
            return null;
        }

        var header = (Header*)(address - HeaderSize);
        old = new BlockInfo(header->Size, header->Tag);
        var usable = (size + (Granule - 1)) & ~(Granule - 1);
        if (size > MaxRequest)
        {
            _map.Set(address, BlockState.Live);
            return null;
        }

        var offset = header->Offset & ~AlignedFlag;
        var native = (byte*)ptr - offset;
        byte* moved;
        if ((header->Offset & AlignedFlag) != 0)
        {
            moved = (byte*)TryAlignedRealloc(native, usable + offset, offset);
        }
        else
        {
            moved = (byte*)TryRealloc(native, usable + HeaderSize);
            if (moved is not null && ((nuint)moved & (Granule - 1)) != 0)
            {
                moved = RealignAfterRealloc(moved, usable);
            }
        }

        if (moved is null)
        {
            _map.Set(address, BlockState.Live); // The native realloc failed: the block is intact.
            return null;
        }

        var user = moved + offset;
        ((Header*)(user - HeaderSize))->Size = usable;
        if (!_map.MarkLive((nuint)user))
        {
            // Cannot happen for an address the map has seen; for a new one it means no memory for a leaf.
            FreeNative((Header*)(user - HeaderSize), user);
            return null;
        }

        return user;
    }

    public override BlockState Free(void* ptr, bool clearIfTagged, out BlockInfo block, IBlockInspector? inspector)
    {
        var address = (nuint)ptr;
        var state = Claim(address);
        if (state != BlockState.Live)
        {
            block = default;
            return state;
        }

        var header = (Header*)(address - HeaderSize);
        block = new BlockInfo(header->Size, header->Tag);
        if (clearIfTagged && header->Tag != 0)
        {
            NativeMemory.Clear(ptr, header->Size);
        }

        if (inspector is not null)
        {
            // Everything read from the header is read before Approve: a block it quarantines can be evicted by another
            // thread's free and given back to the process heap as soon as Approve returns (no region lock is held here).
            var size = header->Size;
            var tag = header->Tag;
            var approved = inspector.Approve((byte*)ptr, ref size, tag);
            block = new BlockInfo(size, tag);
            if (!approved)
            {
                return BlockState.Live; // Held: claimed (a second free sees Freed) but not given back to the process heap.
            }
        }

        FreeNative(header, (byte*)ptr);
        return BlockState.Live;
    }

    public override bool HeldBlocksStayLive => false;

    public override void ReleaseHeld(void* ptr) => FreeNative((Header*)((byte*)ptr - HeaderSize), (byte*)ptr);

    public override BlockState Query(void* ptr, out BlockInfo block)
    {
        var address = (nuint)ptr;
        block = default;
        if ((address & (Granule - 1)) != 0)
        {
            return BlockState.NotABlock;
        }

        var state = _map.Get(address);
        if (state != BlockState.Live)
        {
            return state;
        }

        lock (_readerLock)
        {
            Interlocked.Increment(ref _readers);
            try
            {
                if (!Announce(address))
                {
                    return _map.Get(address);
                }

                var header = (Header*)(address - HeaderSize);
                block = new BlockInfo(header->Size, header->Tag);
                return BlockState.Live;
            }
            finally
            {
                Volatile.Write(ref _hazard, 0);
                Interlocked.Decrement(ref _readers);
            }
        }
    }

    public override void SetTag(void* ptr, uint tag)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            ((Header*)((byte*)ptr - HeaderSize))->Tag = tag;
        }
    }

    public override bool ClearTag(void* ptr, uint tag)
    {
        var address = (nuint)ptr;
        if (Volatile.Read(ref _disposed) != 0 || (address & (Granule - 1)) != 0 || _map.Get(address) != BlockState.Live)
        {
            return false;
        }

        // As Query: announced, a free of this address waits until the header is no longer touched.
        lock (_readerLock)
        {
            Interlocked.Increment(ref _readers);
            try
            {
                return Announce(address) && Interlocked.CompareExchange(ref ((Header*)(address - HeaderSize))->Tag, 0, tag) == tag;
            }
            finally
            {
                Volatile.Write(ref _hazard, 0);
                Interlocked.Decrement(ref _readers);
            }
        }
    }

    public override HeapInfo GetInfo()
    {
        nuint blocks = 0;
        nuint bytes = 0;
        ForEachLiveBlock((_, size, _) =>
        {
            blocks++;
            bytes += size;
        });
        return new HeapInfo(nuint.MaxValue, bytes, nuint.MaxValue, nuint.MaxValue, blocks, 0, blocks, IsUnbounded: true);
    }

    public override void ForEachLiveBlock(Action<nuint, nuint, uint> visitor) => VisitLiveBlocks(visitor, announcedDuringVisit: false);

    /// <summary>The block stays announced while the visitor reads it: a free of it waits (in Claim) until the visitor is done.</summary>
    public override void InspectLiveBlocks(Action<nuint, nuint, uint> visitor) => VisitLiveBlocks(visitor, announcedDuringVisit: true);

    private void VisitLiveBlocks(Action<nuint, nuint, uint> visitor, bool announcedDuringVisit)
    {
        lock (_readerLock)
        {
            Interlocked.Increment(ref _readers);
            try
            {
                _map.ForEachLive(address =>
                {
                    if (!Announce(address))
                    {
                        return;
                    }

                    var header = (Header*)(address - HeaderSize);
                    var size = header->Size;
                    var tag = header->Tag;
                    if (announcedDuringVisit)
                    {
                        visitor(address, size, tag);
                        Volatile.Write(ref _hazard, 0);
                    }
                    else
                    {
                        Volatile.Write(ref _hazard, 0);
                        visitor(address, size, tag);
                    }
                });
            }
            finally
            {
                Volatile.Write(ref _hazard, 0);
                Interlocked.Decrement(ref _readers);
            }
        }
    }

    public override void Walk(RegionWalkVisitor visitor)
    {
        // The process heap's free blocks are not ours to see: walk the live blocks.
        var stop = false;
        ForEachLiveBlock((address, size, _) =>
        {
            if (!stop)
            {
                stop = !visitor(address, size, used: true);
            }
        });
    }

    public override bool CheckIntegrity(TextWriter? output) => true; // No structure of ours to corrupt: headers are read only for live blocks.

    public override nuint SwapMinimumFree() => nuint.MaxValue;

    public override void RestoreMinimumFree(nuint snapshot)
    {
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var live = new List<nuint>();
        _map.ForEachLive(live.Add);
        foreach (var address in live)
        {
            Free((void*)address, clearIfTagged: false, out _);
        }

        _map.Dispose();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BlockState Claim(nuint address)
    {
        if ((address & (Granule - 1)) != 0)
        {
            return BlockState.NotABlock;
        }

        var state = _map.TryClaim(address);
        if (state == BlockState.Live && Volatile.Read(ref _readers) != 0)
        {
            WaitForReader(address);
        }

        return state;
    }

    /// <summary>Publishes <paramref name="address"/> as being read, then confirms the block is still live.</summary>
    private bool Announce(nuint address)
    {
        Volatile.Write(ref _hazard, address);
        Interlocked.MemoryBarrier();
        return _map.Get(address) == BlockState.Live;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WaitForReader(nuint address)
    {
        var spinner = default(SpinWait);
        while (Volatile.Read(ref _hazard) == address)
        {
            spinner.SpinOnce();
        }
    }

    private void* AllocateAligned(nuint usable, nuint alignment, bool zero, uint tag)
    {
        if (usable > MaxRequest - alignment)
        {
            return null;
        }

        var native = (byte*)TryAlignedAlloc(usable + alignment, alignment);
        if (native is null)
        {
            return null;
        }

        if (zero)
        {
            NativeMemory.Clear(native + alignment, usable);
        }

        return Publish(native + alignment, usable, tag, (uint)alignment | AlignedFlag);
    }

    private void* Publish(byte* user, nuint usable, uint tag, uint offset)
    {
        var header = (Header*)(user - HeaderSize);
        header->Size = usable;
        header->Tag = tag;
        header->Offset = offset;
        if (!_map.MarkLive((nuint)user))
        {
            FreeNative(header, user);
            return null;
        }

        return user;
    }

    /// <summary>A plain realloc returned memory below 16-byte alignment (32-bit runtimes): move it to an aligned allocation.</summary>
    private static byte* RealignAfterRealloc(byte* moved, nuint usable)
    {
        var aligned = (byte*)TryAlignedAlloc(usable + Granule, Granule);
        if (aligned is null)
        {
            return null;
        }

        NativeMemory.Copy(moved, aligned, usable + HeaderSize);
        NativeMemory.Free(moved);
        ((Header*)aligned)->Offset = HeaderSize | AlignedFlag;
        return aligned;
    }

    private static void FreeNative(Header* header, byte* user)
    {
        var native = user - (header->Offset & ~AlignedFlag);
        if ((header->Offset & AlignedFlag) != 0)
        {
            NativeMemory.AlignedFree(native);
        }
        else
        {
            NativeMemory.Free(native);
        }
    }

    private static void* TryAlloc(nuint bytes, bool zero)
    {
        try
        {
            return zero ? NativeMemory.AllocZeroed(bytes) : NativeMemory.Alloc(bytes);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }

    private static void* TryAlignedAlloc(nuint bytes, nuint alignment)
    {
        try
        {
            return NativeMemory.AlignedAlloc(bytes, alignment);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }

    private static void* TryRealloc(void* native, nuint bytes)
    {
        try
        {
            return NativeMemory.Realloc(native, bytes);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }

    private static void* TryAlignedRealloc(void* native, nuint bytes, nuint alignment)
    {
        try
        {
            return NativeMemory.AlignedRealloc(native, bytes, alignment);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }

    /// <summary>The 16 bytes before every user pointer. Written once at allocation; Size updated by realloc.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Header
    {
        /// <summary>Usable size: the request rounded up to 16.</summary>
        public nuint Size;

        /// <summary>Owner word for the layer above; 0 for none.</summary>
        public uint Tag;

        /// <summary>Bytes from the native allocation to the user pointer; top bit set for aligned allocations.</summary>
        public uint Offset;
    }
}

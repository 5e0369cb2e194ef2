// LiveBlockTable: what the heap recorded about each live block when it handed it out, kept
// outside the region memory: the 32-bit owner word ("tag") the layer above stores per block
// (ESP-IDF's task tracking keeps its owner word inside the block instead, which changes every
// figure by 4 bytes per block), and the block's size.
//
// The recorded size is what makes an overwritten size word detectable in O(1): before the heap
// frees or resizes a block it compares the header with the record, so a buffer overrun that
// rewrote the header (even into a size that lands exactly on the next valid header) is refused
// instead of corrupting the free lists.
//
// Slots are 16 bytes of region apart, not one per alignment granule: two block starts are always
// at least 16 bytes apart (the 12-byte minimum block plus the next block's 4-byte size word), so
// (user offset >> 4) is unique per live block, and the table costs half the region's size instead
// of twice it when the alignment is 4.
//
// Invariant: the slot of a live block's user pointer holds its tag and its current size; slots of
// addresses that are no live block start hold zeros.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

internal sealed unsafe class LiveBlockTable : IDisposable
{
    /// <summary>log2 of the region bytes per slot.</summary>
    public const int SlotShift = 4;

    private readonly nuint _slots;
    private Entry* _entries;

    /// <summary>A table for a region of <paramref name="regionSize"/> bytes.</summary>
    public LiveBlockTable(nuint regionSize)
    {
        _slots = (regionSize >> SlotShift) + 1;
        _entries = (Entry*)NativeMemory.AllocZeroed(_slots, (nuint)sizeof(Entry));
    }

    /// <summary>Bytes of native memory the table takes.</summary>
    public nuint ReservedBytes => _slots * (nuint)sizeof(Entry);

    /// <summary>The tag of the block whose user pointer is at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint GetTag(uint offset) => _entries[offset >> SlotShift].Tag;

    /// <summary>Sets the tag of the block whose user pointer is at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetTag(uint offset, uint tag) => _entries[offset >> SlotShift].Tag = tag;

    /// <summary>The size recorded for the block whose user pointer is at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint GetSize(uint offset) => _entries[offset >> SlotShift].Size;

    /// <summary>Records the size of the block whose user pointer is at <paramref name="offset"/> (after a resize in place).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetSize(uint offset, uint size) => _entries[offset >> SlotShift].Size = size;

    /// <summary>Records a block handed out at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(uint offset, uint tag, uint size)
    {
        ref var entry = ref _entries[offset >> SlotShift];
        entry.Tag = tag;
        entry.Size = size;
    }

    /// <summary>Forgets the block at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Clear(uint offset) => _entries[offset >> SlotShift] = default;

    public void Dispose()
    {
        NativeMemory.Free(_entries);
        _entries = null;
    }

    /// <summary>One live block: its owner word and its size (flags excluded).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        public uint Tag;
        public uint Size;
    }
}

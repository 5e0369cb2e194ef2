// BlockTagTable: one 32-bit owner word ("tag") per live block of a TLSF region, kept outside the
// region memory so that the chip statistics stay exact (ESP-IDF's task tracking stores its owner
// word inside the block instead, which changes every figure by 4 bytes per block).
//
// Slots are 16 bytes of region apart, not one per alignment granule: two block starts are always
// at least 16 bytes apart (the 12-byte minimum block plus the next block's 4-byte size word), so
// (user offset >> 4) is unique per live block, and the table costs a quarter of the region
// instead of as much as the region itself when the alignment is 4.
//
// Invariant: a slot holds the tag of the live block whose user pointer falls in it, or 0.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

internal sealed unsafe class BlockTagTable : IDisposable
{
    /// <summary>log2 of the region bytes per slot.</summary>
    public const int SlotShift = 4;

    private readonly nuint _slots;
    private uint* _tags;

    /// <summary>A table for a region of <paramref name="regionSize"/> bytes.</summary>
    public BlockTagTable(nuint regionSize)
    {
        _slots = (regionSize >> SlotShift) + 1;
        _tags = (uint*)NativeMemory.AllocZeroed(_slots, sizeof(uint));
    }

    /// <summary>Bytes of native memory the table takes.</summary>
    public nuint ReservedBytes => _slots * sizeof(uint);

    /// <summary>The tag of the block whose user pointer is at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Get(uint offset) => _tags[offset >> SlotShift];

    /// <summary>Sets the tag of the block whose user pointer is at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(uint offset, uint tag) => _tags[offset >> SlotShift] = tag;

    public void Dispose()
    {
        NativeMemory.Free(_tags);
        _tags = null;
    }
}

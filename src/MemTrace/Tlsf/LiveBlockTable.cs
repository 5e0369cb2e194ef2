// LiveBlockTable: what the heap knows of every block start, kept OUTSIDE the region memory (native
// memory of its own), so the chip figures stay exact and a pointer can be judged without reading
// anything through it.
//
// Why it exists: TLSF, like the chip, would trust the header in front of any pointer it is given;
// a double free or a stray pointer then corrupts the free lists. The table answers "is this the
// start of a live block?" exactly, in one load, and keeps what the heap recorded when it handed
// the block out:
// - the block's size, which makes an overwritten size word detectable in O(1): before the heap
//   frees or resizes a block it compares the header with the record, so a buffer overrun that
//   rewrote the header (even into a size that lands exactly on the next valid header) is refused
//   instead of corrupting the free lists;
// - the 32-bit owner word ("tag") the layer above stores per block (ESP-IDF's task tracking keeps
//   its owner word inside the block instead, which changes every figure by 4 bytes per block);
// - for every start ever freed, a "freed" bit, which tells a double free from a pointer that was
//   never handed out.
//
// Slots are 16 bytes of region apart: two live block starts are always at least 16 bytes apart
// (the 12-byte minimum block plus the next block's 4-byte size word), so (offset >> 4) is unique per
// live block, and the table costs half the region's size. Every start is 4-aligned, and the slot's
// word keeps which of its four 4-byte positions the start is at, so an interior pointer in the same
// 16 bytes is never taken for the start.
//
// One slot is 8 bytes, the tag then the word; the word is LiveBit | size | p for the live start at
// position p (0..3) of the slot (size: the block's size, a multiple of 4 below 2^31), 0 otherwise,
// so the free's two questions, "is this a live start?" and "does its header still say the size it
// was handed out with?", are one compare of one word, and a malloc records its block with one store.
//
// The freed bits (one per 4 bytes of region, apart from the slots) are set by a free and never
// cleared: every way a start stops being live is a free (or a realloc that moves the block, which
// frees it), so a start that is not live now and whose bit is set was freed last, even if a larger
// block now covers it. A malloc touches no bit; "freed" is asked only of a start that is not live.
//
// Invariant: the slot of a live block's user pointer holds its tag and its live word; no other slot
// holds a live word (the integrity check verifies this).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MemTrace.Tlsf;

internal unsafe struct LiveBlockTable : IDisposable
{
    /// <summary>log2 of the region bytes per slot.</summary>
    public const int SlotShift = 4;

    /// <summary>The word of a live start has this bit set.</summary>
    private const uint LiveBit = 0x8000_0000;

    /// <summary>The size bits of a live word.</summary>
    private const uint SizeMask = 0x7FFF_FFFC;

    /// <summary>The position bits of a word: which 4-byte step of the slot the start is at.</summary>
    private const uint PositionMask = 3;

    private readonly nuint _slots;
    private readonly nuint _freedWords;
    private ulong* _entries;
    private ulong* _freed;

    /// <summary>A table for a region of <paramref name="regionSize"/> bytes, every slot empty.</summary>
    public LiveBlockTable(nuint regionSize)
    {
        _slots = (regionSize >> SlotShift) + 1;
        _freedWords = (regionSize >> 8) + 1;
        _entries = (ulong*)NativeMemory.AllocZeroed(_slots, sizeof(ulong));
        _freed = (ulong*)NativeMemory.AllocZeroed(_freedWords, sizeof(ulong));
    }

    /// <summary>Bytes of native memory the table takes.</summary>
    public readonly nuint ReservedBytes => (_slots + _freedWords) * sizeof(ulong);

    /// <summary>Whether <paramref name="offset"/> (4-aligned) is the start of a live block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool IsLive(uint offset) => (Word(offset) & (LiveBit | PositionMask)) == (LiveBit | Position(offset));

    /// <summary>
    /// Whether <paramref name="offset"/> is the start of a live block recorded with <paramref name="size"/> bytes (a size
    /// read from a header, flags cleared): one compare. An exclusive or, not an or: a size with the top bit set (an
    /// overwritten header) must not match the live bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool IsLiveWithSize(uint offset, uint size) => (Word(offset) ^ size) == (LiveBit | Position(offset));

    /// <summary>Whether <paramref name="offset"/> is a start that was freed and is not live (handed out again) now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool IsFreed(uint offset) => (_freed[offset >> 8] & (1UL << (int)((offset >> 2) & 63))) != 0 && !IsLive(offset);

    /// <summary>The size recorded for the live block at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly uint GetSize(uint offset) => Word(offset) & SizeMask;

    /// <summary>The tag of the live block at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly uint GetTag(uint offset) => (uint)_entries[offset >> SlotShift];

    /// <summary>Sets the tag of the live block at <paramref name="offset"/>; its word is not touched.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void SetTag(uint offset, uint tag) => *(uint*)&_entries[offset >> SlotShift] = tag;

    /// <summary>Records a block of <paramref name="size"/> bytes handed out at <paramref name="offset"/>: one store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MarkLive(uint offset, uint tag, uint size) =>
        _entries[offset >> SlotShift] = ((ulong)(LiveBit | size | Position(offset)) << 32) | tag;

    /// <summary>Records the new size of the live block at <paramref name="offset"/> (after a resize in place).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void SetSize(uint offset, uint size) =>
        ((uint*)&_entries[offset >> SlotShift])[1] = LiveBit | size | Position(offset);

    /// <summary>Forgets the block at <paramref name="offset"/> and marks its start freed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MarkFreed(uint offset)
    {
        _entries[offset >> SlotShift] = 0;
        _freed[offset >> 8] |= 1UL << (int)((offset >> 2) & 63);
    }

    /// <summary>The number of live starts: a scan of the table, four slots at a time (the integrity check's cost on a large region).</summary>
    /// <remarks>Always optimised, also in a Debug build: the model tests run the integrity check thousands of times.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly nuint CountLive()
    {
        var sums = Vector256<ulong>.Zero;
        nuint i = 0;
        for (; i + 4 <= _slots; i += 4)
        {
            sums += Vector256.ShiftRightLogical(Vector256.Load(_entries + i), 63);
        }

        var count = (nuint)Vector256.Sum(sums);
        for (; i < _slots; i++)
        {
            count += (nuint)(_entries[i] >> 63);
        }

        return count;
    }

    /// <summary>The first live block start at or after <paramref name="offset"/>, or <see cref="uint.MaxValue"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public readonly uint NextLive(uint offset)
    {
        for (nuint i = (nuint)(offset >> SlotShift); i < _slots; i++)
        {
            var word = (uint)(_entries[i] >> 32);
            if ((word & LiveBit) != 0)
            {
                var start = (uint)(i << SlotShift) + ((word & PositionMask) << 2);
                if (start >= offset)
                {
                    return start;
                }
            }
        }

        return uint.MaxValue;
    }

    public void Dispose()
    {
        NativeMemory.Free(_entries);
        NativeMemory.Free(_freed);
        _entries = null;
        _freed = null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly uint Word(uint offset) => (uint)(_entries[offset >> SlotShift] >> 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Position(uint offset) => (offset >> 2) & PositionMask;
}

// BlockHeader: TLSF's block_header_t as it sits in chip memory, with 32-bit offsets from the
// region base in place of the chip's 32-bit pointers. Keeping the fields 32-bit (not native
// pointers) makes every figure on a 64-bit host the chip's figure: 4 bytes of overhead per used
// block, a 12-byte minimum block, 8 bytes per pool.
//
// A block at offset B occupies memory like this (user data at B + 8):
//
//     B+0  prev_phys   last word of the PREVIOUS block's data; valid only when that block is free
//     B+4  size|flags  always valid; the only overhead a used block pays
//     B+8  next_free   valid only while this block is free (else user data)
//     B+12 prev_free   valid only while this block is free (else user data)
//
// The next physical block starts at B + size + 4, so its prev_phys word overlaps the last 4 bytes
// of this block's data. The low two bits of size are flags (sizes are multiples of 4):
// bit 0 = this block is free, bit 1 = the previous physical block is free.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

/// <summary>
/// block_header_t with 32-bit offsets (from the region base) for links.
/// Invariants: <see cref="PrevPhys"/> is meaningful only when <see cref="IsPrevFree"/>;
/// <see cref="NextFree"/>/<see cref="PrevFree"/> only when <see cref="IsFree"/>; a zero
/// <see cref="Size"/> marks the pool's sentinel, which is always used.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct BlockHeader
{
    /// <summary>Bit 0 of the size word: this block is free.</summary>
    public const uint FreeBit = 1u << 0;

    /// <summary>Bit 1 of the size word: the previous physical block is free.</summary>
    public const uint PrevFreeBit = 1u << 1;

    /// <summary>Both flag bits.</summary>
    public const uint FlagMask = FreeBit | PrevFreeBit;

    /// <summary>Offset of the previous physical block; valid only when it is free.</summary>
    public uint PrevPhys;

    /// <summary>Size of the block's data (excluding this size word) with the two flags in the low bits.</summary>
    public uint SizeWord;

    /// <summary>Offset of the next block in this block's free list (the control's null block ends a list).</summary>
    public uint NextFree;

    /// <summary>Offset of the previous block in this block's free list (the control's null block for the head).</summary>
    public uint PrevFree;

    /// <summary>block_size(): the size without flags.</summary>
    public readonly uint Size
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => SizeWord & ~FlagMask;
    }

    /// <summary>block_is_free().</summary>
    public readonly bool IsFree
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (SizeWord & FreeBit) != 0;
    }

    /// <summary>block_is_prev_free().</summary>
    public readonly bool IsPrevFree
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (SizeWord & PrevFreeBit) != 0;
    }

    /// <summary>block_is_last(): the zero-size sentinel that ends the pool.</summary>
    public readonly bool IsLast
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Size == 0;
    }

    /// <summary>block_set_size(): replaces the size, keeps the flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetSize(uint size) => SizeWord = size | (SizeWord & FlagMask);

    /// <summary>block_set_free().</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetFree() => SizeWord |= FreeBit;

    /// <summary>block_set_used().</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetUsed() => SizeWord &= ~FreeBit;

    /// <summary>block_set_prev_free().</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetPrevFree() => SizeWord |= PrevFreeBit;

    /// <summary>block_set_prev_used().</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetPrevUsed() => SizeWord &= ~PrevFreeBit;
}

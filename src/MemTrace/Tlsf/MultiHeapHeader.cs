// MultiHeapHeader: heap_t of ESP-IDF's multi_heap.c, the 20 bytes at the start of every heap that
// hold its statistics (see TlsfControl.cs for the whole metadata layout). The figures live in
// region memory, as on the chip, so free bytes account for them exactly.
using System.Runtime.InteropServices;

namespace MemTrace.Tlsf;

/// <summary>
/// heap_t of multi_heap.c on a 32-bit chip (20 bytes).
/// Invariant: <c>FreeBytes = pool length - sum over used blocks of (size + 4)</c>, and
/// <c>MinimumFreeBytes &lt;= FreeBytes</c>.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 20)]
internal struct MultiHeapHeader
{
    /// <summary>lock: a pointer to the chip's spinlock; always 0 here (the region holds a managed lock).</summary>
    public uint Lock;

    /// <summary>free_bytes: decreased by block size + 4 on malloc, increased by the same on free.</summary>
    public uint FreeBytes;

    /// <summary>minimum_free_bytes: lifetime low-watermark of <see cref="FreeBytes"/>.</summary>
    public uint MinimumFreeBytes;

    /// <summary>pool_size: the bytes handed to TLSF (region size - 20).</summary>
    public uint PoolSize;

    /// <summary>heap_data: offset of the TLSF control structure (a pointer on the chip).</summary>
    public uint Tlsf;
}

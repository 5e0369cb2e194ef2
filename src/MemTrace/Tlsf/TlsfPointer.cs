// TlsfPointer: what a TLSF heap can tell about a pointer it is given, before it touches anything.
// The heap answers from its own bookkeeping (LiveBlockTable), never from a header in front of the
// pointer; only a pointer that IS the start of a live block has its header read, and that header
// is then checked against its neighbours before the heap trusts it.
namespace MemTrace.Tlsf;

/// <summary>The classification of a pointer by a <see cref="TlsfHeap"/>.</summary>
internal enum TlsfPointer : byte
{
    /// <summary>Inside the region but not the start of a block it handed out (never handed out, interior or unaligned).</summary>
    NotABlock = 0,

    /// <summary>The start of a live block with an intact header.</summary>
    Live = 1,

    /// <summary>The start of a block that was freed and not handed out again.</summary>
    Freed = 2,

    /// <summary>Not inside the region.</summary>
    Outside = 3,

    /// <summary>The start of a live block whose header (or a neighbour's) was overwritten: the heap refuses to touch it.</summary>
    Corrupt = 4,
}

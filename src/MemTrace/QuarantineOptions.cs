// QuarantineOptions: freed blocks held back, poisoned, before they go back to their region.
namespace MemTrace;

/// <summary>
/// A quarantine of freed blocks (as ASan's <c>quarantine_size_mb</c> or Valgrind's <c>--freelist-vol</c>):
/// each freed block is filled with <c>0xFE</c> and kept out of reuse, first in first out, until the
/// quarantine is over either bound; it is verified when it leaves and by integrity checks, so a write
/// after free is caught even on the process heap, and a double free of a quarantined block is always
/// recognised. A damaged block is reported and set aside for good.
/// </summary>
/// <remarks>
/// <para>Each region has a quarantine of its own with these bounds: a block leaves when later frees in its
/// region push it out.</para>
/// <para>Quarantined bytes stay allocated in their region: the heap has that much less free memory, until a
/// request finds the region full. Then every block in that region's quarantine leaves at once (each verified, as when
/// later frees push it out; damage found is reported by that request), the blocks other threads are taking out at
/// that moment are waited for, and the request is tried again, so a request does not fail for memory the quarantine
/// holds. The quarantine starts filling again with the next free. One exception: with a quarantine a realloc always
/// moves the block (the old one goes into the quarantine), so the old and the new block must both fit, even to
/// shrink. Each
/// quarantined block keeps a copy of its tracker record, so that a report made when it leaves names its
/// allocation and free sites even though the tracker has reused the record.</para>
/// </remarks>
public sealed class QuarantineOptions
{
    /// <summary>
    /// The most bytes held per region (requested sizes); must be above 0. Default 1 MiB. A freed block larger than this
    /// is verified and given back at once, as ASan's quarantine does: a write after its free is not seen.
    /// </summary>
    public nuint MaxBytes { get; init; } = 1 << 20;

    /// <summary>The most blocks held per region; must be above 0. Default 1024.</summary>
    public int MaxBlocks { get; init; } = 1024;
}

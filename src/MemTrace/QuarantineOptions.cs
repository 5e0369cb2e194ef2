// QuarantineOptions: freed blocks held back, poisoned, before they go back to their region.
namespace MemTrace;

/// <summary>
/// A quarantine of freed blocks (as ASan's <c>quarantine_size_mb</c> or Valgrind's <c>--freelist-vol</c>):
/// each freed block is filled with <c>0xFE</c> and kept out of reuse, first in first out, until the
/// quarantine is over either bound; it is verified when it leaves, so a write after free is caught
/// even on the process heap, and a double free of a quarantined block is always recognised.
/// </summary>
/// <remarks>Quarantined bytes stay allocated in their region: the heap has that much less free memory.</remarks>
public sealed class QuarantineOptions
{
    /// <summary>The most bytes held (requested sizes). Default 1 MiB.</summary>
    public nuint MaxBytes { get; init; } = 1 << 20;

    /// <summary>The most blocks held. Default 1024.</summary>
    public int MaxBlocks { get; init; } = 1024;
}

// HeapCapsOptions: settings fixed when a HeapCaps is built.
namespace MemTrace;

/// <summary>Settings of a <see cref="HeapCaps"/>, fixed when it is built.</summary>
public sealed class HeapCapsOptions
{
    /// <summary>What happens when a memory error is detected. Default <see cref="MemoryErrorPolicy.Report"/>; can be changed later through <see cref="HeapCaps.ErrorPolicy"/>.</summary>
    public MemoryErrorPolicy ErrorPolicy { get; init; } = MemoryErrorPolicy.Report;

    /// <summary>Where error reports are written. Default <see cref="Console.Error"/>; null there means do not write (events still fire).</summary>
    public TextWriter? ErrorOutput { get; init; } = Console.Error;

    /// <summary>
    /// End the process after the failure callback when an allocation fails, as ESP-IDF's
    /// <c>CONFIG_HEAP_ABORT_WHEN_ALLOCATION_FAILS</c> (message <c>Mem alloc fail. size 0x… caps 0x…</c>). Default false.
    /// </summary>
    public bool AbortOnAllocationFailure { get; init; }

    /// <summary>
    /// Canaries and fill patterns on every block of every region (ESP-IDF's <c>CONFIG_HEAP_CORRUPTION_DETECTION</c>).
    /// Default <see cref="PoisoningLevel.None"/>. See <see cref="PoisoningLevel"/> for what each level catches and costs.
    /// </summary>
    public PoisoningLevel Poisoning { get; init; } = PoisoningLevel.None;

    /// <summary>A quarantine of freed blocks that catches writes after free on every region kind (see <see cref="QuarantineOptions"/>); null (the default) for none.</summary>
    public QuarantineOptions? Quarantine { get; init; }

    /// <summary>
    /// Check the integrity of every region after every N-th heap operation (the CRT debug heap's
    /// <c>_CRTDBG_CHECK_EVERY_N_DF</c>); 0 (the default) never. A check walks every block: use a large N.
    /// What a check finds is reported as <see cref="MemoryError"/>s under <see cref="ErrorPolicy"/>, detected by
    /// <see cref="AllocationMethod.CheckIntegrity"/> at the periodic check, during the call after which it ran: poisoning
    /// damage once per damage, a region whose own structures are damaged (a TLSF header overwritten) again at every check
    /// while it stays damaged. Under <see cref="MemoryErrorPolicy.Throw"/>, an allocation after which the check throws gives
    /// its block back first.
    /// </summary>
    public int IntegrityCheckInterval { get; init; }

    /// <summary>How many recent errors <see cref="HeapCaps.RecentErrors"/> keeps. Default 64; a value below 1 keeps 1.</summary>
    public int RecentErrorCapacity { get; init; } = 64;
}

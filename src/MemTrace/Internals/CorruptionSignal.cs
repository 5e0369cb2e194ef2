// CorruptionSignal: one flag per heap, raised by any of its checking regions when it queues a
// corruption, so that the heap's check after every operation is one load, whatever the number of
// regions.
namespace MemTrace.Internals;

internal sealed class CorruptionSignal
{
    private volatile int _raised;

    /// <summary>Whether some region may hold queued corruptions.</summary>
    public bool IsRaised => _raised != 0;

    /// <summary>Called by a region after it queued a corruption.</summary>
    public void Raise() => _raised = 1;

    /// <summary>Called by the heap before it drains every region: a corruption queued meanwhile raises it again.</summary>
    public void Reset() => _raised = 0;
}

// HeapCapsOptions: settings fixed when a HeapCaps is built.
namespace MemTrace;

/// <summary>Settings of a <see cref="HeapCaps"/>, fixed when it is built.</summary>
public sealed class HeapCapsOptions
{
    /// <summary>What happens when a memory error is detected. Default <see cref="MemoryErrorPolicy.Report"/>; can be changed later through <see cref="HeapCaps.ErrorPolicy"/>.</summary>
    public MemoryErrorPolicy ErrorPolicy { get; init; } = MemoryErrorPolicy.Report;

    /// <summary>Where error reports are written. Default <see cref="Console.Error"/>; null there means do not write (events still fire).</summary>
    public TextWriter? ErrorOutput { get; init; } = Console.Error;

    /// <summary>How many recent errors <see cref="HeapCaps.RecentErrors"/> keeps. Default 64.</summary>
    public int RecentErrorCapacity { get; init; } = 64;
}

// MemoryErrorEventArgs: the payload of HeapCaps.MemoryErrorDetected.
namespace MemTrace;

/// <summary>Arguments of <see cref="HeapCaps.MemoryErrorDetected"/>.</summary>
/// <param name="error">The detected error.</param>
public sealed class MemoryErrorEventArgs(MemoryError error) : EventArgs
{
    /// <summary>The detected error.</summary>
    public MemoryError Error { get; } = error ?? throw new ArgumentNullException(nameof(error));
}

// CapsMemoryInfo: one row of MemoryTracker.PrintMemoryInfo.
namespace MemTrace;

/// <summary>Memory figures for one capability, as <see cref="MemoryTracker.PrintMemoryInfo(string, TextWriter?)"/> prints them.</summary>
/// <param name="Caps">The capability.</param>
/// <param name="TotalSize">Total bytes of matching regions.</param>
/// <param name="FreeSize">Free bytes.</param>
/// <param name="MinimumFreeSize">Sum of the regions' lifetime minimum free bytes.</param>
/// <param name="LargestFreeBlock">The largest request guaranteed to succeed.</param>
/// <remarks><see cref="nuint.MaxValue"/> in a figure means unbounded (a process-heap region matches).</remarks>
public readonly record struct CapsMemoryInfo(MallocCaps Caps, nuint TotalSize, nuint FreeSize, nuint MinimumFreeSize, nuint LargestFreeBlock);

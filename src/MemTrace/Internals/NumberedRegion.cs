// NumberedRegion: what a heap says of one of its regions by number, for per-thread statistics:
// regions with the same name (an ESP32's two DRAM regions) are told apart by number and label.
namespace MemTrace.Internals;

/// <summary>One region of a heap, by its number (<c>HeapCaps.RegionNumberOf</c>).</summary>
/// <param name="Number">The region's number: the layout's order, then regions added at run time in the order they were added.</param>
/// <param name="Name">The region's name, e.g. <c>DRAM</c>.</param>
/// <param name="Label">The name for the first region with it, <c>DRAM#2</c>, <c>DRAM#3</c>, … for the next, in number order.</param>
/// <param name="Caps">All the region's capabilities.</param>
/// <param name="Start">The region's first address; 0 for the process heap.</param>
/// <param name="TotalSize">The region's size; <see cref="nuint.MaxValue"/> for the process heap.</param>
internal readonly record struct NumberedRegion(int Number, string Name, string Label, MallocCaps Caps, nuint Start, nuint TotalSize);

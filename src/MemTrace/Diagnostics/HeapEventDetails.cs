// HeapEventDetails: what a HeapEvent cannot hold as ids — the memory error, a checkpoint's label
// and region statistics — and, for events built by user code or read from a trace file, the call
// sites and region name themselves (so that such events never add to the process-wide
// registries, which only the tracker's own call sites and regions fill).
//
// Immutable once an event refers to it: an init setter of HeapEvent copies the details it had
// before changing one field, so that `e with { Label = … }` leaves `e` as it was.
namespace MemTrace.Diagnostics;

/// <summary>The rare and the user-supplied fields of a <see cref="HeapEvent"/>; when present, every rich property of the event reads from here.</summary>
internal sealed class HeapEventDetails
{
    public CallSite Site;
    public CallSite? AllocatedAt;
    public string? RegionName;
    public MemoryError? Error;
    public string? Label;
    public IReadOnlyList<RegionSnapshot>? Regions;
    public long LiveBlocks;
    public long LiveBytes;

    /// <summary>A copy to change (see the remark at the top of the file).</summary>
    public HeapEventDetails Copy() => (HeapEventDetails)MemberwiseClone();
}

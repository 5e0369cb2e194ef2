// A heap over a chip layout whose failure callbacks and errors are recorded, for the ports of
// ESP-IDF's heap tests. Region helpers say which region of the layout holds a pointer, the way
// the C tests use esp_ptr_in_dram / esp_ptr_in_iram.
namespace MemTrace.Tests.EspIdf;

internal sealed unsafe class ChipFixture : IDisposable
{
    public ChipFixture(HeapLayout layout, HeapCapsOptions? options = null)
    {
        Heap = new HeapCaps(layout, options ?? new HeapCapsOptions { ErrorOutput = Errors });
        Heap.RegisterFailedAllocCallback(Failures.Record);
    }

    public HeapCaps Heap { get; }

    public StringWriter Errors { get; } = new();

    public FailedAllocations Failures { get; } = new();

    /// <summary>The name of the region that holds <paramref name="ptr"/>, or null.</summary>
    public string? RegionOf(void* ptr)
    {
        string? name = null;
        Heap.WalkAll((region, _) =>
        {
            if (name is null && (nuint)ptr >= region.Start && (nuint)ptr < region.End)
            {
                name = region.Name; // The first in list order, as ESP-IDF's find_containing_heap.
            }

            return false; // One block is enough to learn the region's range.
        });
        return name;
    }

    public bool InDram(void* ptr) => RegionOf(ptr) is "DRAM";

    public bool InIram(void* ptr) => RegionOf(ptr) is "IRAM";

    public bool InDiram(void* ptr) => RegionOf(ptr) is "D/IRAM";

    public bool InPsram(void* ptr) => RegionOf(ptr) is "SPIRAM";

    public void Dispose() => Heap.Dispose();
}

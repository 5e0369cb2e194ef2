// HeapLayout: a memory map, the list of regions a HeapCaps is built from, plus the settings
// that differ between a chip and a PC (plain-allocation alignment, largest request).
namespace MemTrace;

/// <summary>
/// A memory map: the regions a <see cref="HeapCaps"/> is built from, in ESP-IDF's registration
/// order, with the alignment of plain allocations and the largest accepted request.
/// </summary>
/// <remarks>Build one with <see cref="Host"/> or <see cref="CreateBuilder(string)"/>.</remarks>
public sealed class HeapLayout
{
    /// <summary>The capabilities of the host region: what a PC's heap can stand in for.</summary>
    public const MallocCaps HostCaps = MallocCaps.Bit8 | MallocCaps.Bit32 | MallocCaps.Dma | MallocCaps.Spiram | MallocCaps.Internal | MallocCaps.Default;

    internal HeapLayout(string name, IReadOnlyList<HeapRegionLayout> regions, nuint alignment, nuint maxAllocationSize)
    {
        Name = name;
        Regions = regions;
        Alignment = alignment;
        MaxAllocationSize = maxAllocationSize;
    }

    /// <summary>The layout's name, e.g. <c>host</c>.</summary>
    public string Name { get; }

    /// <summary>The regions, in registration order.</summary>
    public IReadOnlyList<HeapRegionLayout> Regions { get; }

    /// <summary>Alignment of plain (not aligned-alloc) allocations: 4 on a chip, 16 on a PC, where native libraries expect it.</summary>
    public nuint Alignment { get; }

    /// <summary>The largest request accepted; larger ones fail with the failure callback (ESP-IDF's <c>HEAP_SIZE_MAX</c>).</summary>
    public nuint MaxAllocationSize { get; }

    /// <summary>
    /// The process heap as one unbounded region that offers 8BIT, 32BIT, DMA, SPIRAM, INTERNAL
    /// and DEFAULT at priority 0, so requests with any of those capabilities succeed and are
    /// recorded as asked. Plain allocations are 16-byte aligned.
    /// </summary>
    /// <returns>The layout.</returns>
    public static HeapLayout Host() => CreateBuilder("host").AddHostRegion("host", HostCaps).Build();

    /// <summary>Starts a custom memory map.</summary>
    /// <param name="name">The layout's name.</param>
    /// <returns>A builder.</returns>
    public static HeapLayoutBuilder CreateBuilder(string name) => new(name);

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {string.Join(", ", Regions)}";
}

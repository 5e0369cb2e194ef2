// HeapLayout: a memory map, the list of regions a HeapCaps is built from, plus the settings
// that differ between chips and a PC (plain-allocation alignment, largest request, the PSRAM
// threshold of malloc(), cache lines for DMA). HeapLayout.Chips.cs holds the built-in chip
// layouts, HeapLayout.Json.cs the layout file format.
namespace MemTrace;

/// <summary>
/// A memory map: the regions a <see cref="HeapCaps"/> is built from, with the alignment of plain
/// allocations, the largest accepted request and the chip settings that shape allocation.
/// </summary>
/// <remarks>
/// Use a built-in layout (<see cref="Host"/>, <see cref="Esp32(int)"/>, <see cref="Esp32S3(int)"/>),
/// one by name (<see cref="FromName(string)"/>), a layout file (<see cref="Load(string)"/>), or build
/// one with <see cref="CreateBuilder(string)"/>.
/// </remarks>
public sealed partial class HeapLayout
{
    /// <summary>The capabilities of the host region: what a PC's heap can stand in for.</summary>
    public const MallocCaps HostCaps = MallocCaps.Bit8 | MallocCaps.Bit32 | MallocCaps.Dma | MallocCaps.Spiram | MallocCaps.Internal | MallocCaps.Default;

    internal HeapLayout(string name, IReadOnlyList<HeapRegionLayout> regions, nuint alignment, nuint maxAllocationSize, nuint? alwaysInternalLimit, nuint internalCacheLine, nuint externalCacheLine, nuint simdAlignment)
    {
        Name = name;
        Regions = regions;
        Alignment = alignment;
        MaxAllocationSize = maxAllocationSize;
        ExternalMemoryAlwaysInternalLimit = alwaysInternalLimit;
        InternalCacheLineSize = internalCacheLine;
        ExternalCacheLineSize = externalCacheLine;
        SimdAlignment = simdAlignment;
        SizeMax = regions.Any(static r => r.Kind == HeapRegionKind.Host) ? nuint.MaxValue : uint.MaxValue;
    }

    /// <summary>The layout's name, e.g. <c>esp32-psram4m</c>.</summary>
    public string Name { get; }

    /// <summary>The regions, in registration order (<see cref="HeapCaps"/> orders them as ESP-IDF does).</summary>
    public IReadOnlyList<HeapRegionLayout> Regions { get; }

    /// <summary>Alignment of plain (not aligned-alloc) allocations: 4 on a chip, 16 on a PC, where native libraries expect it.</summary>
    public nuint Alignment { get; }

    /// <summary>The largest request accepted; larger ones fail with the failure callback (ESP-IDF's <c>HEAP_SIZE_MAX</c>).</summary>
    public nuint MaxAllocationSize { get; }

    /// <summary>
    /// The PSRAM threshold of <see cref="HeapCaps.MallocDefault(nuint)"/> (<c>CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL</c>,
    /// set by <c>heap_caps_malloc_extmem_enable</c>): requests up to this size stay in internal
    /// memory, larger ones go to PSRAM first. Null when external memory is not enabled for malloc.
    /// </summary>
    public nuint? ExternalMemoryAlwaysInternalLimit { get; }

    /// <summary>Data cache line of internal memory, to which DMA buffers are aligned; 0 where internal memory is not cached.</summary>
    public nuint InternalCacheLineSize { get; }

    /// <summary>Data cache line of external memory (PSRAM), to which DMA-capable PSRAM buffers are aligned.</summary>
    public nuint ExternalCacheLineSize { get; }

    /// <summary>
    /// The least alignment of a <c>MALLOC_CAP_SIMD</c> block: SOC_SIMD_PREFERRED_DATA_ALIGNMENT (16) on chips with
    /// SIMD instructions; 0 on the ESP32, which has none (heap_align_hw.c applies it only under
    /// SOC_SIMD_INSTRUCTION_SUPPORTED).
    /// </summary>
    internal nuint SimdAlignment { get; }

    /// <summary>
    /// SIZE_MAX of the machine the layout models: <see cref="uint.MaxValue"/> when every region is emulated chip RAM (a
    /// chip's 32-bit <c>size_t</c>), <see cref="nuint.MaxValue"/> when a region is the process heap (a PC's). The size
    /// arithmetic ESP-IDF does in <c>size_t</c> (a calloc's <c>n * size</c>, its overflow check) is done to this width.
    /// </summary>
    internal nuint SizeMax { get; }

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

// HeapLayoutBuilder: builds a custom HeapLayout, checking every argument as it comes.
using System.Numerics;
using MemTrace.Regions;

namespace MemTrace;

/// <summary>Builds a <see cref="HeapLayout"/>. Get one from <see cref="HeapLayout.CreateBuilder(string)"/>.</summary>
public sealed class HeapLayoutBuilder
{
    private readonly string _name;
    private readonly List<HeapRegionLayout> _regions = [];
    private nuint _alignment = DefaultAlignment;
    private nuint _maxAllocationSize = HostRegion.MaxRequest;
    private nuint? _alwaysInternalLimit;
    private nuint _internalCacheLine;
    private nuint _externalCacheLine = DefaultExternalCacheLine;
    private nuint _simdAlignment = DefaultSimdAlignment;
    private bool _built;

    internal HeapLayoutBuilder(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _name = name;
    }

    /// <summary>
    /// The alignment of plain allocations when a layout sets none, for the builder and the layout file alike: 16, as
    /// native libraries on a PC expect. The chip layouts set 4, as on the chip.
    /// </summary>
    public const int DefaultAlignment = 16;

    /// <summary>The cache line of external memory (PSRAM) when a layout sets none: 32 bytes, as on the ESP32-S3 and later chips (the ESP32's is 4).</summary>
    public const int DefaultExternalCacheLine = 32;

    /// <summary>SOC_SIMD_PREFERRED_DATA_ALIGNMENT of the chips with SIMD instructions (ESP32-S3, ESP32-P4).</summary>
    internal const int DefaultSimdAlignment = 16;

    /// <summary>Sets the alignment of plain allocations (default <see cref="DefaultAlignment"/>).</summary>
    /// <param name="alignment">4 (the chip's: 4 bytes of overhead per block), 8 or 16 (blocks stay aligned by keeping their size 4 less than a multiple of it).</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The alignment is not 4, 8 or 16.</exception>
    /// <exception cref="InvalidOperationException">The builder already built a layout.</exception>
    /// <remarks>Larger alignments are for <see cref="HeapCaps.AlignedAlloc"/>, which takes any power of two.</remarks>
    public HeapLayoutBuilder WithAlignment(nuint alignment)
    {
        ThrowIfBuilt();
        if (AlignmentError(alignment) is { } error)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, error);
        }

        _alignment = alignment;
        return this;
    }

    /// <summary>
    /// Sets the largest request accepted (ESP-IDF's <c>HEAP_SIZE_MAX</c>); larger requests fail. A limit above what the
    /// process-heap region accepts (a quarter of <see cref="nint.MaxValue"/>, which keeps its size arithmetic free of
    /// overflow) is lowered to it: the layout's <see cref="HeapLayout.MaxAllocationSize"/> shows the limit in force.
    /// </summary>
    /// <param name="maxAllocationSize">The limit in bytes, at least 1.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The limit is 0.</exception>
    /// <exception cref="InvalidOperationException">The builder already built a layout.</exception>
    public HeapLayoutBuilder WithMaxAllocationSize(nuint maxAllocationSize)
    {
        ThrowIfBuilt();
        ArgumentOutOfRangeException.ThrowIfZero(maxAllocationSize);
        _maxAllocationSize = Math.Min(maxAllocationSize, HostRegion.MaxRequest);
        return this;
    }

    /// <summary>
    /// Sets <c>malloc()</c>'s PSRAM threshold for <see cref="HeapCaps.MallocDefault(nuint)"/>: requests up to
    /// <paramref name="limit"/> bytes stay internal, larger ones prefer PSRAM; null keeps external
    /// memory out of <c>malloc()</c> (ESP-IDF's default until PSRAM is initialised). A limit of
    /// <see cref="uint.MaxValue"/> or more is taken as null, as <see cref="HeapCaps.MallocExtmemEnable(nuint)"/> takes it.
    /// </summary>
    /// <param name="limit">The threshold in bytes, or null.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="InvalidOperationException">The builder already built a layout.</exception>
    public HeapLayoutBuilder WithExternalMemoryAlwaysInternalLimit(nuint? limit)
    {
        ThrowIfBuilt();
        _alwaysInternalLimit = limit >= uint.MaxValue ? null : limit;
        return this;
    }

    /// <summary>Sets the data cache lines that DMA-capable buffers are aligned to (ESP-IDF's <c>esp_cache_get_alignment</c>).</summary>
    /// <param name="internalCacheLine">Cache line of internal memory; 0 when it is not cached.</param>
    /// <param name="externalCacheLine">Cache line of external memory (PSRAM).</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is neither 0 nor a power of two.</exception>
    /// <exception cref="InvalidOperationException">The builder already built a layout.</exception>
    public HeapLayoutBuilder WithCacheLines(nuint internalCacheLine, nuint externalCacheLine)
    {
        ThrowIfBuilt();
        if (CacheLineError(internalCacheLine) is { } internalError)
        {
            throw new ArgumentOutOfRangeException(nameof(internalCacheLine), internalCacheLine, "The internal " + internalError);
        }

        if (CacheLineError(externalCacheLine) is { } externalError)
        {
            throw new ArgumentOutOfRangeException(nameof(externalCacheLine), externalCacheLine, "The external " + externalError);
        }

        _internalCacheLine = internalCacheLine;
        _externalCacheLine = externalCacheLine;
        return this;
    }

    /// <summary>Sets the least alignment of <c>MALLOC_CAP_SIMD</c> blocks: 0 for a chip without SIMD instructions (the ESP32).</summary>
    internal HeapLayoutBuilder WithSimdAlignment(nuint simdAlignment)
    {
        ThrowIfBuilt();
        _simdAlignment = simdAlignment;
        return this;
    }

    /// <summary>
    /// Adds a region of emulated chip RAM: <paramref name="size"/> bytes managed by a TLSF allocator
    /// with ESP-IDF's parameters; the heap's own metadata (the multi_heap header and the TLSF control
    /// structure) lives inside it, as on the chip.
    /// </summary>
    /// <param name="name">The region's name (its memory type, e.g. <c>DRAM</c>).</param>
    /// <param name="size">Bytes, metadata included (the <c>len</c> that ESP-IDF's heap_init logs).</param>
    /// <param name="caps0">Capabilities at priority 0.</param>
    /// <param name="caps1">Capabilities at priority 1.</param>
    /// <param name="caps2">Capabilities at priority 2.</param>
    /// <param name="addedAtRuntime">True for a region added with <c>heap_caps_add_region_with_caps</c> during startup (PSRAM): it goes to the head of the heap list.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">The name is empty, the region offers no capability or offers MALLOC_CAP_INVALID.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The size is below 1 KiB or above 1 GiB.</exception>
    /// <exception cref="InvalidOperationException">The builder already built a layout.</exception>
    public HeapLayoutBuilder AddRegion(string name, nuint size, MallocCaps caps0, MallocCaps caps1 = MallocCaps.None, MallocCaps caps2 = MallocCaps.None, bool addedAtRuntime = false)
    {
        ThrowIfBuilt();
        CheckRegion(name, caps0, caps1, caps2);
        if (RegionSizeError(size) is { } error)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, error);
        }

        _regions.Add(new HeapRegionLayout(name, HeapRegionKind.Tlsf, size, caps0, caps1, caps2, addedAtRuntime));
        return this;
    }

    /// <summary>Adds a region backed by the process heap.</summary>
    /// <param name="name">The region's name.</param>
    /// <param name="caps0">Capabilities at priority 0.</param>
    /// <param name="caps1">Capabilities at priority 1.</param>
    /// <param name="caps2">Capabilities at priority 2.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">The name is empty, or the region offers no capability.</exception>
    /// <exception cref="InvalidOperationException">The builder already built a layout.</exception>
    public HeapLayoutBuilder AddHostRegion(string name, MallocCaps caps0, MallocCaps caps1 = MallocCaps.None, MallocCaps caps2 = MallocCaps.None)
    {
        ThrowIfBuilt();
        CheckRegion(name, caps0, caps1, caps2);
        _regions.Add(new HeapRegionLayout(name, HeapRegionKind.Host, 0, caps0, caps1, caps2));
        return this;
    }

    /// <summary>Builds the layout. A builder builds once.</summary>
    /// <returns>The layout.</returns>
    /// <exception cref="InvalidOperationException">No region was added, or the builder already built a layout.</exception>
    public HeapLayout Build()
    {
        ThrowIfBuilt();
        if (_regions.Count == 0)
        {
            throw new InvalidOperationException("A layout needs at least one region.");
        }

        _built = true;
        return new HeapLayout(_name, _regions.ToArray().AsReadOnly(), _alignment, _maxAllocationSize, _alwaysInternalLimit, _internalCacheLine, _externalCacheLine, _simdAlignment);
    }

    /// <summary>The smallest TLSF region accepted: room for the multi_heap header, the control structure and a few blocks.</summary>
    internal const int MinimumRegionSize = 1024;

    private const int MaximumRegionSize = 1 << 30;

    /// <summary>Why <paramref name="alignment"/> cannot be a layout's plain-allocation alignment, or null when it can: the TLSF regions support 4, 8 and 16.</summary>
    internal static string? AlignmentError(nuint alignment) =>
        alignment is 4 or 8 or 16 ? null : $"The alignment of plain allocations must be 4 (as on the chip), 8 or 16, not {alignment}; larger alignments are for aligned allocations.";

    /// <summary>Why <paramref name="line"/> cannot be a cache line, or null when it can (the message reads after "a" or "the internal"/"the external").</summary>
    internal static string? CacheLineError(nuint line) =>
        line == 0 || BitOperations.IsPow2((ulong)line) ? null : $"cache line is 0 (not cached) or a power of two, not {line}.";

    /// <summary>Why <paramref name="size"/> cannot be a TLSF region's size, or null when it can.</summary>
    internal static string? RegionSizeError(nuint size) =>
        size is >= MinimumRegionSize and <= MaximumRegionSize ? null : $"A TLSF region must be between {MinimumRegionSize} bytes and 1 GiB, not {size} bytes.";

    /// <summary>A builder builds once: after <see cref="Build"/>, it refuses every change (the layout it built stays as it was).</summary>
    private void ThrowIfBuilt()
    {
        if (_built)
        {
            throw new InvalidOperationException("This builder has already built a layout.");
        }
    }

    private static void CheckRegion(string name, MallocCaps caps0, MallocCaps caps1, MallocCaps caps2)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if ((caps0 | caps1 | caps2) == MallocCaps.None)
        {
            throw new ArgumentException("A region must offer at least one capability.", nameof(caps0));
        }

        if (((caps0 | caps1 | caps2) & MallocCaps.Invalid) != 0)
        {
            throw new ArgumentException("No region may offer MALLOC_CAP_INVALID.", nameof(caps0));
        }
    }
}

// MallocCaps: ESP-IDF's MALLOC_CAP_* capability bits (esp_heap_caps.h), with the same values,
// so that a caps word logged on a chip and one logged by MemTrace mean the same thing.
namespace MemTrace;

/// <summary>
/// Capabilities of memory, ESP-IDF's <c>MALLOC_CAP_*</c> flags with their exact bit values.
/// A request names the capabilities the memory must have; a region satisfies it when the
/// capabilities of all its priorities together include every requested bit.
/// </summary>
/// <remarks>
/// <see cref="Default"/> names memory that <c>malloc()</c> may return; it is a capability, not a
/// placement policy (a <see cref="Default"/> request may be served from PSRAM). Use
/// <see cref="MallocCapsExtensions.ToCapsString(MallocCaps)"/> to print every set flag by its C name.
/// </remarks>
[Flags]
#pragma warning disable CA1028 // Enum storage should be Int32: the C API uses uint32_t, and so does this enum.
#pragma warning disable CA1711 // The name ends in 'Caps' as in ESP-IDF.
public enum MallocCaps : uint
#pragma warning restore CA1711
#pragma warning restore CA1028
{
    /// <summary>No capability requested (matches every region).</summary>
    None = 0,

    /// <summary><c>MALLOC_CAP_EXEC</c>: memory that can run executable code.</summary>
    Exec = 1u << 0,

    /// <summary><c>MALLOC_CAP_32BIT</c>: memory that allows aligned 32-bit accesses.</summary>
    Bit32 = 1u << 1,

    /// <summary><c>MALLOC_CAP_8BIT</c>: memory that allows 8-, 16-, 32-bit accesses.</summary>
    Bit8 = 1u << 2,

    /// <summary><c>MALLOC_CAP_DMA</c>: memory that DMA engines can access.</summary>
    Dma = 1u << 3,

    /// <summary><c>MALLOC_CAP_PID2</c>: memory mapped to PID2 memory space (unused by ESP-IDF).</summary>
    Pid2 = 1u << 4,

    /// <summary><c>MALLOC_CAP_PID3</c>: memory mapped to PID3 memory space (unused by ESP-IDF).</summary>
    Pid3 = 1u << 5,

    /// <summary><c>MALLOC_CAP_PID4</c>: memory mapped to PID4 memory space (unused by ESP-IDF).</summary>
    Pid4 = 1u << 6,

    /// <summary><c>MALLOC_CAP_PID5</c>: memory mapped to PID5 memory space (unused by ESP-IDF).</summary>
    Pid5 = 1u << 7,

    /// <summary><c>MALLOC_CAP_PID6</c>: memory mapped to PID6 memory space (unused by ESP-IDF).</summary>
    Pid6 = 1u << 8,

    /// <summary><c>MALLOC_CAP_PID7</c>: memory mapped to PID7 memory space (unused by ESP-IDF).</summary>
    Pid7 = 1u << 9,

    /// <summary><c>MALLOC_CAP_SPIRAM</c>: memory in external SPI RAM (PSRAM).</summary>
    Spiram = 1u << 10,

    /// <summary><c>MALLOC_CAP_INTERNAL</c>: internal memory, not external.</summary>
    Internal = 1u << 11,

    /// <summary><c>MALLOC_CAP_DEFAULT</c>: memory that plain <c>malloc()</c> may return.</summary>
    Default = 1u << 12,

    /// <summary><c>MALLOC_CAP_IRAM_8BIT</c>: IRAM that allows 8- and 16-bit accesses.</summary>
    Iram8Bit = 1u << 13,

    /// <summary><c>MALLOC_CAP_RETENTION</c>: memory that can be retained across light sleep.</summary>
    Retention = 1u << 14,

    /// <summary><c>MALLOC_CAP_RTCRAM</c>: RTC fast memory.</summary>
    Rtcram = 1u << 15,

    /// <summary><c>MALLOC_CAP_SPM</c> (formerly <c>MALLOC_CAP_TCM</c>): scratch-pad / tightly coupled memory.</summary>
    Spm = 1u << 16,

    /// <summary><c>MALLOC_CAP_DMA_DESC_AHB</c>: memory for AHB DMA descriptors.</summary>
    DmaDescAhb = 1u << 17,

    /// <summary><c>MALLOC_CAP_DMA_DESC_AXI</c>: memory for AXI DMA descriptors.</summary>
    DmaDescAxi = 1u << 18,

    /// <summary><c>MALLOC_CAP_CACHE_ALIGNED</c>: allocation aligned to the cache line.</summary>
    CacheAligned = 1u << 19,

    /// <summary><c>MALLOC_CAP_SIMD</c>: memory usable by SIMD instructions.</summary>
    Simd = 1u << 20,

    /// <summary><c>MALLOC_CAP_SPIRAM_NO_ENC</c>: PSRAM that is never encrypted.</summary>
    SpiramNoEnc = 1u << 21,

    /// <summary><c>MALLOC_CAP_INVALID</c>: a capability no region has; a request with it always fails.</summary>
    Invalid = 1u << 31,
}

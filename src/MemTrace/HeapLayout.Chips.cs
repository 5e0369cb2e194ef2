// Built-in chip layouts, from ESP-IDF's own tables:
// - region types and their capabilities per priority: components/heap/port/<chip>/memory_layout.c;
// - the regions left for the heap once a typical application has taken its static data, code and
//   ROM reservations: the "heap_init: At ADDR len LEN" lines such an application logs at boot
//   (ESP32: ESP-IDF's documentation, api-reference/system/mem_alloc.rst; ESP32-S3: an ESP-IDF v5.2-dev
//   application, espressif/esp-iot-solution examples/motor/foc_velocity_control);
// - PSRAM: added by esp_psram at startup (esp_psram_extram_add_to_heap_allocator,
//   components/esp_psram/system_layer/esp_psram.c) with heap_caps_add_region_with_caps and its own
//   caps, { SPIRAM|DEFAULT, 0, 8BIT|32BIT|SIMD }, so at the head of the list (ESP32 maps at most
//   4 MiB into the address space; more is reachable only through himem);
// - SIMD alignment: heap_align_hw.c raises a SIMD block to 16 bytes only on chips with SIMD
//   instructions (SOC_SIMD_INSTRUCTION_SUPPORTED: the ESP32-S3, not the ESP32);
// - HEAP_SIZE_MAX = SOC_MAX_CONTIGUOUS_RAM_SIZE (components/soc/<chip>/include/soc/soc.h);
// - malloc()'s PSRAM threshold: CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL, 16384 by default.
// docs/layouts.md lists the resulting totals per capability.
namespace MemTrace;

public sealed partial class HeapLayout
{
    /// <summary>The default of <c>CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL</c>.</summary>
    public const int DefaultAlwaysInternalLimit = 16384;

    private const MallocCaps DramCaps0 = MallocCaps.Bit8 | MallocCaps.Default;
    private const MallocCaps DramCaps1 = MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32;
    private const MallocCaps DiramCaps1 = MallocCaps.Dma | MallocCaps.Bit8 | MallocCaps.Internal | MallocCaps.Default;
    private const MallocCaps DiramCaps2 = MallocCaps.Bit32 | MallocCaps.Exec;
    private const MallocCaps IramCaps0 = MallocCaps.Internal | MallocCaps.Exec | MallocCaps.Bit32;
    private const MallocCaps SpiramCaps0 = MallocCaps.Spiram | MallocCaps.Default;
    private const MallocCaps SpiramCaps2 = MallocCaps.Bit8 | MallocCaps.Bit32 | MallocCaps.Simd;

    /// <summary>
    /// An ESP32 running a typical application: DRAM 6 KiB + 180 KiB, D/IRAM 14 KiB + 111 KiB,
    /// IRAM 90 KiB (ESP-IDF's documented boot log), and optionally PSRAM.
    /// </summary>
    /// <param name="psramMiB">PSRAM size: 0, 2, 4 or 8 MiB (an ESP32 maps at most 4 MiB into the heap).</param>
    /// <returns>The layout, named <c>esp32</c> or <c>esp32-psram4m</c> and so on.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="psramMiB"/> is not 0, 2, 4 or 8.</exception>
    public static HeapLayout Esp32(int psramMiB = 0)
    {
        CheckPsram(psramMiB);
        var builder = CreateBuilder(psramMiB == 0 ? "esp32" : $"esp32-psram{psramMiB}m")
            .WithAlignment(4)
            .WithMaxAllocationSize(0x400000)
            .WithCacheLines(internalCacheLine: 0, externalCacheLine: 4) // cache_hal_esp32.c: 4 for external memory, 0 for internal.
            .WithSimdAlignment(0) // No SIMD instructions: SOC_SIMD_INSTRUCTION_SUPPORTED is not set.
            .AddRegion("DRAM", 0x1920, DramCaps0, DramCaps1)
            .AddRegion("DRAM", 0x2D138, DramCaps0, DramCaps1)
            .AddRegion("D/IRAM", 0x3AE0, MallocCaps.None, DiramCaps1, DiramCaps2)
            .AddRegion("D/IRAM", 0x1BCB0, MallocCaps.None, DiramCaps1, DiramCaps2)
            .AddRegion("IRAM", 0x16BB4, IramCaps0);
        if (psramMiB != 0)
        {
            builder.AddRegion("SPIRAM", (nuint)Math.Min(psramMiB, 4) << 20, SpiramCaps0, MallocCaps.None, SpiramCaps2, addedAtRuntime: true)
                .WithExternalMemoryAlwaysInternalLimit(DefaultAlwaysInternalLimit);
        }

        return builder.Build();
    }

    /// <summary>
    /// An ESP32-S3 running a typical application (ESP-IDF v5.2-dev, memory protection on): DRAM
    /// 331 KiB, STACK/DRAM 21 KiB, DRAM 32 KiB, RTCRAM 7 KiB, and optionally PSRAM. No IRAM heap,
    /// so EXEC requests fail, as on the chip.
    /// </summary>
    /// <param name="psramMiB">PSRAM size: 0, 2, 4 or 8 MiB.</param>
    /// <returns>The layout, named <c>esp32s3</c> or <c>esp32s3-psram8m</c> and so on.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="psramMiB"/> is not 0, 2, 4 or 8.</exception>
    public static HeapLayout Esp32S3(int psramMiB = 0)
    {
        CheckPsram(psramMiB);
        var builder = CreateBuilder(psramMiB == 0 ? "esp32s3" : $"esp32s3-psram{psramMiB}m")
            .WithAlignment(4)
            .WithMaxAllocationSize(0x2000000)
            .WithCacheLines(internalCacheLine: 0, externalCacheLine: 32)
            .AddRegion("DRAM", 0x52C18, DramCaps0, DramCaps1)
            .AddRegion("STACK/DRAM", 0x5724, DramCaps0 | MallocCaps.Retention, DramCaps1)
            .AddRegion("DRAM", 0x8000, DramCaps0, DramCaps1)
            .AddRegion("RTCRAM", 0x1FD8, MallocCaps.Rtcram, MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Bit32);
        if (psramMiB != 0)
        {
            builder.AddRegion("SPIRAM", (nuint)psramMiB << 20, SpiramCaps0, MallocCaps.None, SpiramCaps2, addedAtRuntime: true)
                .WithExternalMemoryAlwaysInternalLimit(DefaultAlwaysInternalLimit);
        }

        return builder.Build();
    }

    /// <summary>
    /// A built-in layout by name: <c>host</c>, <c>esp32</c>, <c>esp32-psram2m</c>, <c>esp32-psram4m</c>,
    /// <c>esp32-psram8m</c>, <c>esp32s3</c>, <c>esp32s3-psram2m</c>, <c>esp32s3-psram4m</c>, <c>esp32s3-psram8m</c>.
    /// </summary>
    /// <param name="name">The name (case-insensitive).</param>
    /// <returns>The layout.</returns>
    /// <exception cref="ArgumentException">No built-in layout has that name.</exception>
    public static HeapLayout FromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryFromName(name, out var layout)
            ? layout
            : throw new ArgumentException($"Unknown layout '{name}'. Built-in layouts: {string.Join(", ", BuiltInNames)}.", nameof(name));
    }

    /// <summary>The names <see cref="FromName(string)"/> accepts.</summary>
    public static IReadOnlyList<string> BuiltInNames { get; } =
    [
        "host", "esp32", "esp32-psram2m", "esp32-psram4m", "esp32-psram8m",
        "esp32s3", "esp32s3-psram2m", "esp32s3-psram4m", "esp32s3-psram8m",
    ];

    /// <summary>Tries <see cref="FromName(string)"/>.</summary>
    /// <param name="name">The name (case-insensitive).</param>
    /// <param name="layout">The layout, when the name is known.</param>
    /// <returns>True when the name is a built-in layout.</returns>
    public static bool TryFromName(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HeapLayout? layout)
    {
        layout = name?.Trim().ToLowerInvariant() switch
        {
            "host" => Host(),
            "esp32" => Esp32(),
            "esp32-psram2m" => Esp32(2),
            "esp32-psram4m" => Esp32(4),
            "esp32-psram8m" => Esp32(8),
            "esp32s3" => Esp32S3(),
            "esp32s3-psram2m" => Esp32S3(2),
            "esp32s3-psram4m" => Esp32S3(4),
            "esp32s3-psram8m" => Esp32S3(8),
            _ => null,
        };
        return layout is not null;
    }

    private static void CheckPsram(int psramMiB)
    {
        if (psramMiB is not (0 or 2 or 4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(psramMiB), psramMiB, "PSRAM size must be 0, 2, 4 or 8 MiB.");
        }
    }
}

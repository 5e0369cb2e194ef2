// What the model-based property tests of HeapCaps (HeapCapsModelTests, HeapCapsPoisonedTrackedModelTests, and the
// configurations of ConcurrentHeapTrackerReconciliationTests) share:
// the capabilities they ask for, their request sizes, the small layout whose regions fill up, and the model's rules
// for the caps a block ends up with and the alignment it must have.
using CsCheck;
using Xunit;

namespace MemTrace.Tests;

internal static class HeapCapsModel
{
    /// <summary>Every layout ("small": <see cref="SmallRegions"/>, "esp32-psram4m", "host") with every poisoning level, without and with a quarantine.</summary>
    public static TheoryData<string, PoisoningLevel, bool> LayoutPoisoningQuarantineCases()
    {
        var data = new TheoryData<string, PoisoningLevel, bool>();
        foreach (var layout in new[] { "small", "esp32-psram4m", "host" })
        {
            foreach (var level in new[] { PoisoningLevel.None, PoisoningLevel.Light, PoisoningLevel.Comprehensive })
            {
                data.Add(layout, level, false);
                data.Add(layout, level, true);
            }
        }

        return data;
    }

    /// <summary>Caps that heap_align_hw aligns to the memory's cache line.</summary>
    public const MallocCaps HardwareAligned = MallocCaps.Dma | MallocCaps.DmaDescAhb | MallocCaps.DmaDescAxi | MallocCaps.CacheAligned | MallocCaps.Simd;

    /// <summary>The capabilities the random operations ask for.</summary>
    public static readonly MallocCaps[] Caps =
    [
        MallocCaps.Default, MallocCaps.Bit8, MallocCaps.Bit32, MallocCaps.Exec, MallocCaps.Spiram, MallocCaps.Dma,
        MallocCaps.Internal, MallocCaps.Bit8 | MallocCaps.Internal, MallocCaps.Default | MallocCaps.Spiram, MallocCaps.Exec | MallocCaps.Bit8,
        MallocCaps.Dma | MallocCaps.Spiram, MallocCaps.Default | MallocCaps.Internal,
    ];

    /// <summary>Request sizes for <see cref="SmallRegions"/>: mostly small requests, a few that fill a region.</summary>
    public static readonly Gen<uint> SmallRegionSizes = Gen.Frequency(
        (60, (IGen<uint>)Gen.UInt[1, 64]),
        (30, Gen.UInt[65, 1024]),
        (9, Gen.UInt[1025, 6000]),
        (1, Gen.UInt[6001, 40000]));

    /// <summary>Request sizes for the chip layouts and the host: the same shape with a heavier tail, so that the internal regions fill up too.</summary>
    public static readonly Gen<uint> ChipSizes = Gen.Frequency(
        (52, (IGen<uint>)Gen.UInt[1, 64]),
        (30, Gen.UInt[65, 1024]),
        (13, Gen.UInt[1025, 16384]),
        (5, Gen.UInt[16385, 131072]));

    /// <summary>Small regions that fill up and push blocks from region to region.</summary>
    public static HeapLayout SmallRegions() => HeapLayout.CreateBuilder("small-regions").WithAlignment(4)
        .AddRegion("DRAM", 24 * 1024, MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32)
        .AddRegion("DRAM", 8 * 1024, MallocCaps.Bit8 | MallocCaps.Default, MallocCaps.Internal | MallocCaps.Dma | MallocCaps.Bit32)
        .AddRegion("IRAM", 16 * 1024, MallocCaps.Internal | MallocCaps.Exec | MallocCaps.Bit32)
        .AddRegion("D/IRAM", 12 * 1024, MallocCaps.None, MallocCaps.Dma | MallocCaps.Bit8 | MallocCaps.Internal | MallocCaps.Default, MallocCaps.Bit32 | MallocCaps.Exec)
        .AddRegion("SPIRAM", 96 * 1024, MallocCaps.Spiram | MallocCaps.Default, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32, addedAtRuntime: true)
        .WithCacheLines(internalCacheLine: 0, externalCacheLine: 32)
        .Build();

    /// <summary>The caps a block must end up with: heap_caps_malloc adds 32BIT to EXEC; heap_align_hw turns descriptor caps into DMA, drops DMA with SPIRAM and strips CACHE_ALIGNED.</summary>
    public static MallocCaps EffectiveCaps(MallocCaps caps)
    {
        if ((caps & (MallocCaps.DmaDescAhb | MallocCaps.DmaDescAxi)) != 0)
        {
            caps = (caps & ~(MallocCaps.DmaDescAhb | MallocCaps.DmaDescAxi)) | MallocCaps.Dma;
        }

        if ((caps & MallocCaps.Spiram) != 0)
        {
            caps &= ~MallocCaps.Dma;
        }

        caps &= ~MallocCaps.CacheAligned;
        return (caps & MallocCaps.Exec) != 0 ? caps | MallocCaps.Bit32 : caps;
    }

    /// <summary>The alignment a block must have: the layout's, the requested one, or the cache line of the memory for DMA-capable caps.</summary>
    public static nuint ExpectedAlignment(HeapLayout layout, MallocCaps caps, nuint requested)
    {
        var alignment = Math.Max(requested, layout.Alignment);
        if ((caps & HardwareAligned) != 0)
        {
            var line = (caps & MallocCaps.Spiram) != 0 ? layout.ExternalCacheLineSize : layout.InternalCacheLineSize;
            alignment = Math.Max(alignment, line);
            if ((caps & MallocCaps.Simd) != 0)
            {
                alignment = Math.Max(alignment, 16);
            }
        }

        return alignment;
    }
}

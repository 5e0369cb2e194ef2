using Xunit;

namespace MemTrace.Tests;

public class MallocCapsTests
{
    [Theory]
    [InlineData(MallocCaps.Exec, 1u << 0, "MALLOC_CAP_EXEC")]
    [InlineData(MallocCaps.Bit32, 1u << 1, "MALLOC_CAP_32BIT")]
    [InlineData(MallocCaps.Bit8, 1u << 2, "MALLOC_CAP_8BIT")]
    [InlineData(MallocCaps.Dma, 1u << 3, "MALLOC_CAP_DMA")]
    [InlineData(MallocCaps.Pid2, 1u << 4, "MALLOC_CAP_PID2")]
    [InlineData(MallocCaps.Pid3, 1u << 5, "MALLOC_CAP_PID3")]
    [InlineData(MallocCaps.Pid4, 1u << 6, "MALLOC_CAP_PID4")]
    [InlineData(MallocCaps.Pid5, 1u << 7, "MALLOC_CAP_PID5")]
    [InlineData(MallocCaps.Pid6, 1u << 8, "MALLOC_CAP_PID6")]
    [InlineData(MallocCaps.Pid7, 1u << 9, "MALLOC_CAP_PID7")]
    [InlineData(MallocCaps.Spiram, 1u << 10, "MALLOC_CAP_SPIRAM")]
    [InlineData(MallocCaps.Internal, 1u << 11, "MALLOC_CAP_INTERNAL")]
    [InlineData(MallocCaps.Default, 1u << 12, "MALLOC_CAP_DEFAULT")]
    [InlineData(MallocCaps.Iram8Bit, 1u << 13, "MALLOC_CAP_IRAM_8BIT")]
    [InlineData(MallocCaps.Retention, 1u << 14, "MALLOC_CAP_RETENTION")]
    [InlineData(MallocCaps.Rtcram, 1u << 15, "MALLOC_CAP_RTCRAM")]
    [InlineData(MallocCaps.Spm, 1u << 16, "MALLOC_CAP_SPM")]
    [InlineData(MallocCaps.DmaDescAhb, 1u << 17, "MALLOC_CAP_DMA_DESC_AHB")]
    [InlineData(MallocCaps.DmaDescAxi, 1u << 18, "MALLOC_CAP_DMA_DESC_AXI")]
    [InlineData(MallocCaps.CacheAligned, 1u << 19, "MALLOC_CAP_CACHE_ALIGNED")]
    [InlineData(MallocCaps.Simd, 1u << 20, "MALLOC_CAP_SIMD")]
    [InlineData(MallocCaps.SpiramNoEnc, 1u << 21, "MALLOC_CAP_SPIRAM_NO_ENC")]
    [InlineData(MallocCaps.Invalid, 1u << 31, "MALLOC_CAP_INVALID")]
    public void Flag_has_ESP_IDF_value_and_C_name(MallocCaps flag, uint value, string name)
    {
        Assert.Equal(value, (uint)flag);
        Assert.Equal(name, flag.GetCName());
        Assert.Equal(name, flag.ToCapsString());
    }

    [Fact]
    public void Every_set_flag_is_named_in_bit_order_not_only_the_first()
    {
        var caps = MallocCaps.Default | MallocCaps.Bit8 | MallocCaps.Spiram;

        Assert.Equal("MALLOC_CAP_8BIT|MALLOC_CAP_SPIRAM|MALLOC_CAP_DEFAULT", caps.ToCapsString());
    }

    [Fact]
    public void Unknown_bits_are_shown_in_hex_instead_of_dropped()
    {
        var caps = MallocCaps.Bit8 | (MallocCaps)(1u << 29) | (MallocCaps)(1u << 22);

        Assert.Equal("MALLOC_CAP_8BIT|0x20400000", caps.ToCapsString());
    }

    [Fact]
    public void No_flag_formats_as_zero()
    {
        Assert.Equal("0", MallocCaps.None.ToCapsString());
    }

    [Fact]
    public void All_defined_flags_fit_in_the_formatter()
    {
        var all = Enum.GetValues<MallocCaps>().Aggregate(MallocCaps.None, (a, b) => a | b);

        var text = all.ToCapsString();

        Assert.Equal(23, text.Split('|').Length);
    }

    [Fact]
    public void GetCName_of_a_combination_or_unknown_bit_is_null()
    {
        Assert.Null((MallocCaps.Bit8 | MallocCaps.Dma).GetCName());
        Assert.Null(((MallocCaps)(1u << 25)).GetCName());
        Assert.Null(MallocCaps.None.GetCName());
    }
}

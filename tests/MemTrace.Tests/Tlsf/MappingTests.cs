// mapping_insert / mapping_search / tlsf_fit_size, by hand-computed examples and by the
// properties that make TLSF correct: a rounded request maps to a list whose every block fits it,
// and a fit size maps to the very list of the block it was computed from.
using CsCheck;
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public class MappingTests
{
    // A 4 KiB heap: SL_LOG2 3, FL_SHIFT 5, SMALL_BLOCK 32.
    private const int SlLog2 = 3;
    private const int FlShift = 5;
    private const uint Small = 32;

    [Theory]
    [InlineData(12u, 0, 3)]      // small: sl = size / 4
    [InlineData(28u, 0, 7)]
    [InlineData(32u, 1, 0)]      // fls 5 -> fl 1, sl = (32 >> 2) ^ 8 = 0
    [InlineData(60u, 1, 7)]
    [InlineData(64u, 2, 0)]
    [InlineData(500u, 4, 7)]     // fls 8 -> fl 8 - (5 - 1) = 4, sl = (500 >> 5) ^ 8 = 7
    [InlineData(3724u, 7, 6)]    // fls 11 -> fl 7, sl = (3724 >> 8) ^ 8 = 6
    public void InsertMapsSizesToLists(uint size, int fl, int sl)
    {
        Mapping.Insert(size, SlLog2, FlShift, Small, out var actualFl, out var actualSl);
        Assert.Equal((fl, sl), (actualFl, actualSl));
    }

    [Theory]
    [InlineData(12u, 12u)]       // small sizes are exact
    [InlineData(28u, 28u)]
    [InlineData(33u, 36u)]       // [32, 64): steps of 4
    [InlineData(65u, 72u)]       // [64, 128): steps of 8
    [InlineData(129u, 144u)]     // [128, 256): steps of 16
    [InlineData(500u, 512u)]     // [256, 512): steps of 32
    [InlineData(1868u, 1920u)]   // [1024, 2048): steps of 128
    public void SearchRoundsUpToTheNextClassStart(uint size, uint rounded)
    {
        Assert.Equal(rounded, Mapping.RoundUpToClass(size, SlLog2, Small));
    }

    [Theory]
    [InlineData(12u, 12u)]
    [InlineData(3724u, 3584u)]   // [2048, 4096) in steps of 256: 3724 -> 3584
    [InlineData(100u, 96u)]      // [64, 128) in steps of 8
    [InlineData(64u, 64u)]
    public void FitSizeRoundsDownToTheClassStart(uint size, uint fit)
    {
        Assert.Equal(fit, Mapping.FitSize(size, SlLog2, Small));
    }

    [Fact]
    public void RoundedRequestsFitEveryBlockOfTheirList() =>
        Gen.Select(Gen.UInt[12, 1u << 24], Gen.Int[3, 5]).Sample((size, slLog2) =>
        {
            size &= ~3u;
            var small = 1u << (slLog2 + 2);
            var rounded = Mapping.RoundUpToClass(size, slLog2, small);
            Mapping.Insert(rounded, slLog2, slLog2 + 2, small, out var fl, out var sl);
            return rounded >= size && Mapping.ClassStart(fl, sl, slLog2, slLog2 + 2) == rounded;
        });

    [Fact]
    public void FitSizeMapsToTheBlocksOwnList() =>
        Gen.Select(Gen.UInt[12, 1u << 24], Gen.Int[3, 5]).Sample((size, slLog2) =>
        {
            size &= ~3u;
            var small = 1u << (slLog2 + 2);
            var fit = Mapping.FitSize(size, slLog2, small);
            Mapping.Insert(size, slLog2, slLog2 + 2, small, out var fl, out var sl);
            Mapping.Insert(Mapping.RoundUpToClass(fit, slLog2, small), slLog2, slLog2 + 2, small, out var fitFl, out var fitSl);
            return fit <= size && (fl, sl) == (fitFl, fitSl) && fit == Mapping.ClassStart(fl, sl, slLog2, slLog2 + 2);
        });
}

// Ports of ESP-IDF's test_corruption_check.c, run at every poisoning level.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestCorruptionCheck
{
    // ESP-IDF runs these only with poisoning: without it the freed block's first bytes are TLSF's own links.
    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void Multi_heap_poisoning_detection(PoisoningLevel level)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        var ptr = (byte*)f.Heap.Malloc(64, MallocCaps.Bit8);
        f.Heap.Free(ptr);

        for (var i = 0; i < 64; i++)
        {
            var original = ptr[i];
            ptr[i] = 0xAA;
            var ok = f.Heap.CheckIntegrity(MallocCaps.Bit8, print: true, TextWriter.Null);
            ptr[i] = original;

            Assert.Equal(level != PoisoningLevel.Comprehensive, ok);
            Assert.True(f.Heap.CheckIntegrity(MallocCaps.Bit8, print: true, TextWriter.Null), $"byte {i} restored");
        }

        if (level == PoisoningLevel.Comprehensive)
        {
            Assert.All(f.Heap.RecentErrors, e => Assert.Equal(MemoryErrorKind.WriteAfterFree, e.Kind));
            Assert.Contains("CORRUPT HEAP: Invalid data at 0x", f.Heap.RecentErrors[0].Note, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(PoisoningLevel.Light)]
    [InlineData(PoisoningLevel.Comprehensive)]
    public void Canary_corruption_in_light_or_comprehensive_poisoning_mode(PoisoningLevel level)
    {
        using var f = new ChipFixture(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        var ptr = (uint*)f.Heap.Malloc(sizeof(uint), MallocCaps.Default);
        Assert.True(ptr != null);

        var canary = ptr[-2];
        Assert.Equal(0xABBA1234u, canary);
        ptr[-2] = 0xDEADBEEF;
        Assert.False(f.Heap.CheckIntegrity(MallocCaps.Default, print: false));
        ptr[-2] = canary;
        Assert.True(f.Heap.CheckIntegrity(MallocCaps.Default, print: false));

        canary = ptr[1];
        Assert.Equal(0xBAAD5678u, canary);
        ptr[1] = 0xDEADBEEF;
        Assert.False(f.Heap.CheckIntegrity(MallocCaps.Default, print: false));
        ptr[1] = canary;
        f.Heap.Free(ptr);

        Assert.Equal([MemoryErrorKind.BufferUnderflow, MemoryErrorKind.BufferOverflow], f.Heap.RecentErrors.Select(e => e.Kind));
        Assert.Contains("CORRUPT HEAP: Bad head at 0x", f.Heap.RecentErrors[0].Note, StringComparison.Ordinal);
        Assert.Contains("Expected 0xabba1234 got 0xdeadbeef", f.Heap.RecentErrors[0].Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Poisoning_subtracts_its_overhead_from_the_statistics_as_ESP_IDF_does()
    {
        // The same inner blocks: 112 bytes on the plain heap, 100 + 12 of poisoning on the other.
        using var plain = new ChipFixture(HeapLayout.Esp32());
        using var poisoned = new ChipFixture(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light });
        var p = plain.Heap.Malloc(112, MallocCaps.Default);
        var q = poisoned.Heap.Malloc(100, MallocCaps.Default);

        var a = plain.Heap.GetInfo(MallocCaps.Default);
        var b = poisoned.Heap.GetInfo(MallocCaps.Default);

        Assert.Equal(100u, poisoned.Heap.GetAllocatedSize(q));
        Assert.Equal(a.AllocatedBlocks, b.AllocatedBlocks);
        Assert.Equal(a.TotalAllocatedBytes - 12, b.TotalAllocatedBytes); // 12 per allocated block.
        Assert.Equal(a.TotalFreeBytes - (4 * 12), b.TotalFreeBytes);     // 12 per region (2 DRAM and 2 D/IRAM regions have DEFAULT).
        Assert.Equal(a.LargestFreeBlock - 12, b.LargestFreeBlock);
        Assert.True(poisoned.Heap.Malloc(poisoned.Heap.GetLargestFreeBlock(MallocCaps.Default), MallocCaps.Default) != null);
        plain.Heap.Free(p);
        poisoned.Heap.Free(q);
    }
}

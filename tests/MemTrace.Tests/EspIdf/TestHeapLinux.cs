// Ports of ESP-IDF's Linux-target heap API test (components/heap/host_test/host_test_linux/main/test_heap_linux.c),
// run on the host layout and on the ESP32 model. Not ported: "Size APIs" (it only checks that the Linux stubs link; their
// figures are the stubs' fixed UINT32_MAX and 0) and "Aligned alloc APIs" (it asks for alignment 0x1F, which the Linux
// target passes to libc's aligned_alloc; ESP-IDF's heap_caps_aligned_alloc, and MemTrace, refuse a non-power of two).
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestHeapLinux
{
    private const int MallocLen = 1000;
    private const byte TestVal = 0xAB;

    [Theory]
    [InlineData("host")]
    [InlineData("esp32")]
    public void Alloc_APIs(string layoutName)
    {
        using var f = new ChipFixture(HeapLayout.FromName(layoutName));
        var heap = f.Heap;

        var p = (byte*)heap.Malloc(MallocLen, MallocCaps.Default);
        Assert.True(p != null);
        new Span<byte>(p, MallocLen).Fill(TestVal);

        p = (byte*)heap.Realloc(p, 2 * MallocLen, MallocCaps.Default);
        Assert.True(p != null);
        AssertEach(TestVal, p);

        Assert.True(heap.Realloc(p, 0, MallocCaps.Default) == null);

        p = (byte*)heap.Calloc(MallocLen, sizeof(byte), MallocCaps.Default);
        Assert.True(p != null);
        AssertEach(0, p);

        // The prefer APIs. (The C test drops the calloc'd block here; this frees it.)
        heap.Free(p);
        p = (byte*)heap.MallocPrefer(MallocLen, MallocCaps.Default);
        Assert.True(p != null);
        new Span<byte>(p, MallocLen).Fill(TestVal);

        p = (byte*)heap.ReallocPrefer(p, 2 * MallocLen, MallocCaps.Default);
        Assert.True(p != null);
        AssertEach(TestVal, p);

        Assert.True(heap.ReallocPrefer(p, 0, MallocCaps.Default) == null);

        p = (byte*)heap.CallocPrefer(MallocLen, sizeof(byte), MallocCaps.Default);
        Assert.True(p != null);
        AssertEach(0, p);

        heap.Free(p);
        Assert.Equal(0u, heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Empty(f.Failures.Calls);
        Assert.Equal(0, heap.ErrorCount);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("esp32")]
    public void Misc_APIs(string layoutName)
    {
        using var f = new ChipFixture(HeapLayout.FromName(layoutName));

        Assert.True(f.Heap.Malloc(nuint.MaxValue, MallocCaps.Default) == null);

        Assert.Equal([(nuint.MaxValue, MallocCaps.Default, "heap_caps_malloc")], f.Failures.Calls);
    }

    private static void AssertEach(byte value, byte* p) =>
        Assert.True(new Span<byte>(p, MallocLen).IndexOfAnyExcept(value) < 0, $"not every byte is 0x{value:X2}");
}

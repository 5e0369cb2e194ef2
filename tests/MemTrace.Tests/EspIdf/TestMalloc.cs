// Ports of ESP-IDF's components/heap/test_apps/heap_tests/main/test_malloc.c, on the ESP32 layouts.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestMalloc
{
    [Fact]
    public void Malloc_overwrite_then_free_all_available_DRAM()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        var first = FillWithKilobyteBlocks(f.Heap);
        var second = FillWithKilobyteBlocks(f.Heap);

        Assert.True(first > 200, $"only {first} blocks");
        Assert.Equal(first, second);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Check_if_default_cap_allocates_in_external_memory_in_priority()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        var internalFree = f.Heap.GetFreeSize(MallocCaps.Internal);
        var externalFreeBefore = f.Heap.GetFreeSize(MallocCaps.Default | MallocCaps.Spiram);

        var p = f.Heap.Malloc(256, MallocCaps.Default);

        Assert.True(f.InPsram(p));
        Assert.Equal(internalFree, f.Heap.GetFreeSize(MallocCaps.Internal));
        // test_malloc.c: TEST_ASSERT(free_ext_before >= free_ext_after + 256).
        Assert.True(externalFreeBefore >= f.Heap.GetFreeSize(MallocCaps.Default | MallocCaps.Spiram) + 256);
        f.Heap.Free(p);

        // The C test's second half, built only with CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL == 0: malloc() too goes to PSRAM.
        f.Heap.MallocExtmemEnable(0);
        internalFree = f.Heap.GetFreeSize(MallocCaps.Default | MallocCaps.Internal);
        externalFreeBefore = f.Heap.GetFreeSize(MallocCaps.Default | MallocCaps.Spiram);

        p = f.Heap.MallocDefault(256);

        Assert.True(p != null);
        Assert.True(f.InPsram(p));
        Assert.Equal(internalFree, f.Heap.GetFreeSize(MallocCaps.Default | MallocCaps.Internal));
        Assert.True(externalFreeBefore >= f.Heap.GetFreeSize(MallocCaps.Default | MallocCaps.Spiram) + 256);
        f.Heap.Free(p);
    }

    [Fact]
    public void Check_if_reserved_DMA_pool_still_can_allocate_even_when_malloc_ed_memory_is_exhausted()
    {
        // components/heap/test/test_malloc.c (ESP-IDF v4.x; CONFIG_SPIRAM_USE_MALLOC with CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL
        // above 1024, 32 KiB by default). The layouts leave that reserve out, so this adds it as esp_psram does at startup
        // (esp_psram_extram_reserve_dma_pool): in chunks of the largest DMA|INTERNAL block, each taken with heap_caps_malloc
        // and registered with caps { 0, DMA|INTERNAL, 8BIT|32BIT } over [chunk, chunk + size - 1).
        using var f = new ChipFixture(HeapLayout.Esp32(4));
        for (nuint reserve = 32 * 1024; reserve > 0;)
        {
            var next = Math.Min(f.Heap.GetLargestFreeBlock(MallocCaps.Dma | MallocCaps.Internal), reserve);
            var chunk = (byte*)f.Heap.Malloc(next, MallocCaps.Dma | MallocCaps.Internal);
            Assert.True(chunk != null && next != 0);
            Assert.Equal(HeapCapsResult.Ok, f.Heap.AddRegionWithCaps([MallocCaps.None, MallocCaps.Dma | MallocCaps.Internal, MallocCaps.Bit8 | MallocCaps.Bit32], chunk, chunk + next - 1));
            reserve -= next;
        }

        // tryAllocMem(): the pointer array, then up to 5 MiB of malloc(1024) until it fails.
        var allocated = (nint*)f.Heap.MallocDefault((nuint)(sizeof(nint) * 5 * 1024));
        Assert.True(allocated != null);
        var m = 0;
        while (m < 5 * 1024 && (allocated[m] = (nint)f.Heap.MallocDefault(1024)) != 0)
        {
            new Span<uint>((void*)allocated[m], 256).Fill(0xDEADBEEF);
            m++;
        }

        Assert.True(m < 5 * 1024, "malloc() was not exhausted");
        var dma = new nint[512];
        var i = 0;
        for (; i < dma.Length; i++)
        {
            dma[i] = (nint)f.Heap.Malloc(1024, MallocCaps.Dma);
            if (dma[i] == 0)
            {
                break;
            }
        }

        for (var j = 0; j < i; j++)
        {
            f.Heap.Free((void*)dma[j]);
        }

        for (var j = 0; j < m; j++)
        {
            Assert.True(new Span<uint>((void*)allocated[j], 256).IndexOfAnyExcept(0xDEADBEEF) < 0, $"block {j} was overwritten");
            f.Heap.Free((void*)allocated[j]);
        }

        f.Heap.Free(allocated);
        Assert.True(i > 0, $"no DMA memory after {m} KiB of malloc()");
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Alloc_overflows_should_all_fail()
    {
        using var f = new ChipFixture(HeapLayout.Esp32(4));

        Assert.True(f.Heap.Calloc((nuint.MaxValue / 2) + 4, 2, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc(nuint.MaxValue - 1, MallocCaps.Default) == null);
        Assert.True(f.Heap.Calloc(nuint.MaxValue - 1, 1, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc(nuint.MaxValue - 1, MallocCaps.Bit32) == null);
        Assert.True(f.Heap.Malloc(nuint.MaxValue - 1, MallocCaps.Exec) == null);
        Assert.True(f.Heap.CheckIntegrityAll(print: false));
    }

    [Fact]
    public void Unreasonable_allocs_should_all_fail()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.True(f.Heap.Calloc(16, 1024 * 1024, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc(16 * 1024 * 1024, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc(nuint.MaxValue / 2, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc(nuint.MaxValue - 256, MallocCaps.Default) == null);
        Assert.True(f.Heap.Malloc(f.Heap.GetFreeSize(MallocCaps.Default) - 1, MallocCaps.Default) == null);
        Assert.Equal(5, f.Failures.Calls.Count);
    }

    [Fact]
    public void Malloc_0_should_return_a_NULL_pointer_and_not_call_the_failure_callback()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        Assert.True(f.Heap.MallocDefault(0) == null);
        Assert.True(f.Heap.Malloc(0, MallocCaps.Default) == null);
        Assert.True(f.Heap.Calloc(0, 0, MallocCaps.Default) == null);
        Assert.Empty(f.Failures.Calls);
    }

    [Theory]
    [InlineData(1035)]
    [InlineData(1064)]
    [InlineData(1541)]
    public void Test_get_allocated_size(int size)
    {
        using var f = new ChipFixture(HeapLayout.Esp32());

        var p = (byte*)f.Heap.Malloc((nuint)size, MallocCaps.Default);
        var allocated = f.Heap.GetAllocatedSize(p);

        Assert.True(allocated >= (nuint)((size + 3) & ~3));
        Assert.True(f.Heap.GetContainingBlockSize(p) >= allocated);
        Assert.True(f.Heap.GetContainingBlockSize(p + (size / 2)) >= allocated);
        Assert.True(f.Heap.GetContainingBlockSize(p + size - 1) >= allocated);
        f.Heap.Free(p);
        Assert.Equal(0u, f.Heap.GetContainingBlockSize(p + 1));
    }

    [Theory]
    [InlineData(PoisoningLevel.Light, 1035)]
    [InlineData(PoisoningLevel.Light, 1064)]
    [InlineData(PoisoningLevel.Light, 1541)]
    [InlineData(PoisoningLevel.Comprehensive, 1035)]
    [InlineData(PoisoningLevel.Comprehensive, 1064)]
    [InlineData(PoisoningLevel.Comprehensive, 1541)]
    public void Test_get_allocated_size_with_poisoning(PoisoningLevel level, int size)
    {
        // ESP-IDF runs this case in its poisoning configurations too: multi_heap_get_allocated_size gives the TLSF block
        // less the 12 bytes of poisoning (it gave exactly the request here, below round4(1035) = 1036).
        using var f = new ChipFixture(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = level, ErrorOutput = null });
        using var plain = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });

        var p = (byte*)f.Heap.Malloc((nuint)size, MallocCaps.Default);
        var allocated = f.Heap.GetAllocatedSize(p);
        var inner = plain.Malloc((nuint)size + 12, MallocCaps.Default); // The same first block, without poisoning.

        Assert.True(allocated >= (nuint)((size + 3) & ~3));
        Assert.Equal(plain.GetAllocatedSize(inner) - 12, allocated);
        Assert.True(f.Heap.GetContainingBlockSize(p) >= allocated);
        Assert.True(f.Heap.GetContainingBlockSize(p + (size / 2)) >= allocated);
        Assert.True(f.Heap.GetContainingBlockSize(p + size - 1) >= allocated);
        Assert.Equal(allocated, f.Heap.GetContainingBlockSize(p + size)); // The slack past the request is the block's too.
        Assert.Equal(allocated, f.Heap.GetContainingBlockSize(p + allocated - 1));
        f.Heap.Free(p);
        Assert.Equal(0u, f.Heap.GetAllocatedSize(p));
        Assert.Equal(0u, f.Heap.GetContainingBlockSize(p + 1));
        Assert.True(f.Heap.CheckIntegrityAll(false));
    }

    [Fact]
    public void Test_allocation_and_free_function_hooks()
    {
        // ESP-IDF checks its alloc/free hooks; here the hook is an attached tracker.
        using var f = new ChipFixture(HeapLayout.Esp32());
        using var tracker = new MemoryTracker(f.Heap, new MemoryTrackerOptions { Output = null });

        var a = f.Heap.Malloc(0x200, MallocCaps.Default);
        var b = f.Heap.Calloc(1, 0x200, MallocCaps.Default);
        var c = f.Heap.AlignedAlloc(32, 0x200, MallocCaps.Default);
        var d = f.Heap.Realloc(c, 0x400, MallocCaps.Bit32);

        Assert.Equal([(nuint)a, (nuint)b, (nuint)d], tracker.GetAllocations().Select(r => r.Address));
        Assert.Equal(0x400u, tracker.GetAllocations()[2].Size);
        f.Heap.Free(a);
        f.Heap.Free(b);
        f.Heap.Free(d);
        Assert.Empty(tracker.GetAllocations());
        Assert.Equal(3, tracker.TotalFrees);
    }

    private static int FillWithKilobyteBlocks(HeapCaps heap)
    {
        var blocks = new List<nint>();
        while (heap.Malloc(1024, MallocCaps.Bit8) is var p && p != null)
        {
            new Span<byte>(p, 1024).Fill((byte)blocks.Count);
            blocks.Add((nint)p);
        }

        for (var i = 0; i < blocks.Count; i++)
        {
            Assert.True(new Span<byte>((void*)blocks[i], 1024).IndexOfAnyExcept((byte)i) < 0, $"block {i} was overwritten");
        }

        foreach (var p in blocks)
        {
            heap.Free((void*)p);
        }

        return blocks.Count;
    }
}

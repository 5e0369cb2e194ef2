// heap_caps_add_region_with_caps and heap_caps_monitor_local_minimum_free_size_start allocate from the heap (the region's
// descriptor, the array of saved minimums), and a failed allocation runs the failed-allocation callback. ESP-IDF holds
// no lock of the region list while it allocates them, so a callback may wait for another thread that adds a region or
// opens a window. These tests run such a callback and check that the other thread gets through.
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests.Concurrency;

public unsafe class AddRegionLockTests
{
    private const int BufferSize = 4096;
    private static readonly TimeSpan s_patience = TimeSpan.FromSeconds(2);

    private static HeapLayout Layout() => HeapLayout.CreateBuilder("lock").WithAlignment(4)
        .AddRegion("DRAM", 8 * 1024, MallocCaps.Bit8 | MallocCaps.Default | MallocCaps.Internal, MallocCaps.Bit32)
        .Build();

    /// <summary>Allocates a 256-byte reserve, then everything else the DRAM has.</summary>
    private static void* FillAllButReserve(HeapCaps heap, List<nint> filler)
    {
        var reserve = heap.Malloc(256, MallocCaps.Internal);
        Assert.True(reserve != null);
        for (nuint size = 1024; size >= 4; size /= 2)
        {
            while (heap.Malloc(size, MallocCaps.Internal) is var p && p != null)
            {
                filler.Add((nint)p);
            }
        }

        return reserve;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_failed_alloc_callback_for_a_region_descriptor_can_wait_for_another_thread_adding_a_region(bool monitorWindow)
    {
        var first = (byte*)NativeMemory.AlignedAlloc(BufferSize, 64);
        var second = (byte*)NativeMemory.AlignedAlloc(BufferSize, 64);
        try
        {
            using var heap = new HeapCaps(Layout());
            var filler = new List<nint>();
            var reserve = FillAllButReserve(heap, filler);
            var otherResult = (HeapCapsResult)(-1);
            var joined = false;
            Thread? other = null;
            heap.RegisterFailedAllocCallback((_, _, _) =>
            {
                if (other is not null)
                {
                    return;
                }

                // The emergency: give back the reserve and have another thread add more RAM, and wait for it.
                heap.Free(reserve);
                other = new Thread(() => otherResult = heap.AddRegionWithCaps([MallocCaps.Spiram, 0, 0], second, second + BufferSize));
                other.Start();
                joined = other.Join(s_patience);
            });

            if (monitorWindow)
            {
                Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStart());
                Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStop());
            }
            else
            {
                Assert.Equal(HeapCapsResult.NoMemory, heap.AddRegionWithCaps([MallocCaps.Spiram, 0, 0], first, first + BufferSize));
            }

            Assert.NotNull(other);
            other.Join();
            Assert.True(joined, "The other thread's AddRegionWithCaps waited for the callback to return: a lock was held across it.");
            Assert.Equal(HeapCapsResult.Ok, otherResult);
            Assert.True(heap.GetFreeSize(MallocCaps.Spiram) > 0);
            foreach (var p in filler)
            {
                heap.Free((void*)p);
            }

            Assert.True(heap.CheckIntegrityAll(print: false));
            Assert.Equal(0, heap.ErrorCount);
        }
        finally
        {
            NativeMemory.AlignedFree(first);
            NativeMemory.AlignedFree(second);
        }
    }
}

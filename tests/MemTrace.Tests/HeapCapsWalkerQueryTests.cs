// A heap walker that asks about the heap it walks. ESP-IDF's walker runs under the heap's lock
// (multi_heap_walk), which is recursive (MULTI_HEAP_LOCK: a nesting portENTER_CRITICAL), so the
// queries that take it again (multi_heap_get_info behind heap_caps_get_info and
// heap_caps_print_heap_info, multi_heap_check behind heap_caps_check_integrity*) answer from inside
// the walk (components/heap/heap_caps.c, multi_heap.c). Only allocating or freeing there is refused.
using Xunit;

namespace MemTrace.Tests;

public unsafe class HeapCapsWalkerQueryTests
{
    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    public void A_walker_can_query_the_region_it_walks(PoisoningLevel poisoning)
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = poisoning, ErrorOutput = new StringWriter() });
        var p = heap.Malloc(100, MallocCaps.Default);
        var size = heap.GetAllocatedSize(p);
        var info = heap.GetInfo(MallocCaps.None);
        var printed = new StringWriter();
        heap.PrintHeapInfo(MallocCaps.Default, printed);

        var visits = 0;
        heap.WalkAll((region, block) =>
        {
            visits++;
            Assert.Equal(size, heap.GetAllocatedSize(p));
            Assert.Equal(info, heap.GetInfo(MallocCaps.None));
            var again = new StringWriter();
            heap.PrintHeapInfo(MallocCaps.Default, again);
            Assert.Equal(printed.ToString(), again.ToString());
            Assert.True(heap.CheckIntegrityAll(print: false));
            Assert.True(heap.CheckIntegrityAddr((void*)block.Address, print: false));
            return false; // One block per region.
        });

        Assert.Equal(5, visits);
        Assert.Throws<LockRecursionException>(() => heap.WalkAll((region, _) =>
        {
            if ((nuint)p >= region.Start && (nuint)p < region.End)
            {
                heap.Free(p); // Freeing in the region being walked stays refused.
            }

            return false;
        }));
        heap.Free(p);
        Assert.Equal(0, heap.ErrorCount);
        Assert.True(heap.CheckIntegrityAll(print: false));
    }
}

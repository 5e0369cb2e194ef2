// A failure callback that throws (a program turning heap_caps' out-of-memory into an exception): the exception
// propagates out of the allocating call, which holds nothing afterwards. The tracker had reserved a record handle for
// the block each request would have made and lost it for good (about 50 bytes of bookkeeping per throw, 18 MB after
// 300 000), on every allocation path, tracked or made on the heap directly.
using Xunit;

namespace MemTrace.Tests;

public unsafe class FailedAllocCallbackExceptionTests
{
    private const nuint TooLarge = 64u << 20; // Above every region of the layout.

    public static TheoryData<string> Requests() =>
    [
        "heap-malloc", "heap-calloc", "heap-aligned", "heap-aligned-calloc", "heap-realloc-null", "heap-malloc-prefer",
        "heap-calloc-prefer", "heap-malloc-default", "heap-calloc-default", "heap-aligned-default",
        "tracked-malloc", "tracked-calloc", "tracked-aligned", "tracked-realloc-null",
    ];

    [Theory]
    [MemberData(nameof(Requests))]
    public void A_throwing_failure_callback_leaves_the_tracker_holding_nothing_for_the_request(string request)
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(psramMiB: 4), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        var live = tracker.Malloc(100, MallocCaps.Default);
        heap.RegisterFailedAllocCallback((_, _, _) => throw new CallbackException());
        var bookkeeping = tracker.BookkeepingBytes;

        for (var i = 0; i < 5_000; i++)
        {
            Assert.Throws<CallbackException>(() => Request(heap, tracker, request));
        }

        Assert.Equal(bookkeeping, tracker.BookkeepingBytes); // Was 245 760 bytes more: one record handle lost per throw.
        Assert.Equal(1, tracker.LiveBlocks);
        Assert.Equal(0, tracker.FailedAllocationCount); // As documented: a request whose callback throws is not logged.
        tracker.Free(ref live);
    }

    [Fact]
    public void A_throwing_failure_callback_leaves_a_failed_realloc_s_block_intact()
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* block, 100, MallocCaps.Default);
        block[99] = 42;
        heap.RegisterFailedAllocCallback((_, _, _) => throw new CallbackException());

        Assert.Throws<CallbackException>(() => tracker.Realloc(ref block, TooLarge, MallocCaps.Default));
        Assert.Throws<CallbackException>(() => heap.Realloc(block, TooLarge, MallocCaps.Default));

        Assert.Equal(42, block[99]);
        var record = Assert.Single(tracker.GetAllocations());
        Assert.Equal((nuint)block, record.Address);
        Assert.Equal((nuint)100, record.Size);
        tracker.Free(ref block);
        Assert.Equal(0, heap.ErrorCount);
    }

    private static void Request(HeapCaps heap, MemoryTracker tracker, string request)
    {
        _ = request switch
        {
            "heap-malloc" => heap.Malloc(TooLarge, MallocCaps.Default),
            "heap-calloc" => heap.Calloc(TooLarge, 2, MallocCaps.Default),
            "heap-aligned" => heap.AlignedAlloc(64, TooLarge, MallocCaps.Default),
            "heap-aligned-calloc" => heap.AlignedCalloc(64, TooLarge, 2, MallocCaps.Default),
            "heap-realloc-null" => heap.Realloc(null, TooLarge, MallocCaps.Default),
            "heap-malloc-prefer" => heap.MallocPrefer(TooLarge, MallocCaps.Spiram, MallocCaps.Default),
            "heap-calloc-prefer" => heap.CallocPrefer(TooLarge, 2, MallocCaps.Spiram, MallocCaps.Default),
            "heap-malloc-default" => heap.MallocDefault(TooLarge),
            "heap-calloc-default" => heap.CallocDefault(TooLarge, 2),
            "heap-aligned-default" => heap.AlignedAllocDefault(64, TooLarge),
            "tracked-malloc" => tracker.Malloc(TooLarge, MallocCaps.Default),
            "tracked-calloc" => tracker.Calloc(TooLarge, 2, MallocCaps.Default),
            "tracked-aligned" => tracker.AlignedAlloc(64, TooLarge, MallocCaps.Default),
            "tracked-realloc-null" => tracker.Realloc(null, TooLarge, MallocCaps.Default),
            _ => throw new ArgumentOutOfRangeException(nameof(request), request, null),
        };
    }

    private sealed class CallbackException : Exception;
}

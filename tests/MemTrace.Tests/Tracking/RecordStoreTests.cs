// RecordStore: handles from fresh chunks and the shared pool, and after disposal a store that hands
// out nothing, takes nothing back and finds no record instead of reaching freed memory.
using MemTrace.Tracking;
using Xunit;

namespace MemTrace.Tests.Tracking;

public class RecordStoreTests
{
    [Fact]
    public void Fresh_and_pooled_handles_are_distinct_and_records_start_unused()
    {
        using var store = new RecordStore();
        Span<uint> batch = stackalloc uint[RecordStore.Batch];

        Assert.Equal(RecordStore.Batch, store.TakeFresh(batch));
        Assert.Equal(Enumerable.Range(1, RecordStore.Batch).Select(i => (uint)i), batch.ToArray());
        Assert.Equal((uint)RecordStore.Batch + 1, store.HandleLimit);
        Assert.Equal(RecordState.Unused, store[1].State);
        Assert.Equal(0, store.TakePooled(batch));

        store.Give(batch[..3]);
        Span<uint> back = stackalloc uint[8];
        Assert.Equal(3, store.TakePooled(back));
        Assert.Equal([1u, 2u, 3u], back[..3].ToArray().Order());
    }

    [Fact]
    public void After_dispose_the_store_hands_out_nothing_and_finds_no_record()
    {
        var store = new RecordStore();
        Span<uint> batch = stackalloc uint[RecordStore.Batch];
        Assert.Equal(RecordStore.Batch, store.TakeFresh(batch));
        store.Give(batch[..10]);
        store[5].RequestNumber = 42;

        store.Dispose();

        Assert.True(store.IsDisposed);
        Assert.Equal(1u, store.HandleLimit);
        Assert.Equal(0, store.TakeFresh(batch));
        Assert.Equal(0, store.TakePooled(batch));
        store.Give(batch[..4]);
        Assert.Equal(0, store.TakePooled(batch));
        Assert.Throws<IndexOutOfRangeException>(() => store[5].RequestNumber);
        Assert.True(store.ReservedBytes < 4096);
        store.Dispose(); // Once only.
    }
}

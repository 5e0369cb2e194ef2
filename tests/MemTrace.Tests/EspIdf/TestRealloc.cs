// Ports of ESP-IDF's test_realloc.c.
using System.Text;
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestRealloc
{
    [Theory]
    [InlineData(PoisoningLevel.None)]
    [InlineData(PoisoningLevel.Light)]
    public void Realloc_shrink_buffer_in_place(PoisoningLevel poisoning)
    {
        // ESP-IDF's CI runs test_realloc.c in its light poisoning configuration too (the case is skipped under
        // comprehensive poisoning, where realloc always moves).
        using var f = new ChipFixture(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = poisoning, ErrorOutput = null });
        var x = f.Heap.MallocDefault(64);

        var y = f.Heap.ReallocDefault(x, 48);

        Assert.True(x == y);
        f.Heap.Free(y);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    [Fact]
    public void Realloc_shrink_buffer_with_EXEC_CAPS()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var x = f.Heap.Malloc(64, MallocCaps.Exec);

        var y = f.Heap.Realloc(x, 48, MallocCaps.Exec);

        Assert.True(y != null);
        Assert.True(f.InIram(y) || f.InDiram(y));
        f.Heap.Free(y);
    }

    [Fact]
    public void Realloc_move_data_to_a_new_heap_type()
    {
        using var f = new ChipFixture(HeapLayout.Esp32());
        var buf = new byte[64];
        Array.Fill(buf, (byte)0xEE);
        Encoding.ASCII.GetBytes("I am some test content to put in the heap").CopyTo(buf, 0);
        var a = (byte*)f.Heap.MallocDefault(64);
        buf.CopyTo(new Span<byte>(a, 64));
        Assert.True(f.InDram(a));

        var b = (byte*)f.Heap.Realloc(a, 64, MallocCaps.Exec);
        Assert.True(b != null);
        Assert.True(f.InIram(b));
        Assert.True(f.Heap.CheckIntegrity(MallocCaps.Invalid, print: true, TextWriter.Null));
        Assert.Equal(buf, new Span<byte>(b, 64).ToArray());

        var c = (byte*)f.Heap.Realloc(b, 48, MallocCaps.Bit8);
        Assert.True(c != null);
        Assert.True(f.InDram(c));
        Assert.True(f.Heap.CheckIntegrity(MallocCaps.Invalid, print: true, TextWriter.Null));
        Assert.Equal(buf[..48], new Span<byte>(c, 48).ToArray());
        f.Heap.Free(c);
        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
    }
}

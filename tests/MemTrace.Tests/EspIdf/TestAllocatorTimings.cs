// Port of ESP-IDF's test_allocator_timings.c: random malloc/free/realloc on 128 slots, contents and
// integrity verified after each operation.
using Xunit;

namespace MemTrace.Tests.EspIdf;

public unsafe class TestAllocatorTimings
{
    [Theory]
    [InlineData("esp32")]
    [InlineData("esp32-psram4m")]
    [InlineData("esp32s3")]
    public void Allocator_timings(string layoutName)
    {
        using var f = new ChipFixture(HeapLayout.FromName(layoutName));
        var random = new Random(5000);
        var slots = new (nint Pointer, int Size, byte Fill)[128];

        for (var i = 0; i < 5000; i++)
        {
            var n = random.Next(slots.Length);
            ref var slot = ref slots[n];
            var size = random.Next(1, 4096);
            switch (random.Next(3))
            {
                case 0:
                    f.Heap.Free((void*)slot.Pointer);
                    slot = ((nint)f.Heap.MallocDefault((nuint)size), size, (byte)i);
                    break;
                case 1:
                    var moved = f.Heap.ReallocDefault((void*)slot.Pointer, (nuint)size);
                    if (moved != null || slot.Pointer == 0)
                    {
                        if (moved != null && slot.Pointer != 0)
                        {
                            Verify((byte*)moved, Math.Min(size, slot.Size), slot.Fill, i);
                        }

                        slot = ((nint)moved, size, (byte)i);
                    }

                    break;
                default:
                    f.Heap.Free((void*)slot.Pointer);
                    slot = default;
                    break;
            }

            if (slot.Pointer != 0)
            {
                new Span<byte>((void*)slot.Pointer, slot.Size).Fill(slot.Fill);
            }

            foreach (var other in slots)
            {
                if (other.Pointer != 0)
                {
                    Verify((byte*)other.Pointer, other.Size, other.Fill, i);
                }
            }

            Assert.True(f.Heap.CheckIntegrityAll(print: false), $"integrity after step {i}");
        }

        foreach (var slot in slots)
        {
            f.Heap.Free((void*)slot.Pointer);
        }

        Assert.Equal(0u, f.Heap.GetInfo(MallocCaps.None).AllocatedBlocks);
        Assert.Equal(0, f.Heap.ErrorCount);
    }

    private static void Verify(byte* p, int size, byte fill, int step) =>
        Assert.True(new Span<byte>(p, size).IndexOfAnyExcept(fill) < 0, $"contents changed at step {step}");
}

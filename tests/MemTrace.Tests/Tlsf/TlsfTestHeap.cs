// TlsfTestHeap: a TlsfHeap over its own zeroed native block, for tests. Disposing frees both. The block starts
// baseOffset bytes past a baseAlignment boundary (to test regions whose start is only 4- or 8-aligned).
using System.Runtime.InteropServices;
using MemTrace.Tlsf;
using Xunit;

namespace MemTrace.Tests.Tlsf;

internal sealed unsafe class TlsfTestHeap : IDisposable
{
    private readonly byte* _block;

    public TlsfTestHeap(nuint size, uint alignment = 4, bool minimumStartsAtZero = false, nuint baseAlignment = 64, nuint baseOffset = 0)
    {
        Size = size;
        _block = (byte*)NativeMemory.AlignedAlloc(size + baseOffset, baseAlignment);
        Memory = _block + baseOffset;
        NativeMemory.Clear(Memory, size);
        Heap = new TlsfHeap(Memory, size, alignment, minimumStartsAtZero);
    }

    public byte* Memory { get; }

    public nuint Size { get; }

    public TlsfHeap Heap { get; }

    public byte* End => Memory + Size;

    public bool Contains(void* p, nuint size) => (byte*)p >= Memory && (byte*)p + size <= End;

    public string CheckReport()
    {
        using var writer = new StringWriter();
        var failures = Heap.Check(writer);
        return failures == 0 ? string.Empty : $"{failures} failure(s):\n{writer}";
    }

    public void AssertIntact()
    {
        var report = CheckReport();
        Assert.True(report.Length == 0, report);
    }

    public void Dispose()
    {
        Heap.Dispose();
        NativeMemory.AlignedFree(_block);
    }
}

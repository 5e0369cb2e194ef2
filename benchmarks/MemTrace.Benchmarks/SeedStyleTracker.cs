// SeedStyleTracker: the seed's bookkeeping as its published C code does it, for comparison only.
// One global lock (its memorySemaphore); one array of MemoryTraceInfo that is reallocated on every
// register and every unregister; a linear search and a shift on unregister. Not part of MemTrace.
using System.Runtime.InteropServices;

namespace MemTrace.Benchmarks;

public sealed unsafe class SeedStyleTracker : IDisposable
{
    private readonly object _memorySemaphore = new();
    private TraceInfo* _allocations;
    private int _count;

    public int Count => _count;

    public void* Malloc(nuint size, uint caps, string file, int line, string function)
    {
        var ptr = NativeMemory.Alloc(size);
        lock (_memorySemaphore)
        {
            // register_allocation: grow the array by one element and append.
            _allocations = (TraceInfo*)NativeMemory.Realloc(_allocations, (nuint)((_count + 1) * sizeof(TraceInfo)));
            _allocations[_count++] = new TraceInfo
            {
                File = 0,
                Line = line,
                Function = 0,
                Size = size,
                Method = 1,
                Caps = caps,
                Failure = 0,
                Address = ptr,
                VarName = 0,
            };
        }

        return ptr;
    }

    public void Free(ref void* ptr)
    {
        lock (_memorySemaphore)
        {
            // unregister_allocation: linear search, shift the rest down, shrink the array by one.
            for (var i = 0; i < _count; i++)
            {
                if (_allocations[i].Address == ptr)
                {
                    NativeMemory.Clear(ptr, _allocations[i].Size);
                    var tail = _count - i - 1;
                    if (tail > 0)
                    {
                        Buffer.MemoryCopy(_allocations + i + 1, _allocations + i, (long)tail * sizeof(TraceInfo), (long)tail * sizeof(TraceInfo));
                    }

                    _count--;
                    _allocations = _count == 0 ? Release(_allocations) : (TraceInfo*)NativeMemory.Realloc(_allocations, (nuint)(_count * sizeof(TraceInfo)));
                    break;
                }
            }
        }

        NativeMemory.Free(ptr);
        ptr = null;
    }

    public void Dispose()
    {
        NativeMemory.Free(_allocations);
        _allocations = null;
        _count = 0;
    }

    private static TraceInfo* Release(TraceInfo* array)
    {
        NativeMemory.Free(array);
        return null;
    }

    // The seed's MemoryTraceInfo on a 64-bit host: char* file, int line, char* function, size_t size,
    // char* method, uint32_t caps, int failure, void* address, char* var_name.
    [StructLayout(LayoutKind.Sequential)]
    private struct TraceInfo
    {
        public nint File;
        public int Line;
        public nint Function;
        public nuint Size;
        public nint Method;
        public uint Caps;
        public int Failure;
        public void* Address;
        public nint VarName;
    }
}

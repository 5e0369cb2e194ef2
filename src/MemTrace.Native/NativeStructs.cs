// The C structs of esp_heap_caps.h, laid out as the header declares them.
using System.Runtime.InteropServices;

namespace MemTrace.Native;

/// <summary>multi_heap_info_t.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MultiHeapInfo
{
    public nuint TotalFreeBytes;
    public nuint TotalAllocatedBytes;
    public nuint LargestFreeBlock;
    public nuint MinimumFreeBytes;
    public nuint AllocatedBlocks;
    public nuint FreeBlocks;
    public nuint TotalBlocks;
}

/// <summary>walker_heap_into_t (ESP-IDF's spelling).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct WalkerHeapInfo
{
    public nint Start;
    public nint End;
}

/// <summary>walker_block_info_t; <see cref="Used"/> is a C bool.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct WalkerBlockInfo
{
    public void* Ptr;
    public nuint Size;
    public byte Used;
}

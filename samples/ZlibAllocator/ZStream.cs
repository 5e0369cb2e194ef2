// zlib's z_stream (zlib.h), field for field. uLong is C's unsigned long: 8 bytes on 64-bit Linux and
// macOS, 4 on Windows, which CULong follows.
using System.Runtime.InteropServices;

namespace MemTrace.Samples.Zlib;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ZStream
{
    public byte* NextIn;
    public uint AvailIn;
    public CULong TotalIn;
    public byte* NextOut;
    public uint AvailOut;
    public CULong TotalOut;
    public byte* Msg;
    public void* State;
    public delegate* unmanaged<void*, uint, uint, void*> ZAlloc;
    public delegate* unmanaged<void*, void*, void> ZFree;
    public void* Opaque;
    public int DataType;
    public CULong Adler;
    public CULong Reserved;
}

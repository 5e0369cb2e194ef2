// The few zlib entry points the sample calls, bound to the system's zlib (libz.so.1 on Linux,
// libz.dylib on macOS; Windows ships none, so there the sample says so and stops). Hidden from the
// stacks the tracker keeps, as TrackedZlibAllocator is, with the marshalling stubs generated for it.
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace MemTrace.Samples.Zlib;

[StackTraceHidden]
internal static unsafe partial class ZlibNative
{
    public const int Ok = 0;
    public const int StreamEnd = 1;
    public const int NoFlush = 0;
    public const int Finish = 4;
    public const int BestCompression = 9;

    private const string Library = "z";

    static ZlibNative() => NativeLibrary.SetDllImportResolver(typeof(ZlibNative).Assembly, Resolve);

    /// <summary>Whether the system's zlib can be loaded here.</summary>
    public static bool IsAvailable()
    {
        try
        {
            return Version().Length != 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The loaded zlib's version, as deflateInit_ and inflateInit_ want it.</summary>
    public static string Version() => Marshal.PtrToStringUTF8((nint)zlibVersion()) ?? "";

    public static int DeflateInit(ZStream* stream, int level) => deflateInit_(stream, level, zlibVersion(), sizeof(ZStream));

    public static int InflateInit(ZStream* stream) => inflateInit_(stream, zlibVersion(), sizeof(ZStream));

    [LibraryImport(Library)]
    public static partial int deflate(ZStream* stream, int flush);

    [LibraryImport(Library)]
    public static partial int deflateEnd(ZStream* stream);

    [LibraryImport(Library)]
    public static partial int inflate(ZStream* stream, int flush);

    [LibraryImport(Library)]
    public static partial int inflateEnd(ZStream* stream);

    [LibraryImport(Library)]
    private static partial byte* zlibVersion();

    [LibraryImport(Library)]
    private static partial int deflateInit_(ZStream* stream, int level, byte* version, int streamSize);

    [LibraryImport(Library)]
    private static partial int inflateInit_(ZStream* stream, byte* version, int streamSize);

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return 0;
        }

        foreach (var candidate in (string[])["libz.so.1", "libz.dylib", "libz.so", "zlib1.dll"])
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle))
            {
                return handle;
            }
        }

        return 0;
    }
}

// Output that keeps its place among the C program's own printf output: before each write, C's stdio
// buffers are flushed (fflush(NULL)), then the text goes to the process's standard output.
using System.Runtime.InteropServices;
using System.Text;

namespace MemTrace.Native;

internal sealed unsafe class CStdout : TextWriter
{
    private static readonly delegate* unmanaged<void*, int> s_fflush = FindFflush();

    private CStdout()
    {
    }

    /// <summary>The one instance: listings, heap info, dumps and failed-allocation logs.</summary>
    public static CStdout Instance { get; } = new();

    public override Encoding Encoding => Console.OutputEncoding;

    public override void Write(char value)
    {
        FlushC();
        Console.Out.Write(value);
    }

    public override void Write(string? value)
    {
        FlushC();
        Console.Out.Write(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        FlushC();
        Console.Out.Write(buffer, index, count);
    }

    public override void Write(ReadOnlySpan<char> buffer)
    {
        FlushC();
        Console.Out.Write(buffer);
    }

    public override void WriteLine(string? value)
    {
        FlushC();
        Console.Out.WriteLine(value);
    }

    public override void Flush() => Console.Out.Flush();

    /// <summary>fflush(NULL): every C output stream's buffer goes out first.</summary>
    internal static void FlushC()
    {
        if (s_fflush is not null)
        {
            s_fflush(null);
        }
    }

    private static delegate* unmanaged<void*, int> FindFflush()
    {
        // The C runtime is already in the process: look fflush up where the program's symbols are.
        var handle = OperatingSystem.IsWindows()
            ? (NativeLibrary.TryLoad("ucrtbase.dll", out var ucrt) ? ucrt : 0)
            : NativeLibrary.GetMainProgramHandle();
        return handle != 0 && NativeLibrary.TryGetExport(handle, "fflush", out var fflush)
            ? (delegate* unmanaged<void*, int>)fflush
            : null;
    }
}

// StackCapture: the managed call stack of an allocation, cut to a configured depth, for trackers
// that keep one per block (ESP-IDF's CONFIG_HEAP_TRACING_STACK_DEPTH, Unity's
// EnabledWithStackTrace).
//
// .NET walks the whole stack whatever depth is wanted (StackTrace has no frame limit), so the
// cost is that of the walk, proportional to the real depth of the stack; the configured depth
// bounds what is kept per block. Frames of MemTrace itself (the tracker and the heap, whatever
// the JIT inlined) are dropped from the top, so the first frame kept is the caller's. No file
// information is read (that would parse PDBs at every allocation); the caller's file and line
// are in the record's call site anyway. Capturing allocates managed memory: this runs only when
// MemoryTrackerOptions.StackTraceDepth is above 0.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace MemTrace.Tracking;

internal static class StackCapture
{
    /// <summary>The deepest stack a tracker may be asked to keep.</summary>
    public const int MaxDepth = 256;

    private static readonly Assembly s_self = typeof(StackCapture).Assembly;

    /// <summary>Up to <paramref name="depth"/> frames of the current stack, starting at the first frame outside MemTrace; null when there is none.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026:RequiresUnreferencedCode", Justification = "The method of a frame is read only to skip MemTrace's own frames; when trimming removed its metadata the frame is kept, which is harmless.")]
    public static StackFrame[]? Capture(int depth)
    {
        var trace = new StackTrace(1, fNeedFileInfo: false);
        var count = trace.FrameCount;
        var first = 0;
        while (first < count && trace.GetFrame(first)?.GetMethod()?.DeclaringType?.Assembly == s_self)
        {
            first++;
        }

        var kept = Math.Min(depth, count - first);
        if (kept <= 0)
        {
            return null;
        }

        var frames = new StackFrame[kept];
        for (var i = 0; i < kept; i++)
        {
            frames[i] = trace.GetFrame(first + i)!;
        }

        return frames;
    }

    /// <summary>A <see cref="StackTrace"/> of kept frames, for records handed to users.</summary>
    public static StackTrace? ToStackTrace(StackFrame[]? frames) => frames is null ? null : new StackTrace(frames);

    /// <summary>The frames as indented lines, <c>at Namespace.Type.Method(…)</c>, one per frame.</summary>
    public static string Format(StackTrace trace, string indent)
    {
        var text = new System.Text.StringBuilder();
        foreach (var line in trace.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            text.Append(indent).AppendLine(line);
        }

        return text.ToString();
    }
}

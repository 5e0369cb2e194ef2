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
//
// Frames that .NET leaves out of a printed stack trace are left out here too, wherever they are, and
// do not count towards the depth: methods marked [StackTraceHidden] or declared in a type marked so,
// and methods marked AggressiveInlining that were not inlined (StackTrace.ToString's own rule). An
// application marks its allocator shims that way (the callbacks a native library calls, the P/Invoke
// declarations it calls through), so that the kept frames start at the code that asked. Under
// NativeAOT a frame's method is mostly unknown (StackFrame.GetMethod returns null), so hidden frames
// are kept there and count towards the depth (NativeAOT's printed stack trace still leaves them out,
// so fewer frames than the depth are shown). Lambdas and async methods of a hidden type are not
// hidden, as .NET prints them too.
//
// The answer is remembered per method, strongly for methods that live as long as the process, weakly (a ConditionalWeakTable) for those that can be collected: DynamicMethods (compiled
// expressions, regexes, serializers) and methods of collectible assemblies (a collectible
// AssemblyLoadContext, AssemblyBuilderAccess.RunAndCollect). Holding those strongly would keep every
// DynamicMethod ever seen on a stack alive and stop a collectible context from unloading.
//
// A frame is recognised as MemTrace's by DiagnosticMethodInfo, not StackFrame.GetMethod: under
// NativeAOT GetMethod returns null for any method without reflection metadata (nearly all of
// them), which kept the tracker's own frames at the top of every stack, while DiagnosticMethodInfo
// reads the stack trace metadata that NativeAOT keeps (on CoreCLR it is the same MethodBase).
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;

namespace MemTrace.Tracking;

internal static class StackCapture
{
    /// <summary>The deepest stack a tracker may be asked to keep.</summary>
    public const int MaxDepth = 256;

    /// <summary>The simple name of MemTrace's assembly, as frames of its methods name it.</summary>
    private static readonly string s_self = typeof(StackCapture).Assembly.GetName().Name!;

    /// <summary>Whether each method seen on a captured stack is hidden from stack traces (the attribute lookups are not free); methods that cannot be collected only.</summary>
    private static readonly ConcurrentDictionary<MethodBase, bool> s_hidden = new();

    /// <summary>The same answer for methods that can be collected (<see cref="IsCollectible"/>), held without keeping them alive.</summary>
    private static readonly ConditionalWeakTable<MethodBase, object> s_hiddenCollectible = new();

    /// <summary>The values of <see cref="s_hiddenCollectible"/>: the method is hidden, or shown.</summary>
    private static readonly object s_isHidden = true, s_isShown = false;

    /// <summary>
    /// Up to <paramref name="depth"/> frames of the current stack, starting at the first frame outside MemTrace and
    /// leaving out the frames a printed stack trace hides (<see cref="IsHidden"/>); null when there is none.
    /// </summary>
    public static StackFrame[]? Capture(int depth)
    {
        var trace = new StackTrace(1, fNeedFileInfo: false);
        var count = trace.FrameCount;
        var first = 0;
        while (first < count && trace.GetFrame(first) is { } frame && IsOwnFrame(frame))
        {
            first++;
        }

        StackFrame[]? frames = null;
        var kept = 0;
        for (var i = first; i < count && kept < depth; i++)
        {
            var frame = trace.GetFrame(i)!;
            if (!IsHidden(frame))
            {
                (frames ??= new StackFrame[Math.Min(depth, count - i)])[kept++] = frame;
            }
        }

        if (frames is not null && kept < frames.Length)
        {
            Array.Resize(ref frames, kept);
        }

        return frames;
    }

    /// <summary>
    /// Whether <see cref="StackTrace.ToString()"/> leaves <paramref name="frame"/> out: its method is marked
    /// <see cref="StackTraceHiddenAttribute"/> or declared in a type marked so, or is marked
    /// <see cref="System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining"/> (and was not inlined). A frame
    /// whose method is unknown (NativeAOT) is not hidden.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only the method's attributes are read; when trimming removed its metadata, GetMethod returns null and the frame is kept, as documented.")]
    public static bool IsHidden(StackFrame frame) => frame.GetMethod() is { } method && IsHiddenCached(method);

    private static bool IsHiddenCached(MethodBase method)
    {
        if (method is not DynamicMethod && s_hidden.TryGetValue(method, out var hidden))
        {
            return hidden;
        }

        if (s_hiddenCollectible.TryGetValue(method, out var known))
        {
            return known == s_isHidden;
        }

        hidden = IsHiddenMethod(method);
        if (IsCollectible(method))
        {
            s_hiddenCollectible.AddOrUpdate(method, hidden ? s_isHidden : s_isShown);
        }
        else
        {
            s_hidden.TryAdd(method, hidden);
        }

        return hidden;
    }

    /// <summary>
    /// Whether <paramref name="method"/> can be collected: a <see cref="DynamicMethod"/> (its frames name the
    /// DynamicMethod itself), or a method of a collectible assembly. A frame's method is its typical definition, so a
    /// generic instantiation over a collectible type is not one of these: its definition lives in its own assembly.
    /// </summary>
    private static bool IsCollectible(MethodBase method) => method is DynamicMethod || method.Module.Assembly.IsCollectible;

    private static bool IsHiddenMethod(MethodBase method)
    {
        if ((method.MethodImplementationFlags & MethodImplAttributes.AggressiveInlining) != 0)
        {
            return true;
        }

        try
        {
            return method.IsDefined(typeof(StackTraceHiddenAttribute), inherit: false)
                || (method.DeclaringType?.IsDefined(typeof(StackTraceHiddenAttribute), inherit: false) ?? false);
        }
        catch (Exception e) when (e is TypeLoadException or FileNotFoundException or FileLoadException)
        {
            // An attribute whose assembly cannot be loaded: show the frame, as StackTrace.ToString does.
            return false;
        }
    }

    /// <summary>
    /// Whether <paramref name="frame"/> runs a method of MemTrace's assembly. The assembly's name comes from
    /// <see cref="DiagnosticMethodInfo"/>: its full name on CoreCLR (<c>MemTrace, Version=…, Culture=…</c>), its name
    /// and version under NativeAOT (<c>MemTrace, Version=…</c>). A frame that carries no method information (stack
    /// trace support turned off) is not MemTrace's, so it is kept.
    /// </summary>
    public static bool IsOwnFrame(StackFrame frame) => IsOwnAssembly(DiagnosticMethodInfo.Create(frame)?.DeclaringAssemblyName);

    /// <summary>Whether the assembly <paramref name="assemblyName"/> (a simple or display name) is MemTrace's own, not one whose name merely starts with it.</summary>
    public static bool IsOwnAssembly(string? assemblyName) =>
        assemblyName is not null
        && assemblyName.StartsWith(s_self, StringComparison.Ordinal)
        && (assemblyName.Length == s_self.Length || assemblyName[s_self.Length] == ',');

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

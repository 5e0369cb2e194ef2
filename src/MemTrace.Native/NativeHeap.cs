// The native library's one heap and tracker, made on first use (or by memtrace_configure) and ended by
// memtrace_shutdown. Every export reaches them through Current, which also applies the seed's
// debug_track_allocation flag (a byte the C program writes through a macro) to the tracker.
using System.Runtime.InteropServices;

namespace MemTrace.Native;

internal static unsafe class NativeHeap
{
    /// <summary>The layout used when neither memtrace_configure nor MEMTRACE_LAYOUT names one (the demo's).</summary>
    public const string DefaultLayout = "esp32-psram4m";

    private static readonly Lock s_gate = new();

    /// <summary>debug_track_allocation: lives as long as the process, so the C program may keep its address.</summary>
    private static readonly byte* s_trackFlag = CreateTrackFlag();

    private static State? s_state;
    private static string? s_layout;
    private static PoisoningLevel? s_poisoning;
    private static delegate* unmanaged<nuint, uint, byte*, void> s_failedAllocHook;

    /// <summary>The address behind debug_track_allocation (a C bool).</summary>
    public static byte* TrackFlag => s_trackFlag;

    /// <summary>The heap and tracker, made on first use.</summary>
    public static State Current
    {
        get
        {
            var state = Volatile.Read(ref s_state) ?? Start();
            state.ApplyTrackFlag(*s_trackFlag != 0);
            return state;
        }
    }

    /// <summary>The heap_caps_register_failed_alloc_callback hook (null: none); kept across memtrace_shutdown.</summary>
    public static delegate* unmanaged<nuint, uint, byte*, void> FailedAllocHook
    {
        get => s_failedAllocHook;
        set => s_failedAllocHook = value;
    }

    /// <summary>memtrace_configure: the layout (name or file; null for the default) and poisoning of the next heap.</summary>
    public static int Configure(string? layout, int poisoning)
    {
        lock (s_gate)
        {
            if (s_state is not null)
            {
                return EspErr.InvalidState;
            }

            if (!TryPoisoning(poisoning, out var level))
            {
                Console.Error.WriteLine($"memtrace: memtrace_configure: unknown poisoning level {poisoning} (0 none, 1 light, 2 comprehensive).");
                return EspErr.InvalidArgument;
            }

            // Build it now, so that a bad name or file is reported here and not at the first malloc.
            var resolved = layout ?? DefaultLayout;
            if (ResolveLayout(resolved, "memtrace_configure") is null)
            {
                return EspErr.InvalidArgument;
            }

            s_layout = resolved;
            s_poisoning = level;
            return EspErr.Ok;
        }
    }

    /// <summary>memtrace_shutdown: disposes the tracker and the heap; the next call starts a new one.</summary>
    public static void Shutdown()
    {
        lock (s_gate)
        {
            var state = s_state;
            Volatile.Write(ref s_state, null);
            state?.Dispose();
        }
    }

    /// <summary>Shutdown, and forget what memtrace_configure chose (the next heap reads the environment): for tests.</summary>
    internal static void Reset()
    {
        lock (s_gate)
        {
            Shutdown();
            s_layout = null;
            s_poisoning = null;
        }
    }

    private static State Start()
    {
        lock (s_gate)
        {
            if (s_state is { } existing)
            {
                return existing;
            }

            var layoutName = s_layout ?? Environment.GetEnvironmentVariable("MEMTRACE_LAYOUT") ?? DefaultLayout;
            var poisoning = s_poisoning ?? PoisoningFromEnvironment();
            var layout = ResolveLayout(layoutName, "MEMTRACE_LAYOUT")
                ?? throw new InvalidOperationException($"no heap: the layout '{layoutName}' cannot be used (see above).");
            var heap = new HeapCaps(layout, new HeapCapsOptions { Poisoning = poisoning });
            try
            {
                heap.RegisterFailedAllocCallback(CallFailedAllocHook);
                var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = CStdout.Instance });
                var state = new State(heap, tracker);
                Volatile.Write(ref s_state, state);
                return state;
            }
            catch
            {
                heap.Dispose();
                throw;
            }
        }
    }

    private static void CallFailedAllocHook(nuint size, MallocCaps caps, string functionName)
    {
        var hook = s_failedAllocHook;
        if (hook is not null)
        {
            hook(size, (uint)caps, NativeStrings.ToUtf8(functionName));
        }
    }

    private static HeapLayout? ResolveLayout(string value, string source)
    {
        if (HeapLayout.TryFromName(value, out var layout))
        {
            return layout;
        }

        try
        {
            return HeapLayout.Load(value);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine(
                $"memtrace: {source}: '{value}' is neither a built-in layout ({string.Join(", ", HeapLayout.BuiltInNames)}) nor a usable layout file: {e.Message}");
            return null;
        }
    }

    private static PoisoningLevel PoisoningFromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable("MEMTRACE_POISONING");
        if (string.IsNullOrWhiteSpace(value))
        {
            return PoisoningLevel.None;
        }

        return Enum.TryParse<PoisoningLevel>(value.Trim(), ignoreCase: true, out var level) && Enum.IsDefined(level)
            ? level
            : throw new InvalidOperationException($"MEMTRACE_POISONING='{value}' is not none, light or comprehensive.");
    }

    private static bool TryPoisoning(int value, out PoisoningLevel level)
    {
        level = (PoisoningLevel)value;
        return value is >= 0 and <= 2 && Enum.IsDefined(level);
    }

    private static byte* CreateTrackFlag()
    {
        var flag = (byte*)NativeMemory.Alloc(1);
        *flag = 1; // Tracking starts on, as MemoryTrackerOptions.Enabled does.
        return flag;
    }

    /// <summary>One heap's lifetime: the heap, its tracker and the checkpoints handed out.</summary>
    internal sealed class State(HeapCaps heap, MemoryTracker tracker) : IDisposable
    {
        private readonly List<MemoryCheckpoint> _checkpoints = [];
        private bool _tracking = true;

        public HeapCaps Heap { get; } = heap;

        public MemoryTracker Tracker { get; } = tracker;

        /// <summary>memtrace_checkpoint: the checkpoint's number, from 1.</summary>
        public nuint AddCheckpoint()
        {
            var checkpoint = Tracker.Checkpoint();
            lock (_checkpoints)
            {
                _checkpoints.Add(checkpoint);
                return (nuint)_checkpoints.Count;
            }
        }

        /// <summary>How many checkpoints this heap has handed out.</summary>
        public int CheckpointCount
        {
            get
            {
                lock (_checkpoints)
                {
                    return _checkpoints.Count;
                }
            }
        }

        /// <summary>The checkpoint numbered <paramref name="number"/> (null for 0, from the start); false for a number never handed out.</summary>
        public bool TryGetCheckpoint(nuint number, out MemoryCheckpoint? checkpoint)
        {
            checkpoint = null;
            if (number == 0)
            {
                return true;
            }

            lock (_checkpoints)
            {
                if (number > (nuint)_checkpoints.Count)
                {
                    return false;
                }

                checkpoint = _checkpoints[(int)(number - 1)];
                return true;
            }
        }

        public void ApplyTrackFlag(bool on)
        {
            if (on != _tracking)
            {
                _tracking = on;
                Tracker.Enabled = on;
            }
        }

        public void Dispose()
        {
            Tracker.Dispose();
            Heap.Dispose();
        }
    }
}

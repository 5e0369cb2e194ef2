// TrackedRecord: what a tracker stores per block, 60 bytes of native memory, no references.
//
// The checkpoint epoch of a live block and the freeing thread of a freed block share one field:
// each is meaningful in one state only (leak reports read live records, double-free reports
// freed ones), and the union keeps the record at 60 bytes, so that with the slack of its chunk,
// the handle rings and the per-thread cells the tracker stays within 64 bytes per live block.
//
// Strings live in the CallSiteRegistry; a record holds site ids. A record is written only by
// the thread that owns its block (the allocating thread, or the thread whose free or realloc
// claimed the block from the heap, which makes it the only one), and read by any thread that
// lists allocations. Readers use a sequence lock: the writer makes Version odd, writes, then
// makes it even again with the new state; a reader copies the record between two reads of an
// even, unchanged Version, and retries otherwise.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace MemTrace.Tracking;

internal enum RecordState : uint
{
    /// <summary>Never used, or given back after a failed allocation.</summary>
    Unused = 0,

    /// <summary>Describes a live block.</summary>
    Live = 1,

    /// <summary>Describes a freed block; kept until the record is reused, for double-free reports.</summary>
    Freed = 2,
}

[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct TrackedRecord
{
    /// <summary>Bit 0: being written. Bits 1-2: <see cref="RecordState"/>. Bits 3+: write count.</summary>
    public uint Version;

    /// <summary>Requested capabilities.</summary>
    public uint Caps;

    /// <summary>The block's address (valid in Live and Freed).</summary>
    public nuint Address;

    /// <summary>Requested size in bytes.</summary>
    public nuint Size;

    /// <summary>The tracker's request number.</summary>
    public long RequestNumber;

    /// <summary><see cref="Environment.TickCount64"/> when the block was allocated.</summary>
    public long Timestamp;

    /// <summary>Call-site id of the allocation.</summary>
    public uint AllocSite;

    /// <summary>Call-site id of the latest realloc; 0 for none.</summary>
    public uint ReallocSite;

    /// <summary>Managed id of the allocating thread.</summary>
    public int ThreadId;

    /// <summary>Call-site id of the free (Freed state only).</summary>
    public uint FreeSite;

    /// <summary>Live: <see cref="Epoch"/>. Freed: <see cref="FreeThreadId"/>.</summary>
    private uint _epochOrFreeThread;

    public readonly RecordState State => (RecordState)((Version >> 1) & 3);

    /// <summary>The tracker's checkpoint counter when the block was allocated (Live state only): the block was allocated since checkpoint k when this is at least k's epoch.</summary>
    public uint Epoch
    {
        readonly get => _epochOrFreeThread;
        set => _epochOrFreeThread = value;
    }

    /// <summary>Managed id of the freeing thread (Freed state only).</summary>
    public int FreeThreadId
    {
        readonly get => (int)_epochOrFreeThread;
        set => _epochOrFreeThread = (uint)value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BeginWrite(ref TrackedRecord record)
    {
        Volatile.Write(ref record.Version, record.Version | 1);
        if (!X86Base.IsSupported)
        {
            // Weak memory models: the odd version must be visible before any field write.
            Interlocked.MemoryBarrier();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EndWrite(ref TrackedRecord record, RecordState state) =>
        Volatile.Write(ref record.Version, ((record.Version & ~7u) + 8) | ((uint)state << 1));

    /// <summary>A consistent copy of a record that other threads may be writing.</summary>
    public static TrackedRecord ReadConsistent(ref TrackedRecord record)
    {
        var spinner = default(SpinWait);
        while (true)
        {
            var before = Volatile.Read(ref record.Version);
            if ((before & 1) == 0)
            {
                var copy = record;
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref record.Version) == before)
                {
                    return copy;
                }
            }

            spinner.SpinOnce();
        }
    }

    /// <summary>
    /// A consistent copy of a record and of its entry in a side table: the entry is read inside the
    /// record's window, so both describe the same block even when the handle is being reused (a
    /// writer sets side entries between <see cref="BeginWrite"/> and <see cref="EndWrite"/>).
    /// </summary>
    public static TrackedRecord ReadConsistent<T>(ref TrackedRecord record, HandleSideTable<T> side, uint handle, out T? entry)
    {
        var spinner = default(SpinWait);
        while (true)
        {
            var before = Volatile.Read(ref record.Version);
            if ((before & 1) == 0)
            {
                var copy = record;
                entry = side.Get(handle);
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref record.Version) == before)
                {
                    return copy;
                }
            }

            spinner.SpinOnce();
        }
    }
}

/// <summary>A copy of a record with its handle and, when the tracker keeps stacks, the stack read with it.</summary>
internal readonly record struct RecordCopy(uint Handle, TrackedRecord Record, System.Diagnostics.StackFrame[]? Stack = null);

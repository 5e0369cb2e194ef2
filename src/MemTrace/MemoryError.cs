// MemoryError: one detected error, with everything needed to find its cause: the kind, the
// address, the block, where the block was allocated, where it was first freed, and the call
// that detected the error (which, as ESP-IDF users learnt, is often not the culprit), and the
// allocation's stack when the tracker kept one.
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace MemTrace;

/// <summary>A detected memory error: what, where, and the sites that explain it.</summary>
public sealed record MemoryError
{
    /// <summary>Creates a report.</summary>
    /// <param name="kind">The kind of error.</param>
    /// <param name="operation">The heap operation that detected it (e.g. <see cref="AllocationMethod.Free"/>).</param>
    /// <param name="address">The address given to that operation.</param>
    public MemoryError(MemoryErrorKind kind, AllocationMethod operation, nuint address)
    {
        Kind = kind;
        Operation = operation;
        Address = address;
    }

    /// <summary>The kind of error.</summary>
    public MemoryErrorKind Kind { get; }

    /// <summary>The heap operation that detected the error.</summary>
    public AllocationMethod Operation { get; }

    /// <summary>The address given to the operation.</summary>
    public nuint Address { get; }

    /// <summary>The call that detected the error, when it came through a <see cref="MemoryTracker"/>.</summary>
    public CallSite? DetectedAt { get; init; }

    /// <summary>
    /// For an error found by an integrity check that MemTrace ran itself, what ran it, e.g. <c>when the tracker was
    /// disposed</c> or <c>at the periodic check (IntegrityCheckInterval)</c>; null otherwise.
    /// </summary>
    public string? DetectedWhen { get; init; }

    /// <summary>The block concerned as its tracker recorded it (for an interior pointer, the block that contains it), when a tracker knew it.</summary>
    public AllocationRecord? Block { get; init; }

    /// <summary>The start of the block concerned as the heap knows it (for an interior pointer, the containing block), when known.</summary>
    public nuint? BlockAddress { get; init; }

    /// <summary>The size of the block concerned: the requested size when a tracker knew it, else the usable size the heap knows.</summary>
    public nuint? BlockSize { get; init; }

    /// <summary>
    /// The managed stack of the block's allocation, when the tracker that knew the block kept one
    /// (<see cref="MemoryTrackerOptions.StackTraceDepth"/> above 0); null otherwise. It is the stack of
    /// <see cref="Block"/> (<see cref="AllocationRecord.StackTrace"/>): for a double free, that of the
    /// freed block's allocation.
    /// </summary>
    public StackTrace? AllocationStackTrace { get; init; }

    /// <summary>Where the block was first freed, for a double free or a realloc of a freed block, when known.</summary>
    public CallSite? FreedAt { get; init; }

    /// <summary>Managed thread id of the thread that first freed the block, when known.</summary>
    public int? FreedByThreadId { get; init; }

    /// <summary>The region that holds the address, when it is in one.</summary>
    public string? RegionName { get; init; }

    /// <summary>Extra facts, one per line (for example the limits of what a region can know, or ESP-IDF's own message).</summary>
    public string? Note { get; init; }

    /// <summary>For a corruption, the address of the first damaged byte.</summary>
    public nuint? DamagedAddress { get; init; }

    /// <summary>For a corruption, the bytes that should be at <see cref="DamagedAddress"/>.</summary>
    public IReadOnlyList<byte>? ExpectedBytes { get; init; }

    /// <summary>For a corruption, the bytes found at <see cref="DamagedAddress"/>.</summary>
    public IReadOnlyList<byte>? FoundBytes { get; init; }

    /// <summary>
    /// For a write after free found in free memory (Comprehensive poisoning on emulated RAM, no quarantine): the start
    /// of the free memory that holds the damaged bytes (the free block, or the part of it a request was about to receive).
    /// The block freed there last, when the region still remembers it, is <see cref="BlockAddress"/>.
    /// </summary>
    public nuint? FreeMemoryAddress { get; init; }

    /// <summary>For a write after free found in free memory: how many bytes of free memory start at <see cref="FreeMemoryAddress"/>.</summary>
    public nuint? FreeMemorySize { get; init; }

    /// <summary>One line: the kind and the address, e.g. <c>double free of 0x7f3a10 (64-byte block)</c>.</summary>
    public string Message => BuildMessage();

    /// <summary>The full multi-line report.</summary>
    /// <returns>The report.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("MEMTRACE ERROR: ").AppendLine(Message);
        text.Append("  detected by ").Append(Operation.ToCName());
        if (DetectedWhen is { } when)
        {
            text.Append(' ').Append(when);
            if (DetectedAt is { } during)
            {
                text.Append(", during the call at ").Append(during.ToString());
            }

            text.AppendLine();
        }
        else
        {
            text.Append(" at ").AppendLine(DetectedAt?.ToString() ?? "(no call site)");
        }

        if (Block is { } block)
        {
            text.Append(CultureInfo.InvariantCulture, $"  block {Hex(block.Address)}, {block.Size} bytes, request #{block.RequestNumber}, caps {block.Caps.ToCapsString()}, thread {block.ThreadId}");
            text.AppendLine();
            text.Append("  allocated at ").AppendLine(block.AllocatedAt.ToString());
            if (block.ReallocatedAt is { } realloc)
            {
                text.Append("  last reallocated at ").AppendLine(realloc.ToString());
            }
        }

        if (AllocationStackTrace is { } stack)
        {
            text.AppendLine("  allocation stack:");
            text.Append(Tracking.StackCapture.Format(stack, "    "));
        }

        if (FreedAt is { } freed)
        {
            text.Append("  first freed at ").Append(freed.ToString());
            if (FreedByThreadId is { } thread)
            {
                text.Append(CultureInfo.InvariantCulture, $" on thread {thread}");
            }

            text.AppendLine();
        }

        if (RegionName is not null)
        {
            text.Append("  region ").AppendLine(RegionName);
        }

        if (FreeMemoryAddress is { } free && FreeMemorySize is { } freeSize)
        {
            text.Append(CultureInfo.InvariantCulture, $"  in free memory: {freeSize} bytes at {Hex(free)}-{Hex(free + freeSize)}");
            text.AppendLine((Block?.Address ?? BlockAddress) is { } last ? ", where the block " + Hex(last) + " was freed last" : ", where the block freed last is not known");
        }

        if (DamagedAddress is { } damaged && FoundBytes is { } found)
        {
            var offset = (Block?.Address ?? BlockAddress) is { } start && damaged >= start
                ? string.Create(CultureInfo.InvariantCulture, $" (block offset {(long)(damaged - start)})")
                : FreeMemoryAddress is { } freeStart && damaged >= freeStart
                    ? string.Create(CultureInfo.InvariantCulture, $" (free memory offset {(long)(damaged - freeStart)})")
                    : string.Empty;
            text.Append("  damaged bytes at ").Append(Hex(damaged)).AppendLine(offset);
            text.Append("    expected: ").AppendLine(ExpectedBytes is { Count: > 0 } expected ? HexDump(expected) : "(not known)");
            text.Append("    found:    ").AppendLine(HexDump(found));
        }

        if (Note is not null)
        {
            foreach (var line in Note.Split('\n'))
            {
                text.Append("  note: ").AppendLine(line);
            }
        }

        return text.ToString();
    }

    internal static string Hex(nuint address) => "0x" + address.ToString("x", CultureInfo.InvariantCulture);

    private static string HexDump(IReadOnlyList<byte> bytes)
    {
        var text = new StringBuilder(bytes.Count * 3);
        foreach (var b in bytes)
        {
            text.Append(CultureInfo.InvariantCulture, $"{b:x2} ");
        }

        return text.ToString().TrimEnd();
    }

    private string BuildMessage()
    {
        var what = Kind switch
        {
            MemoryErrorKind.DoubleFree => "double free of " + Hex(Address),
            MemoryErrorKind.ReallocOfFreedBlock => "realloc of freed block " + Hex(Address),
            MemoryErrorKind.InvalidPointer => Operation.ToCName() + " of pointer " + Hex(Address) + " that the heap never handed out",
            MemoryErrorKind.InteriorPointer => Operation.ToCName() + " of interior pointer " + Hex(Address),
            MemoryErrorKind.OutsideHeap => Operation.ToCName() + "() target pointer " + Hex(Address) + " is outside heap areas",
            MemoryErrorKind.BufferOverflow => "buffer overflow after block " + Hex(Address),
            MemoryErrorKind.BufferUnderflow => "buffer underflow before block " + Hex(Address),
            MemoryErrorKind.WriteAfterFree when (Block?.Address ?? BlockAddress) is null && FreeMemoryAddress is not null =>
                "write after free at " + Hex(DamagedAddress ?? Address) + " in free memory",
            MemoryErrorKind.WriteAfterFree => "write after free in block " + Hex(Address),
            MemoryErrorKind.CorruptBlock => "corrupt block header at " + Hex(Address),
            _ => Kind.ToString() + " at " + Hex(Address),
        };

        var blockAddress = Block?.Address ?? BlockAddress;
        var blockSize = Block?.Size ?? BlockSize;
        if (Kind == MemoryErrorKind.InteriorPointer && blockAddress is { } start)
        {
            var size = blockSize is { } known ? known.ToString(CultureInfo.InvariantCulture) + "-byte " : string.Empty;
            return what + string.Create(CultureInfo.InvariantCulture, $", {Address - start} bytes inside the {size}block at {Hex(start)}");
        }

        return blockSize is { } bytes ? what + string.Create(CultureInfo.InvariantCulture, $" ({bytes}-byte block)") : what;
    }
}

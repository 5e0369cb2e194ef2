// PoisoningRegion: ESP-IDF's heap poisoning (multi_heap_poisoning.c) as a decorator over any region,
// TLSF or process heap, plus a quarantine of freed blocks.
//
// Every block gets a head before the user bytes and a tail canary right after them:
//     [ inner block: ... pad ... | 0xABBA1234 | size (u32) | user bytes ... | 0xBAAD5678 | slack ]
//                                 ^ user - 8                ^ user          ^ user + size
// 12 bytes of overhead on 4-aligned chip layouts, as on the chip; on 16-aligned layouts the head is
// 16 bytes so user pointers keep their alignment. A one-byte overrun or underrun changes a canary;
// the canaries are checked on free and realloc and by integrity checks.
//
// Comprehensive adds fill patterns: 0xCE over new blocks, 0xFE over freed ones. Over a TLSF region
// the heap keeps every free byte at 0xFE (it refills the headers that coalescing absorbs), so free
// memory is verified when it is handed out again and by integrity checks: a write after free is
// caught. The process heap's free memory is not ours to verify; the quarantine covers it: freed
// blocks wait, filled with 0xFE and still allocated in the inner region, and are verified when they
// leave (first in first out, bounded by bytes and blocks).
//
// A damaged block is reported and set aside: kept allocated, never reused (the heap's Report
// policy: log and go on). Corruptions are queued and drained by the heap after each operation,
// which adds the call in progress and the tracker's record of the block.
//
// Locking: the inner region's lock, then this region's lock, never the other way round. Free
// inspects the block through IBlockInspector while the inner region owns it; evictions from the
// quarantine are released after the inner free has returned.
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemTrace.Regions;

internal sealed unsafe class PoisoningRegion : Region
{
    public const uint HeadCanary = 0xABBA1234;
    public const uint TailCanary = 0xBAAD5678;
    public const byte MallocFill = 0xCE;
    public const byte FreeFill = 0xFE;
    private const int TailSize = 4;
    private const int DumpWindow = 16;

    [ThreadStatic]
    private static FreeContext? t_context;

    private readonly Internals.CorruptionSignal _signal;
    private readonly HeadInspector _clearingInspector;
    private readonly HeadInspector _keepingInspector;
    private readonly Region _inner;
    private readonly PoisoningLevel _level;
    private readonly QuarantineOptions? _quarantine;
    private readonly nuint _alignment;
    private readonly nuint _head;
    private readonly TlsfRegion? _tlsf;
    private readonly Lock _lock = new();
    private readonly Dictionary<nuint, Held> _held = [];
    private readonly Queue<nuint> _fifo = new();
    private readonly Dictionary<nuint, nuint> _alignedUserToInner = [];
    private readonly Dictionary<nuint, nuint> _alignedInnerToUser = [];
    private readonly HashSet<(nuint Block, MemoryErrorKind Kind, nuint Damaged)> _reported = [];
    private readonly List<CorruptionInfo> _pending = [];
    private nuint _quarantinedBytes;
    private nuint _heldInnerBytes;
    private volatile int _slowPath;
    private volatile bool _hasPending;
    private volatile int _reportedCount;

    public PoisoningRegion(Region inner, PoisoningLevel level, QuarantineOptions? quarantine, nuint alignment, Internals.CorruptionSignal? signal = null)
        : base(inner.Name, inner.Caps0, inner.Caps1, inner.Caps2)
    {
        _signal = signal ?? new Internals.CorruptionSignal();
        _clearingInspector = new HeadInspector(this, clear: true);
        _keepingInspector = new HeadInspector(this, clear: false);
        _inner = inner;
        _level = level;
        _quarantine = quarantine;
        _alignment = alignment;
        _head = Math.Max(8, alignment);
        _tlsf = inner as TlsfRegion;
        if (level == PoisoningLevel.Comprehensive && _tlsf is not null)
        {
            _tlsf.Heap.SetFreeFill(FreeFill);
            FillFreeMemory();
        }
    }

    /// <summary>Bytes each plain block costs beyond its request: the head and the tail canary.</summary>
    public nuint Overhead => _head + TailSize;

    public override bool ChecksBlocks => true;

    public override bool HasPendingCorruptions => _hasPending;

    public override bool IsUnbounded => _inner.IsUnbounded;

    public override nuint Start => _inner.Start;

    public override nuint End => _inner.End;

    public override nuint TotalSize => _inner.TotalSize;

    public override nuint FreeBytes => Less(_inner.FreeBytes, Overhead);

    public override nuint MinimumFreeBytes => Less(_inner.MinimumFreeBytes, Overhead);

    public override nuint LargestFreeBlock => Less(_inner.LargestFreeBlock, Overhead);

    public override void* Allocate(nuint size, nuint alignment, bool zero, uint tag)
    {
        if (size > uint.MaxValue - 1024)
        {
            return null; // The head keeps the size in 32 bits, as on the chip.
        }

        var offset = alignment <= _alignment ? _head : Math.Max(_head, alignment);
        var inner = (byte*)_inner.Allocate(size + offset + TailSize, alignment, zero: false, tag);
        if (inner is null)
        {
            return null;
        }

        var user = inner + offset;
        if (_level == PoisoningLevel.Comprehensive)
        {
            if (_tlsf is not null)
            {
                VerifyReused(inner);
            }

            new Span<byte>(user, (int)size).Fill(MallocFill);
        }

        if (zero)
        {
            NativeMemory.Clear(user, size);
        }

        WriteCanaries(user, (uint)size);
        if (offset != _head)
        {
            using (_lock.EnterScope())
            {
                _alignedUserToInner[(nuint)user] = (nuint)inner;
                _alignedInnerToUser[(nuint)inner] = (nuint)user;
                _slowPath = 1;
            }
        }

        return user;
    }

    public override BlockState Free(void* ptr, bool clearIfTagged, out BlockInfo block, IBlockInspector? inspector)
    {
        if (_slowPath == 0 && _quarantine is null)
        {
            // Every user pointer is inner + head and nothing stays held: the inspector is one of the region's
            // two (clearing or not), so a free touches no per-thread state.
            return _inner.Free((byte*)ptr - _head, clearIfTagged: false, out block, clearIfTagged ? _clearingInspector : _keepingInspector);
        }

        return FreeWithContext(ptr, clearIfTagged, out block);
    }

    /// <summary>A free with aligned blocks or a quarantine: the thread's context carries the pointer and what the inspection did.</summary>
    private BlockState FreeWithContext(void* ptr, bool clearIfTagged, out BlockInfo block)
    {
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, out inner, out var state))
        {
            block = default;
            return state;
        }

        var context = t_context ?? NewContext();
        if (context.Region != this)
        {
            context.Region = this;
        }

        context.User = user;
        context.Clear = clearIfTagged;
        context.Held = false;
        var result = _inner.Free((void*)inner, clearIfTagged: false, out block, context);
        if (result == BlockState.Live && !context.Held && _slowPath != 0)
        {
            ForgetAligned(user, inner);
        }

        if (context.Evicted.Count > 0)
        {
            try
            {
                ReleaseEvicted(context.Evicted);
            }
            finally
            {
                context.Evicted.Clear();
            }
        }

        return result;
    }

    /// <summary>
    /// The inner region asks whether to free a block now: the canaries decide, then the quarantine.
    /// <paramref name="size"/> comes in as the inner block's usable size and goes out as the block's requested size.
    /// <paramref name="context"/> is null on the fast path (no quarantine, no aligned blocks).
    /// </summary>
    private bool Approve(byte* user, byte* innerBlock, ref nuint size, uint tag, bool clear, FreeContext? context)
    {
        var usableSize = size;
        var damage = Inspect(user, innerBlock, usableSize, tag);
        if (damage is not null)
        {
            size = damage.Size;
            if (context is not null)
            {
                context.Held = true;
            }

            SetAside(damage, usableSize);
            return false;
        }

        var requested = *(uint*)(user - 4);
        size = requested;
        if (_reportedCount != 0)
        {
            ForgetReported((nuint)user);
        }

        if (_level == PoisoningLevel.Comprehensive || _quarantine is not null)
        {
            new Span<byte>(innerBlock, (int)usableSize).Fill(FreeFill);
        }
        else if (clear && tag != 0)
        {
            NativeMemory.Clear(user, requested); // The seed's free_unregister_allocation zeroing.
        }

        if (_quarantine is null)
        {
            return true;
        }

        // A quarantine always frees with a context (FreeWithContext).
        context!.Held = true;
        using (_lock.EnterScope())
        {
            _held[(nuint)user] = new Held((nuint)innerBlock, usableSize, size, tag, Quarantined: true);
            _fifo.Enqueue((nuint)user);
            _quarantinedBytes += size;
            _heldInnerBytes += usableSize;
            _slowPath = 1;
            while (_fifo.Count > 0 && (_quarantinedBytes > _quarantine.MaxBytes || _fifo.Count > _quarantine.MaxBlocks))
            {
                var oldest = _fifo.Dequeue();
                if (_held.TryGetValue(oldest, out var held) && held.Quarantined && _held.Remove(oldest))
                {
                    _quarantinedBytes -= held.Size;
                    _heldInnerBytes -= held.InnerSize;
                    context.Evicted.Add((oldest, held));
                }
            }
        }

        return false;
    }

    public override void* Reallocate(void* ptr, nuint size, out BlockState state, out BlockInfo old)
    {
        old = default;
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, out inner, out state))
        {
            return null;
        }

        state = _inner.Query((void*)inner, out var innerBlock);
        if (state != BlockState.Live)
        {
            return null;
        }

        var damage = Inspect((byte*)user, (byte*)inner, innerBlock.UsableSize, innerBlock.Tag);
        if (damage is not null)
        {
            SetAside(damage, innerBlock.UsableSize);
            state = BlockState.Corrupt;
            return null;
        }

        var oldSize = *(uint*)(user - 4);
        old = new BlockInfo(oldSize, innerBlock.Tag);
        if (size > uint.MaxValue - 1024)
        {
            return null;
        }

        if (_level == PoisoningLevel.Light && _quarantine is null && inner + _head == user)
        {
            // In place or moved inside the inner region; the head moves with the block, the tail is rewritten.
            var moved = (byte*)_inner.Reallocate((void*)inner, size + Overhead, out state, out _);
            if (moved is null)
            {
                return null;
            }

            WriteCanaries(moved + _head, (uint)size);
            return moved + _head;
        }

        // Comprehensive (no realloc in place, as ESP-IDF) or quarantine: allocate, copy, free.
        var fresh = (byte*)Allocate(size, _alignment, zero: false, innerBlock.Tag);
        if (fresh is null)
        {
            return null;
        }

        Buffer.MemoryCopy((void*)user, fresh, size, Math.Min(size, oldSize));
        Free((void*)user, clearIfTagged: false, out _, inspector: null);
        return fresh;
    }

    public override void ReleaseHeld(void* ptr) => _inner.ReleaseHeld(ptr);

    public override BlockState Query(void* ptr, out BlockInfo block)
    {
        block = default;
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, out inner, out var held))
        {
            return held;
        }

        var state = _inner.Query((void*)inner, out var innerBlock);
        if (state != BlockState.Live)
        {
            return state;
        }

        var size = *(uint*)(user - 4);
        var fits = *(uint*)(user - 8) == HeadCanary && size + (user - inner) + TailSize <= innerBlock.UsableSize;
        block = new BlockInfo(fits ? size : innerBlock.UsableSize - Overhead, innerBlock.Tag);
        return BlockState.Live;
    }

    public override void SetTag(void* ptr, uint tag)
    {
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0)
        {
            FindInner(user, out inner, out _);
        }

        _inner.SetTag((void*)inner, tag);
    }

    public override bool ClearTag(void* ptr, uint tag)
    {
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, out inner, out _))
        {
            return false;
        }

        return _inner.ClearTag((void*)inner, tag);
    }

    public override HeapInfo GetInfo()
    {
        var info = _inner.GetInfo();
        nuint heldBlocks = 0, heldBytes = 0;
        if (_inner.HeldBlocksStayLive)
        {
            using (_lock.EnterScope())
            {
                heldBlocks = (nuint)_held.Count;
                heldBytes = _heldInnerBytes;
            }
        }

        var userBlocks = info.AllocatedBlocks - heldBlocks;
        var allocated = info.TotalAllocatedBytes - heldBytes;
        allocated = allocated > userBlocks * Overhead ? allocated - (userBlocks * Overhead) : 0;
        return info with
        {
            TotalFreeBytes = Less(info.TotalFreeBytes, Overhead),
            LargestFreeBlock = Less(info.LargestFreeBlock, Overhead),
            MinimumFreeBytes = Less(info.MinimumFreeBytes, Overhead),
            TotalAllocatedBytes = allocated,
            AllocatedBlocks = userBlocks,
            TotalBlocks = info.TotalBlocks - heldBlocks,
        };
    }

    public override void ForEachLiveBlock(Action<nuint, nuint, uint> visitor)
    {
        foreach (var (user, size, tag) in LiveUserBlocks())
        {
            visitor(user, size, tag);
        }
    }

    public override void Walk(RegionWalkVisitor visitor) => _inner.Walk(visitor);

    public override bool CheckIntegrity(TextWriter? output)
    {
        var sound = _inner.CheckIntegrity(output);

        // Quarantined blocks: still all 0xFE.
        List<(nuint User, Held Held)> quarantined;
        using (_lock.EnterScope())
        {
            quarantined = [.. _held.Where(static h => h.Value.Quarantined).Select(static h => (h.Key, h.Value))];
        }

        foreach (var (user, held) in quarantined)
        {
            if (VerifyFill((byte*)held.Inner, held.InnerSize, FreeFill, (byte*)user, held.Size, held.Tag, MemoryErrorKind.WriteAfterFree, wasFreed: true) is { } damaged)
            {
                sound = false;
                Print(output, damaged);
                SetAside(damaged, held.InnerSize, moveFromQuarantine: true);
            }
        }

        // Live blocks: both canaries.
        foreach (var (user, inner, usable, tag) in LiveBlocksWithInner())
        {
            if (Inspect((byte*)user, (byte*)inner, usable, tag) is { } damage)
            {
                sound = false;
                Print(output, damage);
                Report(damage);
            }
        }

        // Free memory of a TLSF region under comprehensive poisoning: all 0xFE but the allocator's links.
        if (_level == PoisoningLevel.Comprehensive && _tlsf is not null)
        {
            var free = new List<(nuint Data, nuint Size)>();
            _tlsf.WalkSoundBlocks((data, size, used) =>
            {
                if (!used)
                {
                    free.Add((data, size));
                }

                return true;
            });
            foreach (var (data, size) in free)
            {
                if (FreeDataRange(data, size, out var from, out var length) && VerifyFill((byte*)from, length, FreeFill, (byte*)from, 0, 0, MemoryErrorKind.WriteAfterFree, wasFreed: true) is { } damaged)
                {
                    sound = false;
                    Print(output, damaged);
                    Report(damaged);
                }
            }
        }

        return sound;
    }

    public override nuint SwapMinimumFree() => _inner.SwapMinimumFree();

    public override void RestoreMinimumFree(nuint snapshot) => _inner.RestoreMinimumFree(snapshot);

    public override IReadOnlyList<CorruptionInfo> TakePendingCorruptions()
    {
        using (_lock.EnterScope())
        {
            var taken = _pending.ToArray();
            _pending.Clear();
            _hasPending = false;
            return taken;
        }
    }

    public override void Dispose() => _inner.Dispose();

    /// <summary>Writes the head (canary and size) and the tail canary of a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteCanaries(byte* user, uint size)
    {
        *(uint*)(user - 8) = HeadCanary;
        *(uint*)(user - 4) = size;
        Unsafe.WriteUnaligned(user + size, TailCanary);
    }

    private static nuint Less(nuint value, nuint overhead) =>
        value == nuint.MaxValue ? value : value > overhead ? value - overhead : 0;

    /// <summary>The free data of a TLSF free block that must hold the fill: all of it but the two free-list links at its start and the next block's prev_phys at its end.</summary>
    private static bool FreeDataRange(nuint data, nuint size, out nuint from, out nuint length)
    {
        from = data + 8;
        length = size > 12 ? size - 12 : 0;
        return length > 0;
    }

    /// <summary>Checks a live block's head and tail; returns the damage, or null when intact.</summary>
    private CorruptionInfo? Inspect(byte* user, byte* inner, nuint usable, uint tag)
    {
        var canary = *(uint*)(user - 8);
        if (canary != HeadCanary)
        {
            return Damage(MemoryErrorKind.BufferUnderflow, user, 0, tag, user - 8, HeadCanary, canary, "Bad head");
        }

        var size = *(uint*)(user - 4);
        if ((nuint)(user - inner) + size + TailSize > usable)
        {
            return Damage(MemoryErrorKind.CorruptBlock, user, usable - Overhead, tag, user - 4, 0, size, "Bad size");
        }

        var tail = Unsafe.ReadUnaligned<uint>(user + size);
        return tail != TailCanary ? Damage(MemoryErrorKind.BufferOverflow, user, size, tag, user + size, TailCanary, tail, "Bad tail") : null;
    }

    private static CorruptionInfo Damage(MemoryErrorKind kind, byte* user, nuint size, uint tag, byte* at, uint expected, uint found, string what)
    {
        var expectedBytes = BitConverter.GetBytes(expected);
        var foundBytes = BitConverter.GetBytes(found);
        var first = 0;
        while (first < 3 && expectedBytes[first] == foundBytes[first])
        {
            first++;
        }

        return new CorruptionInfo
        {
            Kind = kind,
            Address = (nuint)user,
            Size = size,
            Tag = tag,
            DamagedAddress = (nuint)at,
            Expected = expectedBytes,
            Found = foundBytes,
            Message = kind == MemoryErrorKind.CorruptBlock
                ? string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: Bad size at 0x{(nuint)at:x}: {found} does not fit the {size + 12}-byte block")
                : string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: {what} at 0x{(nuint)at:x}. Expected 0x{expected:x8} got 0x{found:x8}"),
        };
    }

    /// <summary>Checks that a range holds a fill pattern; returns the damage (a window around the first bad byte), or null.</summary>
    private static CorruptionInfo? VerifyFill(byte* from, nuint length, byte fill, byte* user, nuint size, uint tag, MemoryErrorKind kind, bool wasFreed)
    {
        var span = new ReadOnlySpan<byte>(from, (int)length);
        var bad = span.IndexOfAnyExcept(fill);
        if (bad < 0)
        {
            return null;
        }

        var window = span.Slice(bad, Math.Min(DumpWindow, span.Length - bad));
        var found = window.ToArray();
        var expected = new byte[found.Length];
        Array.Fill(expected, fill);
        return new CorruptionInfo
        {
            Kind = kind,
            Address = (nuint)user,
            Size = size,
            Tag = tag,
            DamagedAddress = (nuint)(from + bad),
            Expected = expected,
            Found = found,
            WasFreed = wasFreed,
            Message = string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: Invalid data at 0x{(nuint)(from + bad):x}. Expected 0x{fill:x2} got 0x{found[0]:x2}"),
        };
    }

    /// <summary>Comprehensive over TLSF: memory about to be handed out again must still hold the free fill.</summary>
    private void VerifyReused(byte* inner)
    {
        var usable = _tlsf!.Heap.UsableSizeOfOwned(inner);
        if (FreeDataRange((nuint)inner, usable, out var from, out var length)
            && VerifyFill((byte*)from, length, FreeFill, (byte*)from, 0, 0, MemoryErrorKind.WriteAfterFree, wasFreed: true) is { } damage)
        {
            Report(damage);
        }
    }

    /// <summary>Fills the free memory of a fresh TLSF region with the free pattern.</summary>
    private void FillFreeMemory()
    {
        _tlsf!.WalkSoundBlocks((data, size, used) =>
        {
            if (!used && FreeDataRange(data, size, out var from, out var length))
            {
                new Span<byte>((void*)from, (int)length).Fill(FreeFill);
            }

            return true;
        });
    }

    private void Report(CorruptionInfo damage)
    {
        using (_lock.EnterScope())
        {
            // A live block's damage found by an integrity check is found again when the block is freed: report it once.
            if (!damage.WasFreed && !_reported.Add((damage.Address, damage.Kind, damage.DamagedAddress)))
            {
                return;
            }

            _pending.Add(damage);
            _hasPending = true;
            _signal.Raise();
            _reportedCount = _reported.Count;
        }
    }

    /// <summary>A block freed intact: earlier reports of its address no longer apply (the address will be reused).</summary>
    private void ForgetReported(nuint user)
    {
        using (_lock.EnterScope())
        {
            _reported.RemoveWhere(r => r.Block == user);
            _reportedCount = _reported.Count;
        }
    }

    /// <summary>Reports a damaged block and keeps it allocated in the inner region for good.</summary>
    private void SetAside(CorruptionInfo damage, nuint innerSize, bool moveFromQuarantine = false)
    {
        Report(damage);
        using (_lock.EnterScope())
        {
            if (_held.TryGetValue(damage.Address, out var held))
            {
                if (moveFromQuarantine && held.Quarantined)
                {
                    _quarantinedBytes -= held.Size;
                    _held[damage.Address] = held with { Quarantined = false };
                }

                return;
            }

            var inner = _alignedUserToInner.TryGetValue(damage.Address, out var aligned) ? aligned : damage.Address - _head;
            _held[damage.Address] = new Held(inner, innerSize, damage.Size, damage.Tag, Quarantined: false);
            _heldInnerBytes += innerSize;
            _slowPath = 1;
        }
    }

    /// <summary>Verifies blocks leaving the quarantine; gives the intact ones back to the inner region.</summary>
    private void ReleaseEvicted(List<(nuint User, Held Held)> evicted)
    {
        foreach (var (user, held) in evicted)
        {
            if (VerifyFill((byte*)held.Inner, held.InnerSize, FreeFill, (byte*)user, held.Size, held.Tag, MemoryErrorKind.WriteAfterFree, wasFreed: true) is { } damage)
            {
                Report(damage);
                using (_lock.EnterScope())
                {
                    _held[user] = held with { Quarantined = false };
                    _heldInnerBytes += held.InnerSize;
                }

                continue;
            }

            _inner.ReleaseHeld((void*)held.Inner);
            ForgetAligned(user, held.Inner);
        }

        evicted.Clear();
    }

    /// <summary>Slow path of a lookup: held blocks are Freed; aligned blocks sit further into their inner block.</summary>
    private bool FindInner(nuint user, out nuint inner, out BlockState state)
    {
        using (_lock.EnterScope())
        {
            if (_held.ContainsKey(user))
            {
                inner = 0;
                state = BlockState.Freed;
                return false;
            }

            inner = _alignedUserToInner.TryGetValue(user, out var aligned) ? aligned : user - _head;
            state = BlockState.Live;
            return true;
        }
    }

    /// <summary>The user pointer of an inner block; the caller holds the lock.</summary>
    private nuint FindUser(nuint inner) => _alignedInnerToUser.TryGetValue(inner, out var user) ? user : inner + _head;

    private void ForgetAligned(nuint user, nuint inner)
    {
        using (_lock.EnterScope())
        {
            if (_alignedUserToInner.Remove(user))
            {
                _alignedInnerToUser.Remove(inner);
            }
        }
    }

    /// <summary>The inner region's live blocks that are the user's (not held), with their user pointers.</summary>
    private List<(nuint User, nuint Inner, nuint Usable, uint Tag)> LiveBlocksWithInner()
    {
        var inner = new List<(nuint Inner, nuint Usable, uint Tag)>();
        _inner.ForEachLiveBlock((address, usable, tag) => inner.Add((address, usable, tag)));
        var blocks = new List<(nuint User, nuint Inner, nuint Usable, uint Tag)>(inner.Count);
        using (_lock.EnterScope())
        {
            foreach (var (address, usable, tag) in inner)
            {
                var user = FindUser(address);
                if (!_held.ContainsKey(user))
                {
                    blocks.Add((user, address, usable, tag));
                }
            }
        }

        return blocks;
    }

    private List<(nuint User, nuint Size, uint Tag)> LiveUserBlocks()
    {
        var inner = new List<(nuint Inner, nuint Usable, uint Tag)>();
        _inner.ForEachLiveBlock((address, usable, tag) => inner.Add((address, usable, tag)));
        var blocks = new List<(nuint User, nuint Size, uint Tag)>(inner.Count);
        using (_lock.EnterScope())
        {
            foreach (var (address, usable, tag) in inner)
            {
                var user = FindUser(address);
                if (_held.ContainsKey(user))
                {
                    continue;
                }

                var size = *(uint*)(user - 4);
                blocks.Add((user, size + (user - address) + TailSize <= usable ? size : usable - Overhead, tag));
            }
        }

        return blocks;
    }

    private static void Print(TextWriter? output, CorruptionInfo damage) => output?.WriteLine(damage.Message);

    /// <summary>A block kept allocated in the inner region: in quarantine, or set aside because it is damaged.</summary>
    private readonly record struct Held(nuint Inner, nuint InnerSize, nuint Size, uint Tag, bool Quarantined);

    /// <summary>What the free in progress on this thread tells <see cref="Approve"/>, and what Approve hands back.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FreeContext NewContext() => t_context = new FreeContext();

    /// <summary>One thread's free in progress on the slow path: what the inspection needs and what it found.</summary>
    private sealed class FreeContext : IBlockInspector
    {
        public PoisoningRegion? Region;
        public nuint User;
        public bool Clear;
        public bool Held;
        public readonly List<(nuint User, Held Held)> Evicted = [];

        public bool Approve(byte* block, ref nuint size, uint tag) => Region!.Approve((byte*)User, block, ref size, tag, Clear, this);
    }

    /// <summary>The fast path's inspector: the user pointer is the inner block plus the head.</summary>
    private sealed class HeadInspector(PoisoningRegion region, bool clear) : IBlockInspector
    {
        public bool Approve(byte* block, ref nuint size, uint tag) => region.Approve(block + region._head, block, ref size, tag, clear, context: null);
    }
}

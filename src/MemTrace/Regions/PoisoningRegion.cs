// PoisoningRegion: ESP-IDF's heap poisoning (multi_heap_poisoning.c) as a decorator over any region,
// TLSF or process heap, plus a quarantine of freed blocks.
//
// Every block gets a head before the user bytes and a tail canary right after them, in ESP-IDF's
// order (poison_head_t is { head_canary, alloc_size }):
//     [ inner block: (0xABBA1234 ...) | 0xABBA1234 | size (u32) | user bytes ... | 0xBAAD5678 | slack ]
//                                      ^ user - 8   ^ user - 4   ^ user          ^ user + size
// 12 bytes of overhead on 4-aligned chip layouts, as on the chip. On 16-aligned layouts the head is
// 16 bytes so user pointers keep their alignment. A block aligned beyond the layout is placed over
// TLSF as ESP-IDF places it (memalign_offs: the user bytes aligned, the head right before them, the
// leading gap back to the free lists); over the process heap the inner block itself is aligned and
// the gap in front of the head stays in the block. Extra head bytes are filled with more head
// canaries, checked with the rest of the head.
// The byte right before the block is the high byte of the size, as on the chip: an underrun of 1 to
// 4 bytes is seen only when it makes the size larger than the block (reported as a corrupt size);
// from 5 bytes on it reaches a head canary. A one-byte overrun always changes the tail canary. The
// canaries are checked on free and realloc and by integrity checks.
//
// Comprehensive adds fill patterns: 0xCE over new blocks, 0xFE over freed ones. Over a TLSF region
// the heap keeps every free byte at 0xFE (it refills the headers that coalescing absorbs), so free
// memory is verified when it is handed out again and by integrity checks: a write after free is
// caught. Damaged free memory is reported and set aside, never handed out; the region remembers
// its last 256 frees (where, how large, and what the tracker knew of the block) to name the block
// a damaged byte belonged to. The process heap's free memory is not ours to verify; the
// quarantine covers it: freed blocks wait, filled with 0xFE and still allocated in the inner
// region, and are verified when they leave (first in first out, bounded by bytes and blocks). A
// quarantined block keeps a copy of the tracker's record (BlockWitness), since the record itself
// is reused long before the block leaves.
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
    private const int RecentFreeCount = 256;

    /// <summary>How many freed aligned user pointers are remembered to tell their double free (see <see cref="_freedAligned"/>).</summary>
    private const int FreedAlignedCount = 4096;

    /// <summary>How many times a request that finds the inner region full empties the quarantine and tries again.</summary>
    private const int GiveWayAttempts = 4;

    /// <summary>The rounds of waiting for handovers in progress (see <see cref="BlockHandover"/>) before a check reports a suspect.</summary>
    private const int MaxHandoverRounds = 4;

    /// <summary>The longest a check waits for other threads' handovers in one round: then it looks again anyway.</summary>
    private static readonly TimeSpan s_handoverTimeout = TimeSpan.FromSeconds(2);

    [ThreadStatic]
    private static FreeContext? t_context;

    private static readonly HoldingInspector s_hold = new();

    private readonly Internals.CorruptionSignal _signal;
    private readonly Func<uint, nuint, BlockWitness?>? _witness;
    private readonly HeadInspector _clearingInspector;
    private readonly HeadInspector _keepingInspector;
    private readonly Region _inner;
    private readonly PoisoningLevel _level;

    /// <summary>Freed blocks are filled with <see cref="FreeFill"/> (Comprehensive, or a quarantine): their free goes the slow way.</summary>
    private readonly bool _fillOnFree;
    private readonly QuarantineOptions? _quarantine;
    private readonly nuint _alignment;
    private readonly nuint _head;
    private readonly TlsfRegion? _tlsf;

    /// <summary>The inner region places aligned blocks after a head (TLSF): aligned blocks need no gap and no mapping.</summary>
    private readonly bool _alignsAfterHead;
    private readonly Lock _lock = new();
    private readonly Dictionary<nuint, Held> _held = [];
    private readonly Queue<nuint> _fifo = new();
    private readonly Dictionary<nuint, nuint> _alignedUserToInner = [];
    private readonly Dictionary<nuint, nuint> _alignedInnerToUser = [];

    /// <summary>
    /// The user pointers of the last <see cref="FreedAlignedCount"/> aligned blocks freed whose user bytes do not start one
    /// head into their inner block (the process heap): their mapping is gone with the block, and without this a second
    /// free would look one head in front of the pointer, find no block and call it an invalid pointer, not a double free.
    /// Each is kept with the number of its latest free, and the queue of frees forgets a pointer only with its latest
    /// free: a hot loop freeing aligned blocks at one address queues it once per free, and the oldest of those entries
    /// took it out of the set right after its newest free.
    /// </summary>
    private readonly Dictionary<nuint, long> _freedAligned = [];
    private readonly Queue<(nuint User, long Free)> _freedAlignedOrder = new();
    private long _alignedFrees;

    /// <summary>Inner blocks taken out of the quarantine by a free and not yet given back (see ReleaseEvicted).</summary>
    private readonly HashSet<nuint> _evicting = [];
    private readonly HashSet<(nuint Block, MemoryErrorKind Kind, nuint Damaged)> _reported = [];
    private readonly HashSet<nuint> _reportedFree = [];
    private readonly List<CorruptionInfo> _pending = [];
    private readonly RecentFree[]? _recent;
    private int _recentNext;
    private nuint _quarantinedBytes;
    private int _quarantinedBlocks;
    private nuint _heldInnerBytes;
    private volatile int _slowPath;
    private volatile bool _hasPending;
    private volatile int _reportedCount;
    private int _handoverWaits;

    /// <summary>Decorates <paramref name="inner"/>.</summary>
    /// <param name="inner">The region whose blocks get canaries.</param>
    /// <param name="level">Light or Comprehensive (None with a quarantine: fill and quarantine only).</param>
    /// <param name="quarantine">The quarantine's bounds, or null for none.</param>
    /// <param name="alignment">The layout's alignment of plain blocks.</param>
    /// <param name="signal">Raised when a corruption is queued (one per heap).</param>
    /// <param name="witness">What the heap's observer knows of a block being freed (tag, user address); null for nothing.</param>
    public PoisoningRegion(Region inner, PoisoningLevel level, QuarantineOptions? quarantine, nuint alignment, Internals.CorruptionSignal? signal = null, Func<uint, nuint, BlockWitness?>? witness = null)
        : base(inner.Name, inner.Caps0, inner.Caps1, inner.Caps2)
    {
        _signal = signal ?? new Internals.CorruptionSignal();
        _witness = witness;
        _clearingInspector = new HeadInspector(this, clear: true);
        _keepingInspector = new HeadInspector(this, clear: false);
        _inner = inner;
        _level = level;
        _quarantine = quarantine;
        _fillOnFree = level == PoisoningLevel.Comprehensive || quarantine is not null;
        _alignment = alignment;
        _head = Math.Max(8, alignment);
        _tlsf = inner as TlsfRegion;
        _alignsAfterHead = inner.AlignsAfterHead;
        if (level == PoisoningLevel.Comprehensive && _tlsf is not null)
        {
            _tlsf.Heap.SetFreeFill(FreeFill);
            FillFreeMemory();
            _recent = new RecentFree[RecentFreeCount];
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

        // Over TLSF, a block aligned beyond the layout is placed so that its user bytes are (memalign_offs, as ESP-IDF):
        // the head sits right before them as in any block. Elsewhere the block itself is aligned and the gap kept.
        var afterHead = alignment > _alignment && _alignsAfterHead;
        var offset = alignment <= _alignment || afterHead ? _head : Math.Max(_head, alignment);
        byte* inner;

        // Until the canaries are written (and an aligned block mapped), checks wait for the block. No try/finally on this
        // path (it would keep the locals out of registers): nothing here throws but the slow steps, which end the
        // handover themselves when they do.
        var handover = BlockHandover.Begin();
        do
        {
            inner = (byte*)AllocateInner(size + offset + TailSize, alignment, afterHead, tag);
            if (inner is null && _quarantine is not null)
            {
                inner = (byte*)AllocateGivingWay(size + offset + TailSize, alignment, afterHead, tag);
            }

            if (inner is null)
            {
                BlockHandover.End(handover);
                return null;
            }
        }
        while (_recent is not null && SetAsideIfDamaged(inner, handover)); // Damaged free memory is kept, and another block taken.

        var user = inner + offset;
        if (_level == PoisoningLevel.Comprehensive)
        {
            NativeMemory.Fill(user, size, MallocFill); // Blocks may pass 2 GiB: no Span of them.
        }

        if (zero)
        {
            NativeMemory.Clear(user, size);
        }

        WriteHead(inner, user, (uint)size);
        if (offset != _head)
        {
            MapAligned(user, inner, handover); // Part of the handover: unmapped, a check would look for the head at inner + head.
        }

        BlockHandover.End(handover);
        return user;
    }

    /// <summary>An inner block for a block of <paramref name="innerSize"/> bytes; <paramref name="afterHead"/>: its user bytes, one head further, aligned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void* AllocateInner(nuint innerSize, nuint alignment, bool afterHead, uint tag) => afterHead
        ? _inner.AllocateAlignedAfterHead(innerSize, alignment, _head, tag)
        : _inner.Allocate(innerSize, alignment, zero: false, tag);

    /// <summary>Records where an aligned block's user pointer lies in its inner block; ends <paramref name="handover"/> if it throws.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MapAligned(byte* user, byte* inner, BlockHandover.Cell handover)
    {
        try
        {
            using (_lock.EnterScope())
            {
                _alignedUserToInner[(nuint)user] = (nuint)inner;
                _alignedInnerToUser[(nuint)inner] = (nuint)user;
                _freedAligned.Remove((nuint)user); // Live again: a free of it is a free.
                _slowPath = 1;
            }
        }
        catch
        {
            BlockHandover.End(handover);
            throw;
        }
    }

    /// <summary><see cref="SetAsideIfDamaged(byte*)"/> during an allocation's handover, which it ends if it throws.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool SetAsideIfDamaged(byte* inner, BlockHandover.Cell handover)
    {
        try
        {
            return SetAsideIfDamaged(inner);
        }
        catch
        {
            BlockHandover.End(handover);
            throw;
        }
    }

    public override BlockState Free(void* ptr, bool clearIfTagged, out BlockInfo block, IBlockInspector? inspector)
    {
        if (_slowPath == 0 && _quarantine is null)
        {
            // Every user pointer is inner + head and nothing stays held: the inspector is one of the region's
            // two (clearing or not), so a free touches no per-thread state. Not a handover: everything it changes, it
            // changes while the inner region keeps checks away from the block (its lock, or the host's claim).
            return _inner.Free((byte*)ptr - _head, clearIfTagged: false, out block, clearIfTagged ? _clearingInspector : _keepingInspector);
        }

        return FreeWithContext(ptr, clearIfTagged, out block);
    }

    /// <summary>
    /// A free with aligned blocks, held blocks or a quarantine: the thread's context carries the pointer and what the
    /// inspection did. A handover: mappings and the quarantine change outside the inner region's protection.
    /// </summary>
    private BlockState FreeWithContext(void* ptr, bool clearIfTagged, out BlockInfo block)
    {
        var handover = BlockHandover.Begin();
        try
        {
            return FreeHandedOver(ptr, clearIfTagged, out block);
        }
        finally
        {
            BlockHandover.End(handover);
        }
    }

    private BlockState FreeHandedOver(void* ptr, bool clearIfTagged, out BlockInfo block)
    {
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, Access.Free, out inner, out var state))
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
        context.AlreadyHeld = false;
        var result = _inner.Free((void*)inner, clearIfTagged: false, out block, context);
        if (context.AlreadyHeld)
        {
            // A second free of a block that another thread's free quarantined after this one looked it up: a double free.
            block = default;
            result = BlockState.Freed;
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
    /// <paramref name="context"/> is null on the fast path (no quarantine, no aligned or held blocks).
    /// </summary>
    private bool Approve(byte* user, byte* innerBlock, ref nuint size, uint tag, bool clear, FreeContext? context)
    {
        var usableSize = size;
        var damage = Inspect(user, innerBlock, usableSize, tag);
        if (damage is not null)
        {
            size = damage.Size;
            return Refuse(damage, usableSize, context);
        }

        var requested = *(uint*)(user - 4);
        size = requested;
        if (_reportedCount != 0 || _fillOnFree)
        {
            return ApproveSlow(user, innerBlock, usableSize, requested, tag, clear, context);
        }

        // Light with no quarantine: the fast path stays small enough to inline into the free it serves.
        if (clear && tag != 0)
        {
            NativeMemory.Clear(user, requested); // The seed's free_unregister_allocation zeroing.
        }

        return true;
    }

    /// <summary>A damaged block: held, set aside for good, never freed.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool Refuse(CorruptionInfo damage, nuint usableSize, FreeContext? context)
    {
        if (context is not null)
        {
            context.Held = true;
        }

        SetAside(damage, usableSize, ownerFreed: true);
        return false;
    }

    /// <summary>The rest of <see cref="Approve"/> for an intact block when something more than Light's check is on: reported addresses to forget, fills, the recent frees, the quarantine.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool ApproveSlow(byte* user, byte* innerBlock, nuint usableSize, nuint requested, uint tag, bool clear, FreeContext? context)
    {
        if (_reportedCount != 0)
        {
            ForgetReported((nuint)user);
        }

        if (_fillOnFree)
        {
            // Comprehensive over TLSF (free memory is checked: _recent is kept): head, data and tail only, as ESP-IDF's
            // multi_heap_free. The slack after the tail was verified free fill when the block was handed out and is left as
            // it is: a write there (past the tail canary) is found in free memory later, as on the chip. A quarantined
            // block is verified whole when it leaves: fill it all.
            var checkedLater = _recent is not null && _quarantine is null;
            NativeMemory.Fill(innerBlock, checkedLater ? (nuint)(user - innerBlock) + requested + TailSize : usableSize, FreeFill);
        }
        else if (clear && tag != 0)
        {
            NativeMemory.Clear(user, requested); // The seed's free_unregister_allocation zeroing.
        }

        if (_quarantine is null)
        {
            if (_recent is not null)
            {
                // Writers are serialised by the inner region's lock, under which this runs.
                RememberFree((nuint)innerBlock, usableSize, (nuint)user, requested, tag, Witness(tag, (nuint)user));
            }

            return true;
        }

        var witness = Witness(tag, (nuint)user);

        // A quarantine always frees with a context (FreeWithContext).
        context!.Held = true;
        using (_lock.EnterScope())
        {
            _held[(nuint)user] = new Held((nuint)innerBlock, usableSize, requested, tag, Quarantined: true, OwnerFreed: true, witness);
            _fifo.Enqueue((nuint)user);
            _quarantinedBytes += requested;
            _quarantinedBlocks++;
            _heldInnerBytes += usableSize;
            _slowPath = 1;
            while (_quarantinedBlocks > 0 && (_quarantinedBytes > _quarantine.MaxBytes || _quarantinedBlocks > _quarantine.MaxBlocks))
            {
                EvictOldestLocked(context.Evicted);
            }
        }

        return false;
    }

    /// <summary>
    /// Takes the oldest entry off the quarantine's queue and, unless it is stale (its block moved out by SetAside), moves
    /// the block to <paramref name="evicted"/> for <see cref="ReleaseEvicted"/>. Under <see cref="_lock"/>.
    /// </summary>
    private void EvictOldestLocked(List<(nuint User, Held Held)> evicted)
    {
        var oldest = _fifo.Dequeue();
        if (_held.TryGetValue(oldest, out var held) && held.Quarantined && _held.Remove(oldest))
        {
            // Still allocated in the inner region until ReleaseEvicted has verified it and given it back:
            // meanwhile it is no block of the user's (integrity checks and frees must not take it for one).
            _quarantinedBytes -= held.Size;
            _quarantinedBlocks--;
            _evicting.Add(held.Inner);
            evicted.Add((oldest, held));
        }
    }

    /// <summary>
    /// A request found the inner region full: the quarantine gives way. Every quarantined block leaves (verified, as when
    /// later frees push it out), blocks other threads are taking out of it at that moment are waited for, and the
    /// request is tried again, a few times, as long as there was something to give back: threads that found the region
    /// full together all get their turn. Null when the quarantine held nothing, or the region stays full.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void* AllocateGivingWay(nuint innerSize, nuint alignment, bool afterHead, uint tag)
    {
        if (!_inner.IsUnbounded && innerSize > _inner.TotalSize)
        {
            return null; // Larger than the region: no emptying could serve it, so the quarantine keeps its blocks and its watch.
        }

        for (var attempt = 0; attempt < GiveWayAttempts; attempt++)
        {
            var emptied = EmptyQuarantine();
            var waited = WaitForEvictions();

            // Tried even when nothing was held or on its way back now: another thread may have emptied the quarantine
            // since this request found the region full.
            var inner = AllocateInner(innerSize, alignment, afterHead, tag);
            if (inner is not null || (!emptied && !waited))
            {
                return inner;
            }
        }

        return null;
    }

    /// <summary>
    /// Waits until the blocks leaving the quarantine on other threads are back in the inner region (at most a second:
    /// the evicting threads verify and give back, never wait, so that bound is only a guard); false when there were none.
    /// </summary>
    private bool WaitForEvictions()
    {
        var spinner = default(SpinWait);
        var deadline = 0L;
        while (true)
        {
            using (_lock.EnterScope())
            {
                if (_evicting.Count == 0)
                {
                    return deadline != 0;
                }
            }

            var now = Environment.TickCount64;
            if (deadline == 0)
            {
                deadline = now + 1000;
            }
            else if (now >= deadline)
            {
                return true;
            }

            spinner.SpinOnce(); // Sleeps now and then.
        }
    }

    /// <summary>Moves every quarantined block out and gives the intact ones back to the inner region; false when none was held.</summary>
    private bool EmptyQuarantine()
    {
        var evicted = new List<(nuint User, Held Held)>();
        using (_lock.EnterScope())
        {
            while (_fifo.Count > 0)
            {
                EvictOldestLocked(evicted);
            }
        }

        if (evicted.Count == 0)
        {
            return false;
        }

        ReleaseEvicted(evicted);
        return true;
    }

    public override void* Reallocate(void* ptr, nuint size, out BlockState state, out BlockInfo old)
    {
        var user = (nuint)ptr;
        state = CheckedLookup(user, out var inner, out old);
        if (state != BlockState.Live)
        {
            return null;
        }

        var oldSize = old.UsableSize;
        if (size > uint.MaxValue - 1024)
        {
            return null;
        }

        if (_level == PoisoningLevel.Light && _quarantine is null && inner + _head == user)
        {
            // In place or moved inside the inner region; the head moves with the block, the tail is rewritten.
            var handover = BlockHandover.Begin(); // Nothing here throws: no try/finally.
            var moved = (byte*)_inner.Reallocate((void*)inner, size + Overhead, out state, out _);
            if (moved is not null)
            {
                WriteHead(moved, moved + _head, (uint)size);
                moved += _head;
            }

            BlockHandover.End(handover);
            return moved;
        }

        // Comprehensive (no realloc in place, as ESP-IDF) or quarantine: allocate, copy, free.
        var fresh = (byte*)Allocate(size, _alignment, zero: false, old.Tag);
        if (fresh is null)
        {
            return null;
        }

        var kept = Math.Min(size, oldSize);
        Buffer.MemoryCopy((void*)user, fresh, size, kept);
        if (_level == PoisoningLevel.Comprehensive && size > kept)
        {
            // ESP-IDF's comprehensive realloc takes the new block with multi_heap_malloc_impl, which does not swap the
            // free pattern for the malloc one: the grown bytes read 0xFE, not 0xCE, as on the chip.
            NativeMemory.Fill(fresh + kept, size - kept, FreeFill);
        }

        state = Free((void*)user, clearIfTagged: false, out _, inspector: null);
        if (state != BlockState.Live)
        {
            // Freed (or found damaged) by another thread while it was copied: the realloc fails as one of a freed block.
            Free(fresh, clearIfTagged: false, out _, inspector: null);
            return null;
        }

        return fresh;
    }

    public override void ReleaseHeld(void* ptr) => _inner.ReleaseHeld(ptr);

    public override BlockState Query(void* ptr, out BlockInfo block) => Query(ptr, out block, out _);

    /// <summary>
    /// As ESP-IDF's <c>multi_heap_get_allocated_size</c> with poisoning: the inner block less the poisoning's overhead,
    /// which can exceed the request (writing past the request still breaks the tail canary, as on the chip).
    /// </summary>
    public override nuint AllocatedSize(void* ptr) => Query(ptr, out _, out var room) == BlockState.Live ? room : 0;

    /// <summary>The block at <paramref name="ptr"/>: its requested size and tag, and the room its inner block has for it.</summary>
    private BlockState Query(void* ptr, out BlockInfo block, out nuint room)
    {
        block = default;
        room = 0;
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, Access.Query, out inner, out var held))
        {
            return held;
        }

        var state = _inner.Query((void*)inner, out var innerBlock);
        if (state != BlockState.Live)
        {
            return state;
        }

        var size = *(uint*)(user - 4);
        room = Room(user, inner, innerBlock.UsableSize);
        var fits = *(uint*)(user - 8) == HeadCanary && size <= room;
        block = new BlockInfo(fits ? size : room, innerBlock.Tag);
        return BlockState.Live;
    }

    public override BlockState QueryChecked(void* ptr, out BlockInfo block) => CheckedLookup((nuint)ptr, out _, out block);

    /// <summary>
    /// The block at <paramref name="user"/> as a realloc must see it: its inner block, its requested size and tag,
    /// its canaries checked; a damaged block is set aside (Corrupt, with the size the damage report gives).
    /// </summary>
    private BlockState CheckedLookup(nuint user, out nuint inner, out BlockInfo block)
    {
        inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, Access.Realloc, out inner, out var held))
        {
            block = default;
            return held;
        }

        var state = _inner.Query((void*)inner, out var innerBlock);
        if (state != BlockState.Live)
        {
            block = default;
            return state;
        }

        if (Inspect((byte*)user, (byte*)inner, innerBlock.UsableSize, innerBlock.Tag) is { } damage)
        {
            var setAside = SetAsideLive(damage, inner, innerBlock.UsableSize);
            block = setAside == BlockState.Corrupt ? new BlockInfo(damage.Size, innerBlock.Tag) : default;
            return setAside;
        }

        block = new BlockInfo(*(uint*)(user - 4), innerBlock.Tag);
        return BlockState.Live;
    }

    public override void SetTag(void* ptr, uint tag)
    {
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, Access.Query, out inner, out _))
        {
            return; // A held block (quarantined or set aside) has no inner block of the caller's to tag.
        }

        _inner.SetTag((void*)inner, tag);
    }

    public override bool ClearTag(void* ptr, uint tag)
    {
        var user = (nuint)ptr;
        var inner = user - _head;
        if (_slowPath != 0 && !FindInner(user, Access.Query, out inner, out _))
        {
            return false;
        }

        return _inner.ClearTag((void*)inner, tag);
    }

    public override HeapInfo GetInfo()
    {
        var info = _inner.GetInfo();
        nuint heldBlocks = 0, heldBytes = 0;
        using (_lock.EnterScope())
        {
            if (_inner.HeldBlocksStayLive)
            {
                heldBlocks = (nuint)(_held.Count + _evicting.Count);
                heldBytes = _heldInnerBytes;
            }

            // An aligned block whose inner block is itself aligned (the process heap) keeps the gap in front of its head in
            // the inner block: overhead as the head is, not the user's bytes (GetAllocatedSize leaves it out too). Held and
            // leaving blocks are left to the inner region's count (the process heap no longer counts them).
            foreach (var (user, inner) in _alignedUserToInner)
            {
                if (!_evicting.Contains(inner) && !_held.ContainsKey(user))
                {
                    heldBytes += user - inner - _head;
                }
            }
        }

        // The inner figures and the held ones are two snapshots (the inner region's lock, then this one's: never both), and
        // blocks enter and leave the quarantine between them: the differences are clamped, never wrapped.
        var userBlocks = Less(info.AllocatedBlocks, heldBlocks);
        var allocated = Less(info.TotalAllocatedBytes, heldBytes);
        allocated = allocated > userBlocks * Overhead ? allocated - (userBlocks * Overhead) : 0;
        return info with
        {
            TotalFreeBytes = Less(info.TotalFreeBytes, Overhead),
            LargestFreeBlock = Less(info.LargestFreeBlock, Overhead),
            MinimumFreeBytes = Less(info.MinimumFreeBytes, Overhead),
            TotalAllocatedBytes = allocated,
            AllocatedBlocks = userBlocks,
            TotalBlocks = Math.Max(Less(info.TotalBlocks, heldBlocks), userBlocks + info.FreeBlocks),
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

    /// <summary>How many times integrity checks have waited for other threads' handovers before looking again at blocks that seemed damaged (a test hook).</summary>
    internal int HandoverWaits => Volatile.Read(ref _handoverWaits);

    public override bool CheckIntegrity(TextWriter? output) => CheckIntegrity(output, out _);

    public override bool CheckIntegrity(TextWriter? output, out bool structuresSound)
    {
        structuresSound = _inner.CheckIntegrity(output);
        var sound = structuresSound;

        // Quarantined blocks: still all 0xFE. Verified under the lock: a block still in the quarantine then cannot be
        // evicted and given back (by another thread's free) while it is read.
        var damagedInQuarantine = new List<(CorruptionInfo Damage, nuint InnerSize)>();
        using (_lock.EnterScope())
        {
            foreach (var (user, held) in _held)
            {
                if (held.Quarantined && VerifyQuarantined(user, held) is { } damaged)
                {
                    damagedInQuarantine.Add((damaged, held.InnerSize));
                }
            }
        }

        foreach (var (damaged, innerSize) in damagedInQuarantine)
        {
            sound = false;
            Print(output, damaged);
            SetAside(damaged, innerSize, ownerFreed: true, moveFromQuarantine: true);
        }

        // Live blocks: head and tail, each read while no other thread can free it. A block another thread is allocating
        // or resizing is live in the inner region a moment before its canaries are written (or, damaged free memory,
        // before it is set aside), and a block leaving the quarantine a moment before the inner region takes it back:
        // what looks damaged is looked at again once every allocation, realloc and free in progress has ended
        // (BlockHandover), and reported only if it stays so. Real damage stays.
        // Damage reported by an earlier check is confirmed already: only new findings wait, so that a program that goes on
        // after a report does not pay the wait in every periodic check.
        var suspects = InspectLiveBlocks(only: null);
        var confirmed = new List<CorruptionInfo>();
        using (_lock.EnterScope())
        {
            foreach (var (inner, damage) in suspects)
            {
                if (_reported.Contains((damage.Address, damage.Kind, damage.DamagedAddress)))
                {
                    confirmed.Add(damage);
                    suspects.Remove(inner);
                }
            }
        }

        // Looked at again at least once: a handover can end between the inspection and the look at the epochs. More
        // rounds while handovers were in progress: a suspect settled meanwhile may have been freed and its memory taken
        // by a new block in transit.
        for (var round = 0; round < MaxHandoverRounds && suspects.Count > 0; round++)
        {
            BlockHandover.WaitForHandoversInProgress(s_handoverTimeout, out var waited);
            if (waited)
            {
                Interlocked.Increment(ref _handoverWaits);
            }

            suspects = InspectLiveBlocks(only: suspects);
            if (!waited)
            {
                break; // Nothing was in transit after the first look: what still looks damaged is.
            }
        }

        foreach (var damage in confirmed.Concat(suspects.Values))
        {
            sound = false;
            Print(output, damage);
            Report(damage);
        }

        // Free memory of a TLSF region under comprehensive poisoning: all 0xFE but the allocator's links.
        if (_recent is not null)
        {
            // Verified during the walk, under the inner region's lock, so that no request takes the memory meanwhile.
            var found = new HashSet<nuint>();
            _tlsf!.WalkSoundBlocks((data, size, used) =>
            {
                if (!used && FreeDataRange(data, size, out var from, out var length))
                {
                    var bad = FindFillDamage((byte*)from, length, FreeFill);
                    if (bad >= 0)
                    {
                        var damaged = FreeMemoryDamage((byte*)from, length, bad, data, size, "\nThe damaged free memory is set aside when a request reaches it: it is never handed out.");
                        found.Add(damaged.DamagedAddress);
                        Print(output, damaged);
                        ReportFreeMemory(damaged);
                    }
                }

                return true;
            });

            sound &= found.Count == 0;

            using (_lock.EnterScope())
            {
                _reportedFree.IntersectWith(found); // Damage repaired since: a new one there is reported again.
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

    public override void Dispose()
    {
        if (!_inner.HeldBlocksStayLive)
        {
            // The process heap frees only the blocks it still counts as live: give back the ones held here.
            List<nuint> held;
            using (_lock.EnterScope())
            {
                held = [.. _held.Values.Select(static h => h.Inner)];
                _held.Clear();
            }

            foreach (var inner in held)
            {
                _inner.ReleaseHeld((void*)inner);
            }
        }

        _inner.Dispose();
    }

    /// <summary>What the heap's observer knows of a tagged block being freed, for a report that may come after its record is reused.</summary>
    private BlockWitness? Witness(uint tag, nuint user) => tag != 0 && _witness is not null ? _witness(tag, user) : null;

    /// <summary>Writes the head (canaries and size) and the tail canary of a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteHead(byte* inner, byte* user, uint size)
    {
        for (var word = inner; word < user - 8; word += 4)
        {
            *(uint*)word = HeadCanary; // The 16-byte head of 16-aligned layouts, the gap before an aligned block.
        }

        *(uint*)(user - 8) = HeadCanary;
        *(uint*)(user - 4) = size;
        Unsafe.WriteUnaligned(user + size, TailCanary);
    }

    private static nuint Less(nuint value, nuint overhead) =>
        value == nuint.MaxValue ? value : value > overhead ? value - overhead : 0;

    /// <summary>The most bytes a block at <paramref name="user"/> can hold in an inner block of <paramref name="usable"/> bytes.</summary>
    private static nuint Room(nuint user, nuint inner, nuint usable)
    {
        var overhead = user - inner + TailSize;
        return usable > overhead ? usable - overhead : 0;
    }

    /// <summary>The free data of a TLSF free block that must hold the fill: all of it but the two free-list links at its start and the next block's prev_phys at its end.</summary>
    private static bool FreeDataRange(nuint data, nuint size, out nuint from, out nuint length)
    {
        from = data + 8;
        length = size > 12 ? size - 12 : 0;
        return length > 0;
    }

    /// <summary>Checks a live block's head and tail; returns the damage, or null when intact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private CorruptionInfo? Inspect(byte* user, byte* inner, nuint usable, uint tag)
    {
        if (*(uint*)(user - 8) != HeadCanary || (user - inner > 8 && !ExtraHeadIntact(inner, user - 8)))
        {
            return HeadDamage(user, inner, usable, tag);
        }

        var size = *(uint*)(user - 4);
        if (size > Room((nuint)user, (nuint)inner, usable))
        {
            return SizeDamage(user, inner, usable, tag);
        }

        var tail = Unsafe.ReadUnaligned<uint>(user + size);
        return tail != TailCanary ? TailDamage(user, size, tag, tail) : null;
    }

    private static bool ExtraHeadIntact(byte* from, byte* to)
    {
        for (var word = from; word < to; word += 4)
        {
            if (*(uint*)word != HeadCanary)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A head canary changed: an underrun (or a stray write) reached the head.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CorruptionInfo HeadDamage(byte* user, byte* inner, nuint usable, uint tag)
    {
        // The first (lowest) damaged byte of the canaries, from the inner block's start to the size field.
        var canary = BitConverter.GetBytes(HeadCanary);
        var end = user - 4;
        var bad = inner;
        while (bad < end && *bad == canary[(bad - inner) & 3])
        {
            bad++;
        }

        var word = inner + ((bad - inner) & ~3);
        var length = (int)Math.Min(DumpWindow, end - bad);
        var expected = new byte[length];
        for (var i = 0; i < length; i++)
        {
            expected[i] = canary[(bad + i - inner) & 3];
        }

        var size = *(uint*)(user - 4);
        var room = Room((nuint)user, (nuint)inner, usable);
        return new CorruptionInfo
        {
            Kind = MemoryErrorKind.BufferUnderflow,
            Address = (nuint)user,
            Size = size <= room ? size : room,
            Tag = tag,
            DamagedAddress = (nuint)bad,
            Expected = expected,
            Found = new ReadOnlySpan<byte>(bad, length).ToArray(),
            Message = string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: Bad head at 0x{(nuint)word:x}. Expected 0x{HeadCanary:x8} got 0x{*(uint*)word:x8}"),
        };
    }

    /// <summary>The size in the head does not fit the block: ESP-IDF's "Size at" check.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CorruptionInfo SizeDamage(byte* user, byte* inner, nuint usable, uint tag)
    {
        var field = user - 4;
        var size = *(uint*)field;
        var room = Room((nuint)user, (nuint)inner, usable);
        var found = BitConverter.GetBytes(size);

        // What the size was: where the tail canary is, when it is in one place only.
        nuint original = 0;
        var places = 0;
        for (nuint at = 0; at <= room; at++)
        {
            if (Unsafe.ReadUnaligned<uint>(user + at) == TailCanary)
            {
                original = at;
                places++;
            }
        }

        var expected = places == 1 ? BitConverter.GetBytes((uint)original) : [];
        var first = CorruptionInfo.FirstDamagedByte(expected, found);

        return new CorruptionInfo
        {
            Kind = MemoryErrorKind.CorruptBlock,
            Address = (nuint)user,
            Size = places == 1 ? original : room,
            Tag = tag,
            DamagedAddress = (nuint)(field + first),
            Expected = expected.Length > 0 ? expected[first..] : [],
            Found = found[first..],
            SizeFieldAddress = (nuint)field,
            SizeFieldValue = size,
            Message = string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: Size at 0x{(nuint)field:x} expected <=0x{room:x8} got 0x{size:x8}")
                + (places == 1
                    ? string.Create(CultureInfo.InvariantCulture, $"\nThe tail canary sits {original} bytes into the block: the size was {original}; the bytes before the block were overwritten (an underrun?).")
                    : "\nThe bytes before the block were overwritten (an underrun?)."),
        };
    }

    /// <summary>The tail canary changed: an overrun.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CorruptionInfo TailDamage(byte* user, uint size, uint tag, uint tail)
    {
        var expected = BitConverter.GetBytes(TailCanary);
        var found = BitConverter.GetBytes(tail);
        var first = CorruptionInfo.FirstDamagedByte(expected, found);

        return new CorruptionInfo
        {
            Kind = MemoryErrorKind.BufferOverflow,
            Address = (nuint)user,
            Size = size,
            Tag = tag,
            DamagedAddress = (nuint)(user + size + first),
            Expected = expected[first..],
            Found = found[first..],
            Message = string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: Bad tail at 0x{(nuint)(user + size):x}. Expected 0x{TailCanary:x8} got 0x{tail:x8}"),
        };
    }

    /// <summary>The index of the first byte of a range that is not <paramref name="fill"/>, or -1. Searched in spans of at most 1 GiB: a block may pass 2 GiB.</summary>
    private static nint FindFillDamage(byte* from, nuint length, byte fill)
    {
        const int chunk = 1 << 30;
        for (nuint done = 0; done < length; done += chunk)
        {
            var found = new ReadOnlySpan<byte>(from + done, (int)Math.Min(chunk, length - done)).IndexOfAnyExcept(fill);
            if (found >= 0)
            {
                return (nint)done + found;
            }
        }

        return -1;
    }

    /// <summary>
    /// ESP-IDF's verify_fill_pattern message for the first bad byte of a range: words (<c>%08x</c>) while the range is
    /// 4-aligned, bytes (<c>%02x</c>) for its last bytes or an unaligned range. ESP-IDF prints the start of the trailing
    /// bytes and its first byte; this names the bad byte itself.
    /// </summary>
    private static string FillMessage(byte* from, nuint length, nint bad, byte fill)
    {
        var words = ((nuint)from & 3) == 0 ? length & ~(nuint)3 : 0;
        if ((nuint)bad < words)
        {
            var word = from + (bad & ~3);
            var expected = fill * 0x01010101u;
            return string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: Invalid data at 0x{(nuint)word:x}. Expected 0x{expected:x8} got 0x{*(uint*)word:x8}");
        }

        return string.Create(CultureInfo.InvariantCulture, $"CORRUPT HEAP: Invalid data at 0x{(nuint)(from + bad):x}. Expected 0x{fill:x2} got 0x{from[bad]:x2}");
    }

    /// <summary>The hex dump of a fill pattern's damage: a window from the first bad byte.</summary>
    private static (nuint At, byte[] Expected, byte[] Found) FillDump(byte* from, nuint length, nint bad, byte fill)
    {
        var found = new ReadOnlySpan<byte>(from + bad, (int)Math.Min(DumpWindow, length - (nuint)bad)).ToArray();
        var expected = new byte[found.Length];
        Array.Fill(expected, fill);
        return ((nuint)(from + bad), expected, found);
    }

    /// <summary>A quarantined block's data no longer holds the free fill: a write after free. Null when intact.</summary>
    private static CorruptionInfo? VerifyQuarantined(nuint user, Held held)
    {
        var bad = FindFillDamage((byte*)held.Inner, held.InnerSize, FreeFill);
        if (bad < 0)
        {
            return null;
        }

        var (at, expected, found) = FillDump((byte*)held.Inner, held.InnerSize, bad, FreeFill);
        return new CorruptionInfo
        {
            Kind = MemoryErrorKind.WriteAfterFree,
            Address = user,
            Size = held.Size,
            Tag = held.Tag,
            DamagedAddress = at,
            Expected = expected,
            Found = found,
            WasFreed = true,
            Witness = held.Witness,
            Message = FillMessage((byte*)held.Inner, held.InnerSize, bad, FreeFill),
        };
    }

    /// <summary>
    /// Free memory (from <paramref name="freeStart"/>, <paramref name="freeSize"/> bytes) whose fill changed at
    /// <paramref name="from"/> + <paramref name="bad"/>: a write after free, named after the block freed there last
    /// when the region still remembers it.
    /// </summary>
    private CorruptionInfo FreeMemoryDamage(byte* from, nuint length, nint bad, nuint freeStart, nuint freeSize, string what)
    {
        var (at, expected, found) = FillDump(from, length, bad, FreeFill);
        var known = FindRecentFree(at, out var last);
        return new CorruptionInfo
        {
            Kind = MemoryErrorKind.WriteAfterFree,
            Address = known ? last.User : at,
            Size = known ? last.Size : 0,
            Tag = known ? last.Tag : 0,
            KnowsBlock = known,
            Witness = known ? last.Witness : null,
            DamagedAddress = at,
            Expected = expected,
            Found = found,
            WasFreed = true,
            FreeMemoryAddress = freeStart,
            FreeMemorySize = freeSize,
            Message = FillMessage(from, length, bad, FreeFill)
                + (known && at >= last.User + last.Size + TailSize
                    ? "\nThe damaged byte lies past that block's tail canary, in the slack the block left unused: an overrun that skipped the canary while the block was live, or a write after its free."
                    : string.Empty)
                + what,
        };
    }

    /// <summary>
    /// Comprehensive over TLSF: memory about to be handed out must still hold the free fill. When it does not, the
    /// damage is reported and the inner block is kept for good (true: the caller takes another).
    /// </summary>
    private bool SetAsideIfDamaged(byte* inner)
    {
        var usable = _tlsf!.Heap.UsableSizeOfOwned(inner);
        if (!FreeDataRange((nuint)inner, usable, out var from, out var length))
        {
            return false;
        }

        var bad = FindFillDamage((byte*)from, length, FreeFill);
        if (bad < 0)
        {
            return false;
        }

        var damage = FreeMemoryDamage((byte*)from, length, bad, (nuint)inner, usable, "\nThe damaged free memory is set aside: it is never handed out.");
        _inner.SetTag(inner, 0);
        using (_lock.EnterScope())
        {
            _held[(nuint)inner + _head] = new Held((nuint)inner, usable, 0, 0, Quarantined: false, OwnerFreed: true, Witness: null);
            _heldInnerBytes += usable;
            _slowPath = 1;
        }

        ReportFreeMemory(damage);
        return true;
    }

    /// <summary>Fills the free memory of a fresh TLSF region with the free pattern.</summary>
    private void FillFreeMemory()
    {
        _tlsf!.WalkSoundBlocks((data, size, used) =>
        {
            if (!used && FreeDataRange(data, size, out var from, out var length))
            {
                NativeMemory.Fill((void*)from, length, FreeFill);
            }

            return true;
        });
    }

    /// <summary>Remembers a block given back to free memory (the caller serialises writers).</summary>
    private void RememberFree(nuint inner, nuint innerSize, nuint user, nuint size, uint tag, BlockWitness? witness)
    {
        var index = _recentNext;
        _recentNext = (index + 1) % RecentFreeCount;
        ref var slot = ref _recent![index];
        var version = slot.Version;
        Volatile.Write(ref slot.Version, version + 1);
        slot.Entry = new RecentFreeEntry(inner, inner + innerSize, user, size, tag, witness);
        Volatile.Write(ref slot.Version, version + 2);
    }

    /// <summary>The newest remembered free whose inner block held <paramref name="address"/>.</summary>
    private bool FindRecentFree(nuint address, out RecentFreeEntry entry)
    {
        entry = default;
        if (_recent is null)
        {
            return false;
        }

        var newest = Volatile.Read(ref _recentNext);
        for (var k = 1; k <= RecentFreeCount; k++)
        {
            ref var slot = ref _recent[(newest - k + RecentFreeCount) % RecentFreeCount];
            for (var attempt = 0; attempt < 8; attempt++)
            {
                var before = Volatile.Read(ref slot.Version);
                if ((before & 1) != 0)
                {
                    Thread.SpinWait(16);
                    continue;
                }

                var copy = slot.Entry;
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref slot.Version) != before)
                {
                    continue;
                }

                if (copy.End != 0 && address >= copy.Start && address < copy.End)
                {
                    entry = copy;
                    return true;
                }

                break;
            }
        }

        return false;
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

            Queue(damage);
        }
    }

    /// <summary>Reports damaged free memory once: an integrity check finds it again, and so does the request that reaches it.</summary>
    private void ReportFreeMemory(CorruptionInfo damage)
    {
        using (_lock.EnterScope())
        {
            if (_reportedFree.Add(damage.DamagedAddress))
            {
                Queue(damage);
            }
        }
    }

    /// <summary>Queues a corruption for the heap; the caller holds the lock.</summary>
    private void Queue(CorruptionInfo damage)
    {
        _pending.Add(damage);
        _hasPending = true;
        _signal.Raise();
        _reportedCount = _reported.Count;
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

    /// <summary>Reports a damaged block being freed (or quarantined) and keeps it allocated in the inner region for good.</summary>
    private void SetAside(CorruptionInfo damage, nuint innerSize, bool ownerFreed, bool moveFromQuarantine = false)
    {
        Report(damage);
        using (_lock.EnterScope())
        {
            if (_held.TryGetValue(damage.Address, out var held))
            {
                if (moveFromQuarantine && held.Quarantined)
                {
                    _quarantinedBytes -= held.Size;
                    _quarantinedBlocks--;
                    _held[damage.Address] = held with { Quarantined = false };
                }

                return;
            }

            var inner = _alignedUserToInner.TryGetValue(damage.Address, out var aligned) ? aligned : damage.Address - _head;
            _held[damage.Address] = new Held(inner, innerSize, damage.Size, damage.Tag, Quarantined: false, ownerFreed, Witness: null);
            _heldInnerBytes += innerSize;
            _slowPath = 1;
        }
    }

    /// <summary>
    /// A live block found damaged by a realloc: reported, claimed from the inner region without freeing it (so that
    /// the process heap too stops counting it) and set aside for good. Its owner may still free it once.
    /// </summary>
    /// <returns>
    /// Corrupt; or the inner region's answer when it could not claim the block (another thread freed it after the canaries
    /// were read: what looked like damage was the freed block's memory, and nothing is reported or held).
    /// </returns>
    private BlockState SetAsideLive(CorruptionInfo damage, nuint inner, nuint innerSize)
    {
        var claimed = _inner.Free((void*)inner, clearIfTagged: false, out _, s_hold);
        if (claimed != BlockState.Live)
        {
            return claimed;
        }

        SetAside(damage, innerSize, ownerFreed: false);
        return BlockState.Corrupt;
    }

    /// <summary>Verifies blocks leaving the quarantine; gives the intact ones back to the inner region.</summary>
    private void ReleaseEvicted(List<(nuint User, Held Held)> evicted)
    {
        foreach (var (user, held) in evicted)
        {
            if (VerifyQuarantined(user, held) is { } damage)
            {
                Report(damage);
                using (_lock.EnterScope())
                {
                    _held[user] = held with { Quarantined = false };
                    _evicting.Remove(held.Inner);
                }

                continue;
            }

            using (_lock.EnterScope())
            {
                ForgetAlignedLocked(user, held.Inner); // Before the inner region can hand the block out again.
                _evicting.Remove(held.Inner);
                _heldInnerBytes -= held.InnerSize;
            }

            _inner.ReleaseHeld((void*)held.Inner);
            if (_recent is not null)
            {
                using (_lock.EnterScope())
                {
                    RememberFree(held.Inner, held.InnerSize, user, held.Size, held.Tag, held.Witness);
                }
            }
        }

        evicted.Clear();
    }

    /// <summary>
    /// Slow path of a lookup: held blocks are Freed (quarantined, or set aside and given up by their owner); a block a
    /// realloc set aside is Corrupt to a realloc, and to the first free, which gives it up; aligned blocks sit further
    /// into their inner block.
    /// </summary>
    private bool FindInner(nuint user, Access access, out nuint inner, out BlockState state)
    {
        using (_lock.EnterScope())
        {
            if (_held.TryGetValue(user, out var held))
            {
                inner = 0;
                state = BlockState.Freed;
                if (!held.OwnerFreed && access != Access.Query)
                {
                    state = BlockState.Corrupt;
                    if (access == Access.Free)
                    {
                        _held[user] = held with { OwnerFreed = true };
                    }
                }

                return false;
            }

            inner = _alignedUserToInner.TryGetValue(user, out var aligned) ? aligned : user - _head;
            if (aligned == 0 && _alignedInnerToUser.ContainsKey(inner))
            {
                // One head into an aligned block whose user bytes lie further on (the gap before its head): no block.
                state = BlockState.NotABlock;
                return false;
            }

            if (_evicting.Contains(inner))
            {
                state = BlockState.Freed; // Leaving the quarantine: freed by its owner.
                return false;
            }

            state = BlockState.Live;
            if (aligned != 0 || !_freedAligned.ContainsKey(user))
            {
                return true;
            }
        }

        // A freed aligned block's user pointer, unless a plain block now starts one head before it: asked of the inner
        // region outside this region's lock (the inner region's lock comes first).
        if (_inner.Query((void*)inner, out _) == BlockState.Live)
        {
            return true;
        }

        state = BlockState.Freed;
        return false;
    }

    /// <summary>Whether the block at <paramref name="user"/> is held (quarantined or set aside).</summary>
    private bool IsHeld(nuint user)
    {
        using (_lock.EnterScope())
        {
            return _held.ContainsKey(user);
        }
    }

    /// <summary>The user pointer of an inner block; the caller holds the lock.</summary>
    private nuint FindUser(nuint inner) => _alignedInnerToUser.TryGetValue(inner, out var user) ? user : inner + _head;

    private void ForgetAligned(nuint user, nuint inner)
    {
        using (_lock.EnterScope())
        {
            ForgetAlignedLocked(user, inner);
        }
    }

    /// <summary>Drops the address mapping of an aligned block its owner has freed, and remembers its user pointer as freed; the caller holds the lock.</summary>
    private void ForgetAlignedLocked(nuint user, nuint inner)
    {
        if (_alignedUserToInner.Remove(user))
        {
            _alignedInnerToUser.Remove(inner);
            var free = ++_alignedFrees;
            _freedAligned[user] = free;
            _freedAlignedOrder.Enqueue((user, free));
            if (_freedAlignedOrder.Count > FreedAlignedCount)
            {
                var (oldest, itsFree) = _freedAlignedOrder.Dequeue();
                if (_freedAligned.TryGetValue(oldest, out var latest) && latest == itsFree)
                {
                    _freedAligned.Remove(oldest);
                }
            }
        }
    }

    /// <summary>
    /// The user pointer of a live inner block that is the user's; false for one that is held or leaving the quarantine.
    /// Called while the inner region keeps the block from being freed (its lock, then this one: the usual order).
    /// </summary>
    private bool TryFindUserBlock(nuint inner, out nuint user)
    {
        using (_lock.EnterScope())
        {
            user = FindUser(inner);
            return !_evicting.Contains(inner) && !_held.ContainsKey(user);
        }
    }

    /// <summary>
    /// The damage of the inner region's live blocks that are the user's (not held), by inner block; only those in
    /// <paramref name="only"/> when given. Each is inspected while the inner region keeps it from being freed.
    /// </summary>
    private Dictionary<nuint, CorruptionInfo> InspectLiveBlocks(Dictionary<nuint, CorruptionInfo>? only)
    {
        var found = new Dictionary<nuint, CorruptionInfo>();
        _inner.InspectLiveBlocks((inner, usable, tag) =>
        {
            if ((only is not null && !only.ContainsKey(inner)) || !TryFindUserBlock(inner, out var user))
            {
                return;
            }

            if (Inspect((byte*)user, (byte*)inner, usable, tag) is { } damage)
            {
                found[inner] = damage;
            }
        });
        return found;
    }

    /// <summary>The live blocks that are the user's (not held): user pointer, requested size (as far as the block can hold it) and tag, each read while the inner region keeps it from being freed.</summary>
    private List<(nuint User, nuint Size, uint Tag)> LiveUserBlocks()
    {
        var blocks = new List<(nuint User, nuint Size, uint Tag)>();
        _inner.InspectLiveBlocks((inner, usable, tag) =>
        {
            if (!TryFindUserBlock(inner, out var user))
            {
                return;
            }

            var size = *(uint*)(user - 4);
            var room = Room(user, inner, usable);
            blocks.Add((user, size <= room ? size : room, tag));
        });
        return blocks;
    }

    /// <summary>Writes ESP-IDF's line for a damage (the first line of its message).</summary>
    private static void Print(TextWriter? output, CorruptionInfo damage)
    {
        if (output is not null)
        {
            var message = damage.Message;
            var end = message.IndexOf('\n', StringComparison.Ordinal);
            output.WriteLine(end < 0 ? message : message[..end]);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FreeContext NewContext() => t_context = new FreeContext();

    /// <summary>What a lookup is for: a held block answers differently to each.</summary>
    private enum Access
    {
        Query,
        Realloc,
        Free,
    }

    /// <summary>
    /// A block kept allocated in the inner region: in quarantine, or set aside because it is damaged (or is damaged
    /// free memory). <paramref name="OwnerFreed"/> is false for a block a realloc set aside, until its owner frees it.
    /// </summary>
    private readonly record struct Held(nuint Inner, nuint InnerSize, nuint Size, uint Tag, bool Quarantined, bool OwnerFreed, BlockWitness? Witness);

    /// <summary>A block given back to free memory: its inner block's range, its user address and size, and what the tracker knew of it.</summary>
    private readonly record struct RecentFreeEntry(nuint Start, nuint End, nuint User, nuint Size, uint Tag, BlockWitness? Witness);

    /// <summary>One slot of the ring of recent frees: an entry under a sequence number (odd while written).</summary>
    private struct RecentFree
    {
        public int Version;
        public RecentFreeEntry Entry;
    }

    /// <summary>One thread's free in progress on the slow path: what the inspection needs and what it found.</summary>
    private sealed class FreeContext : IBlockInspector
    {
        public PoisoningRegion? Region;
        public nuint User;
        public bool Clear;
        public bool Held;

        /// <summary>The block was held (quarantined) by another thread's free between this free's look-up and its inspection.</summary>
        public bool AlreadyHeld;
        public readonly List<(nuint User, Held Held)> Evicted = [];

        /// <summary>
        /// Runs while the inner region owns the block (under its lock, or with the block claimed), so that what it decides
        /// cannot race another free of the same block: a block held meanwhile is left alone (a double free), and an aligned
        /// block's address mapping is dropped before the inner region can hand the block out again (dropped after, it
        /// could remove the mapping of the next aligned block at that address).
        /// </summary>
        public bool Approve(byte* block, ref nuint size, uint tag)
        {
            var region = Region!;
            if (region.IsHeld(User))
            {
                AlreadyHeld = true;
                return false;
            }

            var approved = region.Approve((byte*)User, block, ref size, tag, Clear, this);
            if (approved && (nuint)block + region._head != User)
            {
                region.ForgetAligned(User, (nuint)block);
            }

            return approved;
        }
    }

    /// <summary>The fast path's inspector: the user pointer is the inner block plus the head.</summary>
    private sealed class HeadInspector(PoisoningRegion region, bool clear) : IBlockInspector
    {
        public bool Approve(byte* block, ref nuint size, uint tag) => region.Approve(block + region._head, block, ref size, tag, clear, context: null);
    }

    /// <summary>Claims a block from the inner region and keeps it allocated (a block set aside by a realloc).</summary>
    private sealed class HoldingInspector : IBlockInspector
    {
        public bool Approve(byte* block, ref nuint size, uint tag) => false;
    }
}

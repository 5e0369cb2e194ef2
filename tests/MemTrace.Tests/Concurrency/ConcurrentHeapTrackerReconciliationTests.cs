// Multi-threaded reconciliation stress of one HeapCaps with one MemoryTracker attached: 4 threads make random
// operations on the shared heap, and the heap and the tracker must agree with what the threads hold, while they run,
// at quiescent points in the middle of the run, and at the end.
//
// Each thread holds blocks in slots and makes, at random (seeded: the seed is in every assertion message):
//   - tracked allocations (tracker.Malloc, the out-variable Malloc, Calloc, AlignedAlloc, Realloc(null)), reallocs
//     (tracker.Realloc, the ref form) and frees (tracker.Free(ref p), tracker.Realloc(p, 0));
//   - direct heap calls (Malloc, Calloc, AlignedAlloc, MallocPrefer, CallocPrefer, MallocDefault, Realloc,
//     ReallocPrefer, ReallocDefault, Free, Realloc(p, 0)), which the attached tracker records with no call site;
//   - hand-overs: a block goes into a shared exchange queue and another thread takes it, checks it, and frees or
//     reallocates it;
//   - checkpoints (numbered, one at a time) and, concurrently with the others, checks of "allocated since": a block
//     this thread holds whose allocation started after checkpoint k returned is in GetAllocationsSince(k); one whose
//     allocation returned before checkpoint k started is not;
//   - concurrent queries: GetFreeSize, GetLargestFreeBlock, GetInfo, CheckIntegrityAll (must pass), WalkAll (every
//     block this thread holds lies inside a used block of the walk), GetAllocations (every block this thread holds is
//     recorded, with its size), GetThreadStatistics (nothing negative; this thread's own row covers the blocks it
//     allocated and still holds);
//   - thread 0 adds a region at run time twice.
// Every block is filled with a byte of its own and checked before each free and realloc (the realloc keeps the
// smaller of the two sizes) and at every reconciliation.
//
// Three times during the run all threads meet at a barrier and, with every thread stopped, and once more after they
// have ended, the state is reconciled exactly: the tracker's live records (GetAllocations, LiveBlocks, LiveBytes) are
// the blocks the threads and the exchange hold (address, size, caps as recorded, method, whether the allocation's and
// the last realloc's call sites are known); Difference since the previous barrier counts the allocations, frees and
// failures the threads made; GetAllocationsSince and GetLeakReport since the previous barrier are the blocks
// allocated since; the per-thread statistics (KeepEndedThreadStatistics) charge each block to the thread that
// allocated or last reallocated it, per region, and sum to LiveBytes; WalkAll shows each held block inside exactly
// one used block, and the other used blocks are the runtime regions' descriptors (and, with a quarantine, at most
// MaxBlocks per region more); each TLSF region's free size plus its used blocks (and their headers) is what it had
// at the start; CheckIntegrityAll passes; no memory error was reported but the double free provoked at the first
// barrier. At the end everything is freed, the quarantines drained: nothing is recorded, every thread's statistics
// are 0, the walk shows only the descriptors and every region's free size is back to its start (less the descriptors).
//
// Concurrent listings are no atomic snapshots: a free gives its block back to the region before it releases the record,
// so for a moment the freed block's record is listed beside the record of a block another thread was given at the same
// address. The checks made while the threads run allow for that (see CheckSince); the reconciliations allow nothing.
//
// Layouts: HeapCapsModel.SmallRegions (small regions that fill up), HeapLayout.Esp32(psramMiB: 4) and
// HeapLayout.Host(); poisoning None, Light and Comprehensive; without and with a quarantine (2 KiB, 16 blocks).
// Reproduce a failure with MEMTRACE_RECONCILE_SEED=<seed printed>. A longer soak: MEMTRACE_RECONCILE_SEEDS=<runs per
// case> and MEMTRACE_RECONCILE_OPS=<operations per thread>.
using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using MemTrace.Internals;
using MemTrace.Tlsf;
using Xunit;
using static MemTrace.Tests.HeapCapsModel;

namespace MemTrace.Tests.Concurrency;

public unsafe class ConcurrentHeapTrackerReconciliationTests
{
    private const int Threads = 4;
    private const int Slots = 24;
    private const int DefaultOpsPerThread = 1200;
    private const int RuntimeRegionSize = 8 * 1024;
    private const int RuntimeRegionsPerRun = 2;
    private const nuint QuarantineBytes = 2048;
    private const int QuarantineBlocks = 16;
    private const int MaxCheckpoints = 4096;

    private static readonly MallocCaps[] s_runtimeCaps = [MallocCaps.Default | MallocCaps.Bit8 | MallocCaps.Internal, MallocCaps.Bit32, MallocCaps.None];

    private static readonly MallocCaps[][] s_preferLists =
    [
        [MallocCaps.Spiram, MallocCaps.Default],
        [MallocCaps.Dma | MallocCaps.Internal, MallocCaps.Default],
        [MallocCaps.Exec, MallocCaps.Bit32],
        [MallocCaps.Internal | MallocCaps.Bit8, MallocCaps.Spiram],
        [MallocCaps.Exec | MallocCaps.Bit8, MallocCaps.Default],
    ];

    private static readonly MallocCaps[] s_defaultCaps = [MallocCaps.Default | MallocCaps.Internal, MallocCaps.Default | MallocCaps.Spiram, MallocCaps.Default];

    [Theory]
    [MemberData(nameof(HeapCapsModel.LayoutPoisoningQuarantineCases), MemberType = typeof(HeapCapsModel))]
    public void Four_threads_leave_the_heap_and_the_tracker_agreeing_with_what_they_hold(string layout, PoisoningLevel level, bool quarantine)
    {
        var runs = EnvInt("MEMTRACE_RECONCILE_SEEDS", 1);
        var ops = EnvInt("MEMTRACE_RECONCILE_OPS", DefaultOpsPerThread);
        var fixedSeed = Environment.GetEnvironmentVariable("MEMTRACE_RECONCILE_SEED");
        var caseSeed = StableHash($"{layout}/{level}/{quarantine}");
        for (var run = 0; run < runs; run++)
        {
            var seed = fixedSeed is not null ? int.Parse(fixedSeed, CultureInfo.InvariantCulture) : caseSeed + (run * 7919);
            new Run(layout, level, quarantine, seed, ops).Execute();
        }
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;

    private static int StableHash(string text)
    {
        var hash = 17;
        foreach (var c in text)
        {
            hash = unchecked((hash * 31) + c);
        }

        return hash & 0x7fffffff;
    }

    private static HeapLayout MakeLayout(string name) => name switch
    {
        "small" => SmallRegions(),
        "host" => HeapLayout.Host(),
        _ => HeapLayout.Esp32(psramMiB: 4),
    };

    private enum ReallocSite : byte
    {
        None,
        Known,
        Unknown,
    }

    /// <summary>A block a thread (or the exchange) holds, and what the tracker must say of it.</summary>
    private sealed class Block
    {
        public nint Pointer;
        public nuint Size;
        public byte Fill;

        /// <summary>The caps the record may give: exactly the caps asked, or for the _prefer and _default calls the sets they may have served with.</summary>
        public MallocCaps[] Caps = [];
        public AllocationMethod Method;
        public bool Known;
        public ReallocSite Reallocated;

        /// <summary>The thread charged in the per-thread statistics: the one that allocated it or last reallocated it.</summary>
        public int Owner;

        /// <summary>Checkpoints completed when the allocation started: it is since each of them.</summary>
        public int CompletedBefore;

        /// <summary>Checkpoints started when the allocation returned: it is before each later one.</summary>
        public int StartedBeforeEnd;

        public override string ToString() =>
            $"0x{Pointer:x} {Size} bytes fill {Fill:x2} {Method} known {Known} realloc {Reallocated} caps [{string.Join(", ", Caps.Select(static c => c.ToCapsString()))}] owner {Owner} cp [{CompletedBefore}, {StartedBeforeEnd}]";
    }

    private sealed class Worker(int index, int seed)
    {
        public readonly int Index = index;
        public readonly Random Random = new(seed);
        public readonly Block?[] Held = new Block?[Slots];
        public int ThreadId;
        public long Allocations;
        public long Frees;
        public long Failures;
        public long TotalFailures;
        public int Operations;

        /// <summary>Blocks taken from the exchange, and frees and reallocs of blocks another thread allocated or last reallocated.</summary>
        public long Taken, ForeignFrees, ForeignReallocs;
    }

    private sealed class Run
    {
        private readonly string _layoutName;
        private readonly PoisoningLevel _level;
        private readonly bool _quarantine;
        private readonly int _seed;
        private readonly int _ops;
        private readonly HeapLayout _layout;
        private readonly HeapCaps _heap;
        private readonly MemoryTracker _tracker;
        private readonly Worker[] _workers;
        private readonly ConcurrentQueue<Block> _exchange = new();
        private readonly ConcurrentQueue<string> _failures = new();
        private readonly ConcurrentQueue<MemoryError> _errors = new();
        private readonly MemoryCheckpoint[] _checkpoints = new MemoryCheckpoint[MaxCheckpoints];
        private readonly Lock _checkpointLock = new();
        private readonly List<(nint Start, MallocCaps[] Caps)> _runtimeRegions = [];
        private readonly List<nint> _runtimeMemory = [];
        private readonly Lock _regionLock = new();
        private readonly nuint[] _initialFree;
        private readonly int _layoutRegions;
        private readonly Barrier _barrier;
        private int _checkpointsStarted;
        private int _checkpointsCompleted;
        private volatile bool _stop;
        private int _expectedErrors;
        private nint _provokedAddress;
        private MemoryCheckpoint _previous = null!;
        private long _previousBlocks;
        private long _previousBytes;
        private nuint _runtimeInitialFree;
        private int _barriers;
        private int _transientListings;

        public Run(string layoutName, PoisoningLevel level, bool quarantine, int seed, int ops)
        {
            _layoutName = layoutName;
            _level = level;
            _quarantine = quarantine;
            _seed = seed;
            _ops = ops;
            _layout = MakeLayout(layoutName);
            _heap = new HeapCaps(_layout, new HeapCapsOptions
            {
                ErrorOutput = null,
                Poisoning = level,
                Quarantine = quarantine ? new QuarantineOptions { MaxBytes = QuarantineBytes, MaxBlocks = QuarantineBlocks } : null,
            });
            _heap.MemoryErrorDetected += (_, e) => _errors.Enqueue(e.Error);
            _tracker = new MemoryTracker(_heap, new MemoryTrackerOptions { Output = null, ThreadStatistics = true, KeepEndedThreadStatistics = true, CheckIntegrityOnDispose = false });
            _layoutRegions = _heap.DescribeNumberedRegions().Length;
            _initialFree = new nuint[_layoutRegions];
            for (var r = 0; r < _layoutRegions; r++)
            {
                _initialFree[r] = _heap.FreeBytesOfRegion(r);
            }

            _workers = new Worker[Threads];
            for (var t = 0; t < Threads; t++)
            {
                _workers[t] = new Worker(t, HashCode.Combine(seed, t));
            }

            _barrier = new Barrier(Threads, _ => AtBarrier());
        }

        private string Context => $"seed {_seed} ({_layoutName}, {_level}, quarantine {_quarantine}, {_ops} ops per thread; MEMTRACE_RECONCILE_SEED={_seed})";

        public void Execute()
        {
            try
            {
                _previous = TakeCheckpoint();
                var threads = _workers.Select(w => new Thread(() => Work(w)) { Name = $"reconcile-{w.Index}" }).ToArray();
                foreach (var thread in threads)
                {
                    thread.Start();
                }

                foreach (var thread in threads)
                {
                    if (!thread.Join(TimeSpan.FromSeconds(120)))
                    {
                        _stop = true;
                        Assert.Fail($"a worker did not finish: {Context}");
                    }
                }

                if (!_failures.IsEmpty)
                {
                    Assert.Fail($"{Context}:\n{string.Join("\n", _failures.Take(10))}");
                }

                Reconcile("after the threads ended");
                FailIfAny();

                // The run did what it is meant to: three barriers, blocks handed over and freed or reallocated by another
                // thread, checkpoints taken while the threads ran, regions added.
                Assert.True(_barriers == 3, $"{_barriers} barriers: {Context}");
                Assert.True(_workers.Sum(static w => w.Taken) > 0 && _workers.Sum(static w => w.ForeignFrees) > 0 && _workers.Sum(static w => w.ForeignReallocs) > 0, $"no cross-thread free or realloc: {Context}");
                Assert.True(_checkpointsCompleted > 10, $"{_checkpointsCompleted} checkpoints: {Context}");
                Assert.True(_runtimeRegions.Count > 0 || _layoutName == "small", $"no region added: {Context}");
                if (Environment.GetEnvironmentVariable("MEMTRACE_RECONCILE_VERBOSE") is not null)
                {
                    Console.Error.WriteLine($"{Context}: {_checkpointsCompleted} checkpoints, {_runtimeRegions.Count} regions added, {_workers.Sum(static w => w.Taken)} hand-overs, {_workers.Sum(static w => w.ForeignFrees)} foreign frees, {_workers.Sum(static w => w.ForeignReallocs)} foreign reallocs, {_workers.Sum(static w => w.TotalFailures)} failures, {_transientListings} transient listings looked at again");
                }
                Assert.Equal(_workers.Sum(static w => w.TotalFailures), _tracker.FailedAllocationCount);
                FreeEverythingAndCheck();
                FailIfAny();
            }
            finally
            {
                _stop = true;
                _tracker.Dispose();
                _heap.Dispose();
                foreach (var memory in _runtimeMemory)
                {
                    NativeMemory.AlignedFree((void*)memory);
                }

                _barrier.Dispose();
            }
        }

        private void FailIfAny()
        {
            if (!_failures.IsEmpty)
            {
                Assert.Fail($"{Context}:\n{string.Join("\n", _failures.Take(10))}");
            }
        }

        private void Fail(string what)
        {
            _failures.Enqueue($"{what} [{Context}]");
            _stop = true;
        }

        private void Require(bool condition, string what)
        {
            if (!condition)
            {
                Fail(what);
            }
        }

        // ---------------------------------------------------------------- the workers

        private void Work(Worker w)
        {
            w.ThreadId = Environment.CurrentManagedThreadId;
            var barrierAt = new[] { _ops / 4, _ops / 2, 3 * _ops / 4 };
            var regionAt = new[] { _ops / 3, (2 * _ops / 3) + 1 };
            try
            {
                for (var i = 0; i < _ops && !_stop; i++)
                {
                    w.Operations = i;
                    if (Array.IndexOf(barrierAt, i) >= 0)
                    {
                        if (!_barrier.SignalAndWait(TimeSpan.FromSeconds(60)))
                        {
                            Fail($"thread {w.Index}: barrier timed out at op {i}");
                            return;
                        }

                        continue;
                    }

                    if (w.Index == 0 && Array.IndexOf(regionAt, i) >= 0)
                    {
                        AddRegion();
                        continue;
                    }

                    Step(w);
                }
            }
            catch (Exception e)
            {
                Fail($"thread {w.Index} at op {w.Operations}: {e}");
            }
            finally
            {
                if (_stop)
                {
                    // Let the others pass the barriers this thread will not reach.
                    try
                    {
                        _barrier.RemoveParticipant();
                    }
                    catch (InvalidOperationException)
                    {
                    }
                }
            }
        }

        private void AddRegion()
        {
            var memory = (byte*)NativeMemory.AlignedAlloc(RuntimeRegionSize, 64);
            lock (_regionLock)
            {
                _runtimeMemory.Add((nint)memory);
            }

            var result = _heap.AddRegionWithCaps(s_runtimeCaps, memory, memory + RuntimeRegionSize);
            if (result == HeapCapsResult.Ok)
            {
                lock (_regionLock)
                {
                    _runtimeRegions.Add(((nint)memory, s_runtimeCaps));
                }
            }
            else
            {
                // No internal memory for the descriptor is the only acceptable failure (the small layout fills up).
                Require(result == HeapCapsResult.NoMemory, $"AddRegionWithCaps: {result}");
            }
        }

        private void Step(Worker w)
        {
            var r = w.Random.Next(100);
            if (r < 4)
            {
                Query(w);
                return;
            }

            if (r < 6)
            {
                TakeCheckpoint();
                return;
            }

            if (r < 9)
            {
                CheckSince(w);
                return;
            }

            var slot = w.Random.Next(Slots);
            if (r < 14)
            {
                if (w.Held[slot] is { } give)
                {
                    CheckContents(give, "before a hand-over");
                    _exchange.Enqueue(give);
                    w.Held[slot] = null;
                }
                else if (_exchange.TryDequeue(out var taken))
                {
                    CheckContents(taken, "after a hand-over");
                    w.Held[slot] = taken;
                    w.Taken++;
                }

                return;
            }

            if (w.Held[slot] is { } block)
            {
                CheckContents(block, "before a free or realloc");
                if (w.Random.Next(2) == 0)
                {
                    Free(w, slot, block);
                }
                else
                {
                    Realloc(w, slot, block);
                }
            }
            else
            {
                Allocate(w, slot);
            }
        }

        private nuint NextSize(Worker w)
        {
            var p = w.Random.Next(100);
            if (_layoutName == "small")
            {
                return (nuint)(p < 60 ? w.Random.Next(1, 65) : p < 90 ? w.Random.Next(65, 1025) : p < 99 ? w.Random.Next(1025, 6001) : w.Random.Next(6001, 40001));
            }

            return (nuint)(p < 52 ? w.Random.Next(1, 65) : p < 82 ? w.Random.Next(65, 1025) : p < 95 ? w.Random.Next(1025, 16385) : w.Random.Next(16385, 131073));
        }

        private MallocCaps NextCaps(Worker w) => Caps[w.Random.Next(Caps.Length)];

        private void Allocate(Worker w, int slot)
        {
            var size = NextSize(w);
            var caps = NextCaps(w);
            var kind = w.Random.Next(11);
            var alignment = (nuint)1 << w.Random.Next(2, 10);
            var n = (nuint)(1 + w.Random.Next(3));
            var element = Math.Max(1, size / n);
            var prefer = s_preferLists[w.Random.Next(s_preferLists.Length)];
            var requested = kind is 1 or 7 or 10 ? n * element : size;
            var completed = Volatile.Read(ref _checkpointsCompleted);
            byte* p;
            AllocationMethod method;
            bool known;
            MallocCaps[] recorded = [caps];
            switch (kind)
            {
                case 0:
                    p = (byte*)_tracker.Malloc(size, caps);
                    (method, known) = (AllocationMethod.Malloc, true);
                    break;
                case 1:
                    p = (byte*)_tracker.Calloc(n, element, caps);
                    (method, known) = (AllocationMethod.Calloc, true);
                    break;
                case 2:
                    p = (byte*)_tracker.AlignedAlloc(alignment, size, caps);
                    (method, known) = (AllocationMethod.AlignedAlloc, true);
                    break;
                case 3:
                    p = (byte*)_tracker.Realloc(null, size, caps);
                    (method, known) = (AllocationMethod.Realloc, true);
                    break;
                case 4:
                    _tracker.Malloc(out byte* variable, size, caps);
                    p = variable;
                    (method, known) = (AllocationMethod.Malloc, true);
                    break;
                case 5:
                    p = (byte*)_heap.Malloc(size, caps);
                    (method, known) = (AllocationMethod.Malloc, false);
                    break;
                case 6:
                    p = (byte*)_heap.MallocPrefer(size, prefer);
                    (method, known, recorded) = (AllocationMethod.MallocPrefer, false, prefer);
                    break;
                case 7:
                    p = (byte*)_heap.CallocPrefer(n, element, prefer);
                    (method, known, recorded) = (AllocationMethod.CallocPrefer, false, prefer);
                    break;
                case 8:
                    p = (byte*)_heap.MallocDefault(size);
                    (method, known, recorded) = (AllocationMethod.MallocDefault, false, s_defaultCaps);
                    break;
                case 9:
                    p = (byte*)_heap.AlignedAlloc(alignment, size, caps);
                    (method, known) = (AllocationMethod.AlignedAlloc, false);
                    break;
                default:
                    p = (byte*)_heap.Calloc(n, element, caps);
                    (method, known) = (AllocationMethod.Calloc, false);
                    break;
            }

            var started = Volatile.Read(ref _checkpointsStarted);
            if (p is null)
            {
                w.Failures++;
                w.TotalFailures++;
                return;
            }

            w.Allocations++;
            if (kind is 1 or 7 or 10)
            {
                Require(new Span<byte>(p, (int)requested).IndexOfAnyExcept((byte)0) < 0, $"{method} of {requested} bytes at 0x{(nint)p:x} not zeroed");
            }

            if (kind is 2 or 9)
            {
                Require((nuint)p % alignment == 0, $"{method} at 0x{(nint)p:x} not {alignment}-aligned");
            }

            var usable = _heap.GetAllocatedSize(p);
            Require(usable >= requested, $"{method} of {requested} bytes at 0x{(nint)p:x}: usable size {usable}");
            var block = new Block
            {
                Pointer = (nint)p,
                Size = requested,
                Fill = (byte)w.Random.Next(1, 255),
                Caps = recorded,
                Method = method,
                Known = known,
                Owner = w.ThreadId,
                CompletedBefore = completed,
                StartedBeforeEnd = started,
            };
            new Span<byte>(p, (int)requested).Fill(block.Fill);
            w.Held[slot] = block;
        }

        private void Free(Worker w, int slot, Block block)
        {
            var p = (void*)block.Pointer;
            w.ForeignFrees += block.Owner != w.ThreadId ? 1 : 0;
            switch (w.Random.Next(4))
            {
                case 0:
                    _tracker.Free(ref p);
                    Require(p == null, "tracker.Free(ref p) left p set");
                    break;
                case 1:
                    _heap.Free(p);
                    break;
                case 2:
                    Require(_tracker.Realloc(p, 0, NextCaps(w)) == null, "tracker.Realloc(p, 0) returned a block");
                    break;
                default:
                    Require(_heap.Realloc(p, 0, NextCaps(w)) == null, "heap.Realloc(p, 0) returned a block");
                    break;
            }

            w.Frees++;
            w.Held[slot] = null;
        }

        private void Realloc(Worker w, int slot, Block block)
        {
            var size = NextSize(w);
            var caps = NextCaps(w);
            var prefer = s_preferLists[w.Random.Next(s_preferLists.Length)];
            var old = (void*)block.Pointer;
            byte* p;
            bool known;
            MallocCaps[] recorded = [caps];
            switch (w.Random.Next(5))
            {
                case 0:
                    p = (byte*)_tracker.Realloc(old, size, caps);
                    known = true;
                    break;
                case 1:
                {
                    var pointer = (byte*)old;
                    p = _tracker.Realloc(ref pointer, size, caps) ? pointer : null;
                    Require(p != null || pointer == (byte*)old, "a failed tracker.Realloc(ref p) changed p");
                    known = true;
                    break;
                }

                case 2:
                    p = (byte*)_heap.Realloc(old, size, caps);
                    known = false;
                    break;
                case 3:
                    p = (byte*)_heap.ReallocPrefer(old, size, prefer);
                    (known, recorded) = (false, prefer);
                    break;
                default:
                    p = (byte*)_heap.ReallocDefault(old, size);
                    (known, recorded) = (false, s_defaultCaps);
                    break;
            }

            if (p is null)
            {
                // The block is intact and still the thread's.
                w.Failures++;
                w.TotalFailures++;
                CheckContents(block, "after a failed realloc");
                return;
            }

            w.ForeignReallocs += block.Owner != w.ThreadId ? 1 : 0;
            var kept = (int)Math.Min(size, block.Size);
            if (new Span<byte>(p, kept).IndexOfAnyExcept(block.Fill) is var bad and >= 0)
            {
                Fail($"realloc of {block} to {size} bytes at 0x{(nint)p:x} lost byte {bad}: 0x{p[bad]:x2}");
            }

            var usable = _heap.GetAllocatedSize(p);
            Require(usable >= size, $"realloc to {size} bytes at 0x{(nint)p:x}: usable size {usable}");
            block.Pointer = (nint)p;
            block.Size = size;
            block.Caps = recorded;
            block.Reallocated = known ? ReallocSite.Known : ReallocSite.Unknown;
            block.Owner = w.ThreadId;
            block.Fill = (byte)w.Random.Next(1, 255);
            new Span<byte>(p, (int)size).Fill(block.Fill);
            w.Held[slot] = block;
        }

        private void CheckContents(Block block, string when)
        {
            var span = new Span<byte>((void*)block.Pointer, (int)block.Size);
            var bad = span.IndexOfAnyExcept(block.Fill);
            if (bad >= 0)
            {
                Fail($"{when}: byte {bad} of {block} reads 0x{span[bad]:x2}");
            }
        }

        // ---------------------------------------------------------------- checkpoints

        private MemoryCheckpoint TakeCheckpoint()
        {
            lock (_checkpointLock)
            {
                var number = _checkpointsCompleted + 1;
                if (number > MaxCheckpoints)
                {
                    return _checkpoints[MaxCheckpoints - 1];
                }

                Volatile.Write(ref _checkpointsStarted, number);
                var checkpoint = _tracker.Checkpoint();
                Require(checkpoint.Epoch == number, $"checkpoint #{number} has epoch {checkpoint.Epoch}");
                Require(checkpoint.LiveBlocks >= 0 && checkpoint.LiveBytes >= 0 && checkpoint.LiveBlocks == checkpoint.TotalAllocations - checkpoint.TotalFrees, $"checkpoint #{number}: {checkpoint.LiveBlocks} blocks, {checkpoint.LiveBytes} bytes, {checkpoint.TotalAllocations} allocations, {checkpoint.TotalFrees} frees");
                _checkpoints[number - 1] = checkpoint;
                Volatile.Write(ref _checkpointsCompleted, number);
                return checkpoint;
            }
        }

        /// <summary>While the others run: the blocks this thread holds are on the side of a checkpoint their allocation was.</summary>
        private void CheckSince(Worker w)
        {
            var completed = Volatile.Read(ref _checkpointsCompleted);
            var number = 1 + w.Random.Next(completed);
            var checkpoint = _checkpoints[number - 1];
            if (w.Random.Next(4) == 0)
            {
                var later = _checkpoints[Math.Min(completed, number + w.Random.Next(3)) - 1];
                var difference = _tracker.Difference(checkpoint, later);
                Require(difference.Allocations >= 0 && difference.Frees >= 0 && difference.FailedAllocations >= 0 && difference.BlocksDelta == difference.Allocations - difference.Frees, $"difference {difference}");
            }

            // A listing made while other threads free and allocate is no atomic snapshot of the heap: a free (through the
            // tracker or on the heap directly) gives the block back to its region, which reads the block's tag, before it
            // releases the record (MemoryTracker.FreeBlock, HeapCaps.FreeReporting), so until that free returns its record
            // is still live, and another thread may meanwhile have been given the same address (by an allocation, or by a
            // realloc that moved an older block there). A record at the address of a block this thread holds that should
            // not be listed is therefore looked for again until that free has returned: a real mistake stays, since the
            // held block is not freed meanwhile.
            string? problem = null;
            for (var attempt = 0; attempt < 200; attempt++)
            {
                problem = SinceProblem(w, checkpoint, number);
                if (problem is null)
                {
                    return;
                }

                Interlocked.Increment(ref _transientListings);
                Thread.Sleep(attempt == 0 ? 0 : 1);
            }

            Fail(problem!);
        }

        private string? SinceProblem(Worker w, MemoryCheckpoint checkpoint, int number)
        {
            var since = _tracker.GetAllocationsSince(checkpoint).ToLookup(static r => r.Address);
            foreach (var block in w.Held)
            {
                if (block is null)
                {
                    continue;
                }

                var records = since[(nuint)block.Pointer].ToArray();
                if (block.CompletedBefore >= number && !records.Any(r => r.Size == block.Size))
                {
                    return $"{block}, allocated after checkpoint #{number} returned, is not in GetAllocationsSince ({records.Length} records at its address)";
                }

                if (block.StartedBeforeEnd < number && records.Length != 0)
                {
                    return $"{block}, allocated before checkpoint #{number} started, is in GetAllocationsSince ({records[0].Size} bytes, request {records[0].RequestNumber}, thread {records[0].ThreadId})";
                }
            }

            return null;
        }

        // ---------------------------------------------------------------- concurrent queries

        private void Query(Worker w)
        {
            switch (w.Random.Next(7))
            {
                case 0:
                {
                    var caps = NextCaps(w);
                    var free = _heap.GetFreeSize(caps);
                    var total = _heap.GetTotalSize(caps);
                    Require(free <= total, $"GetFreeSize({caps.ToCapsString()}) {free} > GetTotalSize {total}");
                    var largest = _heap.GetLargestFreeBlock(caps);
                    Require(total == nuint.MaxValue || largest <= total, $"GetLargestFreeBlock({caps.ToCapsString()}) {largest} > total {total}");
                    break;
                }

                case 1:
                {
                    var caps = w.Random.Next(2) == 0 ? MallocCaps.None : NextCaps(w);
                    var info = _heap.GetInfo(caps);
                    var total = _heap.GetTotalSize(caps);
                    Require(info.TotalFreeBytes <= total, $"GetInfo({caps.ToCapsString()}): {info.TotalFreeBytes} free of {total}");
                    Require(info.MinimumFreeBytes <= info.TotalFreeBytes || total == nuint.MaxValue, $"GetInfo({caps.ToCapsString()}): minimum {info.MinimumFreeBytes} above free {info.TotalFreeBytes}");
                    break;
                }

                case 2:
                    Require(_heap.CheckIntegrityAll(print: false), "CheckIntegrityAll failed while the threads ran");
                    break;
                case 3:
                    CheckHeldAreWalked(w);
                    break;
                case 4:
                    CheckHeldAreRecorded(w);
                    break;
                case 5:
                    CheckOwnStatistics(w);
                    break;
                default:
                {
                    var report = _tracker.GetLeakReport();
                    Require(report.Blocks >= 0 && report.Bytes >= 0, "negative leak report");
                    break;
                }
            }
        }

        private void CheckHeldAreWalked(Worker w)
        {
            var used = new List<(nuint Start, nuint End)>();
            _heap.WalkAll((_, b) =>
            {
                if (b.Used)
                {
                    used.Add((b.Address, b.Address + b.Size));
                }

                return true;
            });
            used.Sort();
            foreach (var block in w.Held)
            {
                if (block is not null && Containing(used, (nuint)block.Pointer) < 0)
                {
                    Fail($"thread {w.Index} holds {block}, which no used block of a concurrent walk contains");
                }
            }
        }

        private void CheckHeldAreRecorded(Worker w)
        {
            // Not an atomic snapshot (see CheckSince): an address may appear twice, a held block's own record is always there.
            var records = _tracker.GetAllocations().ToLookup(static r => r.Address);
            foreach (var block in w.Held)
            {
                if (block is not null && !records[(nuint)block.Pointer].Any(r => r.Size == block.Size))
                {
                    Fail($"thread {w.Index} holds {block}; a concurrent GetAllocations lists [{string.Join(", ", records[(nuint)block.Pointer].Select(static r => $"{r.Size} bytes"))}] at its address");
                }
            }
        }

        private void CheckOwnStatistics(Worker w)
        {
            var stats = _tracker.GetThreadStatistics();
            foreach (var row in stats)
            {
                Require(row.CurrentBytes >= 0 && row.CurrentBlocks >= 0 && row.PeakBytes >= row.CurrentBytes, $"thread statistics of {row.ThreadId}: current {row.CurrentBytes} bytes in {row.CurrentBlocks} blocks, peak {row.PeakBytes}");
                foreach (var region in row.Regions)
                {
                    Require(region.CurrentBytes >= 0 && region.CurrentBlocks >= 0, $"thread statistics of {row.ThreadId} in {region.RegionLabel}: current {region.CurrentBytes} bytes in {region.CurrentBlocks} blocks");
                }
            }

            // Blocks this thread charged to itself and still holds can only be counted: others may free or move only the rest.
            long mine = 0;
            long count = 0;
            foreach (var block in w.Held)
            {
                if (block is not null && block.Owner == w.ThreadId)
                {
                    mine += (long)block.Size;
                    count++;
                }
            }

            var own = stats.FirstOrDefault(s => s.ThreadId == w.ThreadId);
            if (count > 0 && (own is null || own.CurrentBytes < mine || own.CurrentBlocks < count))
            {
                Fail($"thread {w.Index} holds {count} blocks of {mine} bytes it allocated; its statistics read {own?.CurrentBlocks} blocks, {own?.CurrentBytes} bytes");
            }
        }

        private static int Containing(List<(nuint Start, nuint End)> sorted, nuint address)
        {
            int lo = 0, hi = sorted.Count - 1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >>> 1;
                if (address < sorted[mid].Start)
                {
                    hi = mid - 1;
                }
                else if (address >= sorted[mid].End)
                {
                    lo = mid + 1;
                }
                else
                {
                    return mid;
                }
            }

            return -1;
        }

        // ---------------------------------------------------------------- reconciliation

        private void AtBarrier()
        {
            if (_stop)
            {
                return;
            }

            try
            {
                _barriers++;
                Reconcile($"at barrier {_barriers}");
                if (_barriers == 1 && !_stop)
                {
                    ProvokeDoubleFree();
                }

                _previous = TakeCheckpoint();
                _previousBlocks = AllHeld().Count;
                _previousBytes = AllHeld().Sum(static b => (long)b.Size);
            }
            catch (Exception e)
            {
                Fail($"reconciliation at barrier {_barriers}: {e}");
            }
        }

        /// <summary>With every thread stopped: a free, then the same free again, reported once as a double free.</summary>
        private void ProvokeDoubleFree()
        {
            var p = _heap.Malloc(24, MallocCaps.Default);
            if (p is null)
            {
                return;
            }

            _heap.Free(p);
            _provokedAddress = (nint)p;
            _expectedErrors++;
            _heap.Free(p);
            var errors = _errors.ToArray();
            Require(errors.Length == 1 && errors[0].Kind == MemoryErrorKind.DoubleFree && errors[0].Address == (nuint)p, $"the provoked double free of 0x{(nint)p:x} reported as [{string.Join("; ", errors.Select(static e => e.Message))}]");
        }

        private List<Block> AllHeld()
        {
            var all = new List<Block>();
            foreach (var w in _workers)
            {
                all.AddRange(w.Held.Where(static b => b is not null)!);
            }

            all.AddRange(_exchange);
            return all;
        }

        private void Reconcile(string when)
        {
            var checkpoint = TakeCheckpoint();
            var held = AllHeld();
            var byAddress = new Dictionary<nuint, Block>();
            foreach (var block in held)
            {
                CheckContents(block, when);
                if (!byAddress.TryAdd((nuint)block.Pointer, block))
                {
                    Fail($"{when}: two holders of 0x{block.Pointer:x}");
                }
            }

            var regions = _heap.DescribeNumberedRegions();
            var heldBytes = held.Sum(static b => (long)b.Size);

            // The tracker's live records are exactly the blocks held.
            var records = _tracker.GetAllocations();
            Require(records.Count == held.Count && _tracker.LiveBlocks == held.Count && _tracker.LiveBytes == heldBytes, $"{when}: the tracker holds {records.Count} records ({_tracker.LiveBlocks} blocks, {_tracker.LiveBytes} bytes), the threads {held.Count} blocks of {heldBytes} bytes");
            foreach (var record in records)
            {
                if (!byAddress.TryGetValue(record.Address, out var block))
                {
                    Fail($"{when}: the tracker records 0x{record.Address:x} ({record.MethodName}, {record.Size} bytes, thread {record.ThreadId}), which no thread holds");
                    continue;
                }

                var reallocated = record.ReallocatedAt is not { } site ? ReallocSite.None : site.IsKnown ? ReallocSite.Known : ReallocSite.Unknown;
                var region = _heap.RegionNumberOf((void*)block.Pointer);
                var capsOk = Array.IndexOf(block.Caps, record.Caps) >= 0
                    && (block.Caps.Length == 1 || (region >= 0 && (regions[region].Caps & EffectiveCaps(record.Caps)) == EffectiveCaps(record.Caps)));
                if (!(record.Size == block.Size && capsOk && record.Method == block.Method && record.AllocatedAt.IsKnown == block.Known && reallocated == block.Reallocated))
                {
                    Fail($"{when}: record of 0x{record.Address:x} reads {record.MethodName} {record.Size} bytes {record.Caps.ToCapsString()} known {record.AllocatedAt.IsKnown} realloc {reallocated}; held: {block}");
                }
            }

            // What happened since the previous reconciliation.
            var difference = _tracker.Difference(_previous, checkpoint);
            var allocations = _workers.Sum(static w => w.Allocations);
            var frees = _workers.Sum(static w => w.Frees);
            var failures = _workers.Sum(static w => w.Failures);
            if (!(difference.Allocations == allocations && difference.Frees == frees && difference.FailedAllocations == failures
                && difference.BlocksDelta == held.Count - _previousBlocks && difference.BytesDelta == heldBytes - _previousBytes))
            {
                Fail($"{when}: difference {difference.BlocksDelta} blocks, {difference.BytesDelta} bytes, {difference.Allocations} allocations, {difference.Frees} frees, {difference.FailedAllocations} failures; the threads {held.Count - _previousBlocks}, {heldBytes - _previousBytes}, {allocations}, {frees}, {failures}");
            }

            foreach (var w in _workers)
            {
                w.Allocations = w.Frees = w.Failures = 0;
            }

            var sinceNumber = (int)_previous.Epoch;
            var born = new HashSet<nuint>();
            long bornBytes = 0;
            foreach (var block in held)
            {
                if (block.CompletedBefore >= sinceNumber)
                {
                    born.Add((nuint)block.Pointer);
                    bornBytes += (long)block.Size;
                }
                else
                {
                    Require(block.StartedBeforeEnd < sinceNumber, $"{when}: {block} is on neither side of checkpoint #{sinceNumber}, taken with every thread stopped");
                }
            }

            var since = _tracker.GetAllocationsSince(_previous).Select(static r => r.Address).ToHashSet();
            Require(since.SetEquals(born), $"{when}: allocated since #{sinceNumber}: tracker [{string.Join(", ", since.Order().Select(static a => $"0x{a:x}"))}], threads [{string.Join(", ", born.Order().Select(static a => $"0x{a:x}"))}]");
            var leaks = _tracker.GetLeakReport(_previous, checkpoint);
            Require(leaks.Blocks == born.Count && leaks.Bytes == bornBytes && leaks.Allocations.Select(static r => r.Address).ToHashSet().SetEquals(born), $"{when}: leak report since #{sinceNumber}: {leaks.Blocks} blocks, {leaks.Bytes} bytes; threads {born.Count}, {bornBytes}");

            CheckStatistics(when, held, regions);
            CheckWalk(when, held, final: false);
            Require(_heap.CheckIntegrityAll(print: false), $"{when}: CheckIntegrityAll failed");
            CheckErrors(when);
        }

        /// <summary>Each block is charged, in its region, to the thread that allocated or last reallocated it; the rows sum to LiveBytes.</summary>
        private void CheckStatistics(string when, List<Block> held, NumberedRegion[] regions)
        {
            var stats = _tracker.GetThreadStatistics();
            Require(stats.Sum(static s => s.CurrentBytes) == _tracker.LiveBytes && stats.Sum(static s => s.CurrentBlocks) == _tracker.LiveBlocks, $"{when}: thread statistics sum to {stats.Sum(static s => s.CurrentBytes)} bytes in {stats.Sum(static s => s.CurrentBlocks)} blocks; live {_tracker.LiveBytes} bytes in {_tracker.LiveBlocks} blocks");
            var expected = new Dictionary<(int Thread, string Region), (long Bytes, long Blocks, HashSet<nuint> Addresses)>();
            foreach (var block in held)
            {
                var number = _heap.RegionNumberOf((void*)block.Pointer);
                var key = (block.Owner, number >= 0 ? regions[number].Label : "?");
                var (bytes, blocks, addresses) = expected.GetValueOrDefault(key, (0, 0, []));
                addresses.Add((nuint)block.Pointer);
                expected[key] = (bytes + (long)block.Size, blocks + 1, addresses);
            }

            foreach (var owner in held.Select(static b => b.Owner).Distinct())
            {
                var row = stats.FirstOrDefault(s => s.ThreadId == owner);
                var bytes = held.Where(b => b.Owner == owner).Sum(static b => (long)b.Size);
                var blocks = held.Count(b => b.Owner == owner);
                if (row is null || row.CurrentBytes != bytes || row.CurrentBlocks != blocks)
                {
                    Fail($"{when}: thread {owner} is charged {row?.CurrentBytes} bytes in {row?.CurrentBlocks} blocks; it allocated or last reallocated {bytes} bytes in {blocks} held blocks");
                }
            }

            foreach (var row in stats)
            {
                if (!held.Any(b => b.Owner == row.ThreadId) && (row.CurrentBytes != 0 || row.CurrentBlocks != 0))
                {
                    Fail($"{when}: thread {row.ThreadId} is charged {row.CurrentBytes} bytes in {row.CurrentBlocks} blocks; it owns no held block");
                }

                foreach (var region in row.Regions)
                {
                    var (bytes, blocks, addresses) = expected.GetValueOrDefault((row.ThreadId, region.RegionLabel ?? region.RegionName), (0, 0, []));
                    if (region.CurrentBytes != bytes || region.CurrentBlocks != blocks || !region.Blocks.Select(static r => r.Address).ToHashSet().SetEquals(addresses))
                    {
                        Fail($"{when}: thread {row.ThreadId} in {region.RegionLabel}: {region.CurrentBytes} bytes in {region.CurrentBlocks} blocks ({region.Blocks.Count} listed); held {bytes} bytes in {blocks} blocks");
                    }
                }

                foreach (var ((thread, label), (bytes, _, _)) in expected)
                {
                    if (thread == row.ThreadId && !row.Regions.Any(r => (r.RegionLabel ?? r.RegionName) == label))
                    {
                        Fail($"{when}: thread {row.ThreadId} has no row for {label}, where it is charged {bytes} bytes");
                    }
                }
            }
        }

        /// <summary>
        /// The walk shows each held block inside exactly one used block; the other used blocks are the runtime regions'
        /// descriptors and, with a quarantine (unless drained), at most MaxBlocks per region. Each TLSF region's free
        /// size plus its used blocks and their headers is what it had at the start.
        /// </summary>
        private void CheckWalk(string when, List<Block> held, bool final)
        {
            var regions = _heap.DescribeNumberedRegions();
            var used = new List<(nuint Start, nuint End, int Region)>();
            var regionCount = regions.Length;
            _heap.WalkAll((region, b) =>
            {
                if (b.Used)
                {
                    used.Add((b.Address, b.Address + b.Size, _heap.RegionNumberOf((void*)b.Address)));
                }

                return true;
            });
            used.Sort();
            var sorted = used.Select(static u => (u.Start, u.End)).ToList();
            var matched = new bool[used.Count];
            foreach (var block in held)
            {
                var index = Containing(sorted, (nuint)block.Pointer);
                if (index < 0)
                {
                    Fail($"{when}: {block} lies in no used block of the walk");
                    continue;
                }

                if (matched[index])
                {
                    Fail($"{when}: {block} shares its walked block 0x{used[index].Start:x} with another held block");
                }

                matched[index] = true;
                if (used[index].End < (nuint)block.Pointer + block.Size)
                {
                    Fail($"{when}: {block} runs past its walked block [0x{used[index].Start:x}, 0x{used[index].End:x})");
                }
            }

            var extra = new int[regionCount];
            var descriptors = 0;
            for (var i = 0; i < used.Count; i++)
            {
                if (!matched[i])
                {
                    var size = used[i].End - used[i].Start;
                    if (size >= (nuint)HeapCaps.RegionDescriptorSize && size <= (nuint)HeapCaps.RegionDescriptorSize + 64)
                    {
                        descriptors++;
                    }

                    extra[Math.Max(0, used[i].Region)]++;
                }
            }

            int added;
            lock (_regionLock)
            {
                added = _runtimeRegions.Count;
            }

            var unmatched = extra.Sum();
            if (!_quarantine || final)
            {
                Require(unmatched == added && descriptors == added, $"{when}: the walk shows {unmatched} used blocks no thread holds ({descriptors} of a descriptor's size), {added} regions were added");
            }
            else
            {
                Require(descriptors >= 0 && unmatched <= added + (QuarantineBlocks * regionCount), $"{when}: the walk shows {unmatched} used blocks no thread holds; {added} descriptors and at most {QuarantineBlocks} quarantined per region expected");
                for (var r = 0; r < regionCount; r++)
                {
                    Require(extra[r] <= QuarantineBlocks + added, $"{when}: region {regions[r].Label} has {extra[r]} used blocks no thread holds");
                }
            }

            // Free size: the pool less the used blocks and their headers, as at the start.
            for (var r = 0; r < regionCount; r++)
            {
                if (regions[r].TotalSize == nuint.MaxValue)
                {
                    continue; // The process heap: unbounded.
                }

                var initial = r < _layoutRegions ? _initialFree[r] : RuntimeInitialFree();
                nuint usedBytes = 0;
                foreach (var u in used)
                {
                    if (u.Region == r)
                    {
                        usedBytes += u.End - u.Start + TlsfConfiguration.BlockHeaderOverhead;
                    }
                }

                // With poisoning the free size leaves out one block's overhead, and is 0 when less is free (ESP-IDF's
                // subtract_poison_overhead): computed on the region's own figure.
                var overhead = _level != PoisoningLevel.None || _quarantine ? Math.Max(8, _layout.Alignment) + 4 : 0;
                var pool = initial + overhead;
                var expected = pool - usedBytes > overhead ? pool - usedBytes - overhead : 0;
                var free = _heap.FreeBytesOfRegion(r);
                Require(usedBytes <= pool && free == expected, $"{when}: {regions[r].Label}: {free} bytes free with {usedBytes} used (headers included), {initial} at the start: {expected} expected");
            }

            // GetInfo counts the user's blocks: the held ones and the descriptors, not what the quarantine holds.
            var allocatedBlocks = _heap.GetInfo(MallocCaps.None).AllocatedBlocks;
            Require(allocatedBlocks == (nuint)(held.Count + added), $"{when}: GetInfo counts {allocatedBlocks} allocated blocks; {held.Count} held, {added} descriptors");
        }

        /// <summary>The free size of a region added at run time, before anything is allocated in it (measured on a heap of its own).</summary>
        private nuint RuntimeInitialFree()
        {
            if (_runtimeInitialFree != 0)
            {
                return _runtimeInitialFree;
            }

            // The same options: with poisoning, a region's free size leaves out one block's overhead, as ESP-IDF's.
            using var scratch = new HeapCaps(MakeLayout(_layoutName), new HeapCapsOptions
            {
                ErrorOutput = null,
                Poisoning = _level,
                Quarantine = _quarantine ? new QuarantineOptions { MaxBytes = QuarantineBytes, MaxBlocks = QuarantineBlocks } : null,
            });
            var memory = (byte*)NativeMemory.AlignedAlloc(RuntimeRegionSize, 64);
            try
            {
                Assert.Equal(HeapCapsResult.Ok, scratch.AddRegionWithCaps(s_runtimeCaps, memory, memory + RuntimeRegionSize));
                _runtimeInitialFree = scratch.FreeBytesOfRegion(scratch.DescribeNumberedRegions().Length - 1);
            }
            finally
            {
                scratch.Dispose();
                NativeMemory.AlignedFree(memory);
            }

            return _runtimeInitialFree;
        }

        private void CheckErrors(string when)
        {
            var errors = _errors.ToArray();
            if (_heap.ErrorCount != _expectedErrors || errors.Length != _expectedErrors || (errors.Length == 1 && errors[0].Address != (nuint)_provokedAddress))
            {
                Fail($"{when}: {_heap.ErrorCount} memory errors reported ({_expectedErrors} provoked): {string.Join("\n", errors.Select(static e => e.ToString()))}");
            }
        }

        /// <summary>Frees every block (half through the tracker), drains the quarantines, and checks that the heap and the tracker are back where they started.</summary>
        private void FreeEverythingAndCheck()
        {
            var held = AllHeld();
            for (var i = 0; i < held.Count; i++)
            {
                var p = (void*)held[i].Pointer;
                if (i % 2 == 0)
                {
                    _tracker.Free(ref p);
                }
                else
                {
                    _heap.Free(p);
                }
            }

            foreach (var w in _workers)
            {
                Array.Clear(w.Held);
            }

            _exchange.Clear();
            Require(_tracker.GetAllocations().Count == 0 && _tracker.LiveBlocks == 0 && _tracker.LiveBytes == 0, $"after freeing everything the tracker holds {_tracker.GetAllocations().Count} records, {_tracker.LiveBlocks} blocks, {_tracker.LiveBytes} bytes");
            Require(!_tracker.GetLeakReport().HasLeaks, "a leak report after freeing everything");
            foreach (var row in _tracker.GetThreadStatistics())
            {
                Require(row.CurrentBytes == 0 && row.CurrentBlocks == 0 && row.Regions.All(static r => r.CurrentBytes == 0 && r.CurrentBlocks == 0 && r.Blocks.Count == 0), $"after freeing everything thread {row.ThreadId} is charged {row.CurrentBytes} bytes in {row.CurrentBlocks} blocks");
            }

            if (_quarantine)
            {
                DrainQuarantines();
            }

            CheckWalk("after freeing everything", [], final: true);
            Require(_heap.CheckIntegrityAll(print: false), "CheckIntegrityAll failed after freeing everything");
            CheckErrors("after freeing everything");
        }

        /// <summary>
        /// Empties every region's quarantine: a block larger than the quarantine's MaxBytes, freed, pushes out every
        /// block held with it and then itself. For each region, such blocks are taken with the region's caps until one
        /// lands in it or none is left (a request that finds a region full empties its quarantine first), then freed.
        /// </summary>
        private void DrainQuarantines()
        {
            var capsByRegion = new List<MallocCaps[]>();
            capsByRegion.AddRange(_layout.Regions.Select(static r => r.Caps.ToArray()));
            lock (_regionLock)
            {
                capsByRegion.AddRange(_runtimeRegions.Select(static r => r.Caps));
            }

            var taken = new List<nint>();
            for (var r = 0; r < capsByRegion.Count; r++)
            {
                var caps = capsByRegion[r].FirstOrDefault(static c => c != MallocCaps.None);
                for (var i = 0; i < 100_000; i++)
                {
                    var p = _heap.Malloc(QuarantineBytes + 1, caps);
                    if (p == null)
                    {
                        break;
                    }

                    taken.Add((nint)p);
                    if (_heap.RegionNumberOf(p) == r)
                    {
                        break;
                    }
                }
            }

            taken.ForEach(p => _heap.Free((void*)p));
        }
    }
}

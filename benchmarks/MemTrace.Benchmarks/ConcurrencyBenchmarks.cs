// Throughput with one and two threads. Each worker allocates and frees its own 64-byte blocks and
// hands every 8th block to the next worker, freeing the blocks handed to it: with two threads one
// free in eight is of a block the other thread allocated (HandEvery = 0: no hand-over, to separate
// the allocators' own scaling from the cost of cross-thread frees). Results are the time of one invocation
// (every worker does PairsPerThread pairs), so two-thread scaling = 2 x time with one thread / time
// with two.
//
// The hand-over itself must not be what is measured: each worker has a single-producer
// single-consumer ring allocated once, head and tail on their own cache lines, and the consumer
// drains it in batches every 64 pairs (reading the producer's tail once per batch, not once per
// pair). Workers start together on a barrier. With a ring read every pair and head and tail on
// one line, raw glibc itself ran 4x slower on two threads than on one: the benchmark measured
// cache-line ping-pong, not the allocators.
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class ConcurrencyBenchmarks
{
    private const int PairsPerThread = 500_000;
    private const int DrainEvery = 64;

    private HeapCaps? _heap;
    private MemoryTracker? _tracker;
    private Ring[] _rings = [];

    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Every how many pairs a block goes to the other thread to be freed; 0: never (each thread frees its own).</summary>
    [Params(8, 0)]
    public int HandEvery { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _heap = new HeapCaps(HeapLayout.Host());
        _tracker = new MemoryTracker(_heap, new MemoryTrackerOptions { Output = null });
        _rings = [.. Enumerable.Range(0, Threads).Select(static _ => new Ring())];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tracker!.Dispose();
        _heap!.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Raw() => Run(static (_, _) => (nint)NativeMemory.Alloc(64), static (_, p) => NativeMemory.Free((void*)p));

    [Benchmark]
    public void Tracker() => Run(
        static (tracker, size) => (nint)tracker.Malloc(size, MallocCaps.Default),
        static (tracker, p) =>
        {
            var block = (void*)p;
            tracker.Free(ref block);
        });

    private void Run(Func<MemoryTracker, nuint, nint> allocate, Action<MemoryTracker, nint> free)
    {
        var tracker = _tracker!;
        var rings = _rings;
        var handEvery = HandEvery == 0 ? int.MaxValue : HandEvery;
        using var start = new Barrier(Threads);
        var workers = new Thread[Threads];
        for (var t = 0; t < workers.Length; t++)
        {
            var mine = rings[t];
            var next = rings[(t + 1) % Threads];
            workers[t] = new Thread(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < PairsPerThread; i++)
                {
                    var block = allocate(tracker, 64);
                    if (i % handEvery == 1)
                    {
                        next.Push(block);
                    }
                    else
                    {
                        free(tracker, block);
                    }

                    if (i % DrainEvery == 0)
                    {
                        mine.Drain(tracker, free);
                    }
                }
            });
        }

        foreach (var worker in workers)
        {
            worker.Start();
        }

        foreach (var worker in workers)
        {
            worker.Join();
        }

        foreach (var ring in rings)
        {
            ring.Drain(tracker, free);
        }
    }

    /// <summary>
    /// Single-producer single-consumer queue of block addresses, large enough for every block a
    /// worker hands over, so a push never waits. Head and tail live on separate cache lines.
    /// </summary>
    private sealed class Ring
    {
        private const int Capacity = 1 << 17; // > PairsPerThread / 8
        private readonly nint[] _items = new nint[Capacity];
        private Padded _head;
        private Padded _tail;

        public void Push(nint item)
        {
            var tail = _tail.Value;
            _items[tail & (Capacity - 1)] = item;
            Volatile.Write(ref _tail.Value, tail + 1);
        }

        /// <summary>Frees every block handed over so far: one read of the producer's tail.</summary>
        public void Drain(MemoryTracker tracker, Action<MemoryTracker, nint> free)
        {
            var head = _head.Value;
            var tail = Volatile.Read(ref _tail.Value);
            for (; head < tail; head++)
            {
                free(tracker, _items[head & (Capacity - 1)]);
            }

            Volatile.Write(ref _head.Value, head);
        }
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Padded
    {
        [FieldOffset(64)]
        public long Value;
    }
}

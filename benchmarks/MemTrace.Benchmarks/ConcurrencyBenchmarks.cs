// Throughput with one and two threads. Each worker allocates and frees its own blocks and hands
// every 8th block to the next worker through a single-producer single-consumer ring, freeing the
// blocks handed to it: with two threads one free in eight is of a block the other thread
// allocated. (With every free crossing threads, glibc itself loses most of its throughput to its
// arena locks, which would measure glibc rather than MemTrace.) Results are per pair, so two-thread
// scaling = time per pair with one thread / time per pair with two.
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace MemTrace.Benchmarks;

[Config(typeof(MemTraceConfig))]
public unsafe class ConcurrencyBenchmarks
{
    private const int PairsPerThread = 200_000; // Below Ring's capacity.

    private HeapCaps? _heap;
    private MemoryTracker? _tracker;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _heap = new HeapCaps(HeapLayout.Host());
        _tracker = new MemoryTracker(_heap, new MemoryTrackerOptions { Output = null });
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
        var rings = new Ring[Threads];
        for (var i = 0; i < rings.Length; i++)
        {
            rings[i] = new Ring();
        }

        var workers = new Thread[Threads];
        for (var t = 0; t < workers.Length; t++)
        {
            var mine = rings[t];
            var next = rings[(t + 1) % Threads];
            workers[t] = new Thread(() =>
            {
                for (var i = 0; i < PairsPerThread; i++)
                {
                    var block = allocate(tracker, 64);
                    if ((i & 7) == 0)
                    {
                        next.Push(block);
                    }
                    else
                    {
                        free(tracker, block);
                    }

                    if (mine.TryPop(out var handed))
                    {
                        free(tracker, handed);
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
            while (ring.TryPop(out var left))
            {
                free(tracker, left);
            }
        }
    }

    /// <summary>
    /// Single-producer single-consumer queue of block addresses, large enough for every block a
    /// worker makes, so a push never waits (a worker that finishes first must not stall the other).
    /// </summary>
    private sealed class Ring
    {
        private const int Capacity = 1 << 18;
        private readonly nint[] _items = new nint[Capacity];
        private long _head;
        private long _tail;

        public void Push(nint item)
        {
            var tail = Volatile.Read(ref _tail);
            _items[tail & (Capacity - 1)] = item;
            Volatile.Write(ref _tail, tail + 1);
        }

        public bool TryPop(out nint item)
        {
            var head = Volatile.Read(ref _head);
            if (head == Volatile.Read(ref _tail))
            {
                item = 0;
                return false;
            }

            item = _items[head & (Capacity - 1)];
            Volatile.Write(ref _head, head + 1);
            return true;
        }
    }
}

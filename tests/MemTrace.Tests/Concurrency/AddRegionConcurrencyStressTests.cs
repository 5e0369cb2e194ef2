// Stress of heap_caps_add_region_with_caps while other threads allocate, reallocate and free (every allocation API,
// blocks moving between regions as they are added) and others read the heap-wide figures, check, walk, dump and open
// and close local minimum-free windows; with and without a tracker, with and without poisoning. At the end, with every
// thread stopped and every block freed: the integrity check passes, no error was reported, and nothing is left
// allocated but the heap's own region descriptors.
using System.Runtime.InteropServices;
using Xunit;

namespace MemTrace.Tests.Concurrency;

public unsafe class AddRegionConcurrencyStressTests
{
    private const int RegionsAdded = 12;
    private const int RegionSize = 6 * 1024;
    private const int Workers = 2;
    private const int Slots = 24;

    private static readonly MallocCaps[] s_runtimeCaps = [MallocCaps.Default | MallocCaps.Bit8 | MallocCaps.Internal, MallocCaps.Bit32, MallocCaps.None];

    private static HeapLayout Layout() => HeapLayout.CreateBuilder("add-region-stress").WithAlignment(4)
        .AddRegion("DRAM", 24 * 1024, MallocCaps.Bit8 | MallocCaps.Default | MallocCaps.Internal, MallocCaps.Dma | MallocCaps.Bit32)
        .AddRegion("SPIRAM", 32 * 1024, MallocCaps.Spiram | MallocCaps.Default, MallocCaps.None, MallocCaps.Bit8 | MallocCaps.Bit32, addedAtRuntime: true)
        .WithCacheLines(internalCacheLine: 0, externalCacheLine: 32)
        .Build();

    [Theory]
    [InlineData(PoisoningLevel.None, false)]
    [InlineData(PoisoningLevel.Light, true)]
    [InlineData(PoisoningLevel.Comprehensive, false)]
    [InlineData(PoisoningLevel.Comprehensive, true)]
    public void Regions_added_while_threads_allocate_and_query_leave_the_heap_sound(PoisoningLevel level, bool tracked)
    {
        var memory = new byte*[RegionsAdded];
        for (var i = 0; i < memory.Length; i++)
        {
            memory[i] = (byte*)NativeMemory.AlignedAlloc(RegionSize, 64);
        }

        try
        {
            for (var iteration = 0; iteration < 3; iteration++)
            {
                Run(level, tracked, memory, iteration);
            }
        }
        finally
        {
            foreach (var block in memory)
            {
                NativeMemory.AlignedFree(block);
            }
        }
    }

    private static void Run(PoisoningLevel level, bool tracked, byte*[] memory, int seed)
    {
        var options = new HeapCapsOptions { Poisoning = level };
        using var heap = new HeapCaps(Layout(), options);
        using var tracker = tracked ? new MemoryTracker(heap, new MemoryTrackerOptions { Output = null }) : null;
        var failures = 0;
        heap.RegisterFailedAllocCallback((_, _, _) => Interlocked.Increment(ref failures));

        using var stop = new CancellationTokenSource();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var threads = new List<Thread>();
        for (var w = 0; w < Workers; w++)
        {
            var id = w;
            threads.Add(new Thread(() => Work(heap, id + seed * 10, stop.Token, errors)));
        }

        threads.Add(new Thread(() => Query(heap, stop.Token, errors)));
        foreach (var thread in threads)
        {
            thread.Start();
        }

        for (var i = 0; i < RegionsAdded; i++)
        {
            Thread.Sleep(i % 3 == 0 ? 5 : 1);
            var start = memory[i];
            var result = heap.AddRegionWithCaps(s_runtimeCaps, start, start + RegionSize);
            if (result != HeapCapsResult.Ok)
            {
                errors.Enqueue($"AddRegionWithCaps #{i}: {result}");
            }
        }

        Thread.Sleep(20);
        stop.Cancel();
        foreach (var thread in threads)
        {
            thread.Join();
        }

        Assert.Empty(errors);
        Assert.True(heap.CheckIntegrityAll(print: false));
        Assert.Equal(0, heap.ErrorCount);
        if (tracker is not null)
        {
            Assert.Equal(0, tracker.LiveBlocks);
        }

        // What is left allocated is the heap's own: one descriptor per region added, wherever it landed (a block may be
        // a few bytes larger than asked when the rest of its free block was too small to split off).
        var used = new List<nuint>();
        heap.WalkAll((_, block) =>
        {
            if (block.Used)
            {
                used.Add(block.Size);
            }

            return true;
        });
        Assert.Equal(RegionsAdded, used.Count);
        Assert.All(used, size => Assert.InRange(size, (nuint)HeapCaps.RegionDescriptorSize, (nuint)HeapCaps.RegionDescriptorSize + 64));
    }

    private static void Work(HeapCaps heap, int seed, CancellationToken stop, System.Collections.Concurrent.ConcurrentQueue<string> errors)
    {
        var random = new Random(seed);
        var blocks = new byte*[Slots];
        var sizes = new nuint[Slots];
        var fills = new byte[Slots];
        MallocCaps[] caps = [MallocCaps.Default, MallocCaps.Internal, MallocCaps.Spiram, MallocCaps.Bit8, MallocCaps.Bit32, MallocCaps.Internal | MallocCaps.Bit8];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var slot = random.Next(Slots);
                var block = blocks[slot];
                if (block is not null)
                {
                    var size = sizes[slot];
                    for (nuint b = 0; b < size; b++)
                    {
                        if (block[b] != fills[slot])
                        {
                            errors.Enqueue($"slot {slot}: byte {b} of {size} is {block[b]:x2}, not {fills[slot]:x2}");
                            return;
                        }
                    }

                    if (random.Next(3) == 0)
                    {
                        var newSize = (nuint)random.Next(1, 1500);
                        var option = caps[random.Next(caps.Length)];
                        var moved = (byte*)(random.Next(3) switch
                        {
                            0 => heap.Realloc(block, newSize, option),
                            1 => heap.ReallocPrefer(block, newSize, option, MallocCaps.Default),
                            _ => heap.ReallocDefault(block, newSize),
                        });
                        if (moved is not null)
                        {
                            var kept = Math.Min(size, newSize);
                            for (nuint b = 0; b < kept; b++)
                            {
                                if (moved[b] != fills[slot])
                                {
                                    errors.Enqueue($"slot {slot}: realloc lost byte {b}");
                                    return;
                                }
                            }

                            new Span<byte>(moved, (int)newSize).Fill(fills[slot]);
                            blocks[slot] = moved;
                            sizes[slot] = newSize;
                        }
                    }
                    else
                    {
                        heap.Free(block);
                        blocks[slot] = null;
                    }

                    continue;
                }

                var request = (nuint)random.Next(1, 1200);
                var what = random.Next(7);
                var option2 = caps[random.Next(caps.Length)];
                var fresh = (byte*)(what switch
                {
                    0 => heap.Malloc(request, option2),
                    1 => heap.Calloc(1, request, option2),
                    2 => heap.AlignedAlloc((nuint)(16 << random.Next(3)), request, option2),
                    3 => heap.MallocPrefer(request, MallocCaps.Spiram, MallocCaps.Default),
                    4 => heap.MallocDefault(request),
                    5 => heap.Realloc(null, request, option2),
                    _ => heap.CallocDefault(2, request / 2 + 1),
                });
                if (what == 6)
                {
                    request = 2 * (request / 2 + 1);
                }

                if (fresh is null)
                {
                    continue;
                }

                if (what is 1 or 6)
                {
                    for (nuint b = 0; b < request; b++)
                    {
                        if (fresh[b] != 0)
                        {
                            errors.Enqueue($"calloc byte {b} not zero");
                            return;
                        }
                    }
                }

                if (heap.GetAllocatedSize(fresh) < request)
                {
                    errors.Enqueue($"GetAllocatedSize {heap.GetAllocatedSize(fresh)} < {request}");
                }

                fills[slot] = (byte)random.Next(1, 255);
                new Span<byte>(fresh, (int)request).Fill(fills[slot]);
                blocks[slot] = fresh;
                sizes[slot] = request;
            }
        }
        catch (Exception e)
        {
            errors.Enqueue(e.ToString());
        }
        finally
        {
            foreach (var block in blocks)
            {
                heap.Free(block);
            }
        }
    }

    private static void Query(HeapCaps heap, CancellationToken stop, System.Collections.Concurrent.ConcurrentQueue<string> errors)
    {
        var open = false;
        var n = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                n++;
                var total = heap.GetTotalSize(MallocCaps.None);
                var free = heap.GetFreeSize(MallocCaps.None);
                if (free > total)
                {
                    errors.Enqueue($"free {free} > total {total}");
                }

                _ = heap.GetMinimumFreeSize(MallocCaps.Internal);
                _ = heap.GetLargestFreeBlock(MallocCaps.Default);
                var info = heap.GetInfo(MallocCaps.Internal);
                if (info.TotalFreeBytes > total)
                {
                    errors.Enqueue($"info free {info.TotalFreeBytes} > total {total}");
                }

                switch (n % 6)
                {
                    case 0:
                        heap.PrintHeapInfo(MallocCaps.Default, TextWriter.Null);
                        break;
                    case 1:
                        if (!heap.CheckIntegrityAll(print: false))
                        {
                            errors.Enqueue("CheckIntegrityAll failed during the run");
                        }

                        break;
                    case 2:
                        heap.WalkAll((_, _) => true);
                        break;
                    case 3:
                        heap.DumpAll(TextWriter.Null);
                        break;
                    case 4:
                        if (open)
                        {
                            Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStop());
                        }
                        else
                        {
                            Assert.Equal(HeapCapsResult.Ok, heap.MonitorLocalMinimumFreeSizeStart());
                        }

                        open = !open;
                        break;
                    default:
                        heap.RegisterFailedAllocCallback((_, _, _) => { });
                        break;
                }
            }
        }
        catch (Exception e)
        {
            errors.Enqueue(e.ToString());
        }
        finally
        {
            if (open)
            {
                heap.MonitorLocalMinimumFreeSizeStop();
            }
        }
    }
}

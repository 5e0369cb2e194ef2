// User code corrupting heap memory as firmware bugs do (overruns into headers, writes into free blocks,
// bit flips in size words, wild writes into the control structure and free lists), then every
// diagnostic and allocation call: no crash, no hang, no exception but MemoryErrorException, and no block
// handed out outside a region or over a live block. Seeds 0..300 by default (each case on its own thread,
// 5 s to finish); FUZZ_FROM / FUZZ_TO run others (0..8000 ran clean when this was written).
using System.Text;
using Xunit;

namespace MemTrace.Tests.Tlsf;

public unsafe class HeapCorruptionFuzzTests(ITestOutputHelper output)
{
    private sealed record Live(nuint Addr, nuint Size, byte Fill);

    public static string RunCase(int seed, bool verbose = false)
    {
        var rng = new Random(seed);
        var layoutKind = rng.Next(3);
        var layout = layoutKind == 0
            ? HeapLayout.Esp32()
            : HeapLayout.CreateBuilder("Tiny").WithAlignment(layoutKind == 1 ? 4u : 8u)
                .AddRegion("DRAM", 16 * 1024, MallocCaps.Default | MallocCaps.Internal | MallocCaps.Bit8 | MallocCaps.Bit32).Build();
        var poisoning = (PoisoningLevel)rng.Next(3);
        var policy = rng.Next(4) == 0 ? MemoryErrorPolicy.Throw : MemoryErrorPolicy.Report;
        var sb = new StringBuilder();
        using var heap = new HeapCaps(layout, new HeapCapsOptions { Poisoning = poisoning, ErrorPolicy = policy, ErrorOutput = null });
        var caps = MallocCaps.Default;
        var live = new List<Live>();
        var regions = new List<(nuint Start, nuint End)>();

        void Op(Action a)
        {
            try
            {
                a();
            }
            catch (MemoryErrorException)
            {
            }
        }

        bool Inside(nuint p, nuint size)
        {
            foreach (var r in regions)
            {
                if (p >= r.Start && p + size <= r.End)
                {
                    return true;
                }
            }

            return false;
        }

        string? Add(void* p, nuint size, string what)
        {
            if (p == null)
            {
                return null;
            }

            var a = (nuint)p;
            if (!Inside(a, size))
            {
                return $"{what} returned 0x{a:x} size {size} outside any region";
            }

            foreach (var l in live)
            {
                if (a < l.Addr + l.Size && l.Addr < a + size)
                {
                    return $"{what} returned 0x{a:x}+{size} overlapping live 0x{l.Addr:x}+{l.Size}";
                }
            }

            var fill = (byte)rng.Next(256);
            new Span<byte>(p, (int)size).Fill(fill);
            live.Add(new Live(a, size, fill));
            return null;
        }

        heap.WalkAll((r, b) =>
        {
            if (!regions.Contains((r.Start, r.End)))
            {
                regions.Add((r.Start, r.End));
            }

            return true;
        });

        // Build a random heap.
        var n = rng.Next(5, 40);
        for (var i = 0; i < n; i++)
        {
            var size = (nuint)rng.Next(1, 400);
            void* p = null;
            Op(() => p = heap.Malloc(size, caps));
            var err = Add(p, size, "setup malloc");
            if (err != null)
            {
                return err;
            }
        }

        for (var i = live.Count - 1; i >= 0; i--)
        {
            if (rng.Next(3) == 0)
            {
                var l = live[i];
                Op(() => heap.Free((void*)l.Addr));
                live.RemoveAt(i);
            }
        }

        // Blocks per walk (in the region of the first live block, or DRAM).
        var blocks = new List<HeapWalkBlock>();
        var target = live.Count > 0 ? regions.First(r => live[0].Addr >= r.Start && live[0].Addr < r.End) : regions[0];
        heap.WalkAll((r, b) =>
        {
            if (r.Start == target.Start)
            {
                blocks.Add(b);
            }

            return true;
        });
        var firstBlock = blocks.Count > 0 ? blocks[0].Address : target.Start + 64;

        // Corrupt.
        var mode = rng.Next(7);
        nuint at;
        var count = rng.Next(1, 17);
        switch (mode)
        {
            case 0: at = target.Start + (nuint)rng.Next((int)(target.End - target.Start)); break;
            case 1 when live.Count > 0: var l1 = live[rng.Next(live.Count)]; at = l1.Addr + l1.Size + (nuint)rng.Next(8); break; // overrun
            case 2 when live.Count > 0: var l2 = live[rng.Next(live.Count)]; at = l2.Addr - (nuint)rng.Next(1, 17); break; // underrun
            case 3 when blocks.Any(b => !b.Used): var f = blocks.Where(b => !b.Used).ElementAt(rng.Next(blocks.Count(b => !b.Used))); at = f.Address - 8 + (nuint)rng.Next(24); break; // free header/links
            case 4: at = target.Start + (nuint)rng.Next((int)(firstBlock - target.Start)); break; // control structure
            case 5 when blocks.Count > 0: var b5 = blocks[rng.Next(blocks.Count)]; at = b5.Address - 4 + (nuint)rng.Next(4); count = 1; break; // size word byte
            default: at = target.Start + (nuint)rng.Next((int)(target.End - target.Start)); break;
        }

        if (at + (nuint)count > target.End)
        {
            count = (int)(target.End - at);
        }

        var bitflip = rng.Next(2) == 0;
        for (var i = 0; i < count; i++)
        {
            var b = (byte*)(at + (nuint)i);
            if (bitflip)
            {
                *b ^= (byte)(1 << rng.Next(8));
            }
            else
            {
                *b = (byte)rng.Next(256);
            }
        }

        if (Environment.GetEnvironmentVariable("FUZZ_TRACE") != null)
        {
            foreach (var bb in blocks)
            {
                Console.Error.WriteLine($"    block +0x{bb.Address - target.Start:x} size {bb.Size} used {bb.Used}");
            }

            Console.Error.WriteLine($"  layout {layoutKind} poison {poisoning} policy {policy} mode {mode} at +0x{at - target.Start:x} count {count} bitflip {bitflip}");
        }

        sb.Append($"seed {seed} layout {layoutKind} poison {poisoning} policy {policy} mode {mode} at +0x{at - target.Start:x} count {count} bitflip {bitflip}; ");

        // Diagnostics.
        var intact = true;
        Op(() => intact = heap.CheckIntegrityAll(false));
        sb.Append($"intact={intact}; ");
        var steps = 0;
        Op(() => heap.WalkAll((r, b) => ++steps < 100000));
        Op(() => heap.DumpAll(TextWriter.Null));
        Op(() => heap.GetInfo(caps));
        Op(() => heap.GetLargestFreeBlock(caps));
        Op(() => heap.GetFreeSize(caps));
        foreach (var l in live.ToList())
        {
            Op(() => heap.CheckIntegrityAddr((void*)l.Addr, false));
            Op(() => heap.GetAllocatedSize((void*)l.Addr));
        }

        // Work on the heap.
        for (var i = 0; i < 80; i++)
        {
            var op = rng.Next(10);
            string? err = null;
            if (op < 4)
            {
                var size = (nuint)rng.Next(1, 1200);
                void* p = null;
                Op(() => p = heap.Malloc(size, caps));
                err = Add(p, size, $"malloc#{i}");
            }
            else if (op < 5)
            {
                var size = (nuint)rng.Next(1, 600);
                var al = (nuint)(1 << rng.Next(2, 8));
                void* p = null;
                Op(() => p = heap.AlignedAlloc(al, size, caps));
                err = Add(p, size, $"aligned#{i}");
            }
            else if (op < 8 && live.Count > 0)
            {
                var k = rng.Next(live.Count);
                var l = live[k];
                if (Environment.GetEnvironmentVariable("FUZZ_TRACE") != null)
                {
                    Console.Error.WriteLine($"  free +0x{l.Addr - target.Start:x}");
                }

                Op(() => heap.Free((void*)l.Addr));
                live.RemoveAt(k);
            }
            else if (live.Count > 0)
            {
                var k = rng.Next(live.Count);
                var l = live[k];
                var size = (nuint)rng.Next(1, 1500);
                void* p = null;
                if (Environment.GetEnvironmentVariable("FUZZ_TRACE") != null)
                {
                    Console.Error.WriteLine($"  realloc +0x{l.Addr - target.Start:x} (size {l.Size}) to {size}");
                }

                var threw = false;
                try
                {
                    p = heap.Realloc((void*)l.Addr, size, caps);
                }
                catch (MemoryErrorException e)
                {
                    threw = true;
                    if (Environment.GetEnvironmentVariable("FUZZ_TRACE") != null)
                    {
                        Console.Error.WriteLine($"  realloc threw: {e.Message}");
                    }
                }

                if (p != null)
                {
                    live.RemoveAt(k);
                    err = Add(p, size, $"realloc#{i}");
                }
                else if (threw)
                {
                    live.RemoveAt(k); // Documented: a realloc that throws has freed its block (or refused it: forget it).
                }
            }

            if (err != null)
            {
                return sb + "FINDING: " + err;
            }
        }

        var intactAfter = true;
        Op(() => intactAfter = heap.CheckIntegrityAll(false));
        sb.Append($"intactAfter={intactAfter}; ");
        if (intact)
        {
            // Heap was judged fine: freeing all must restore it.
            foreach (var l in live)
            {
                Op(() => heap.Free((void*)l.Addr));
            }

            var finalOk = true;
            Op(() => finalOk = heap.CheckIntegrityAll(false));
            if (!finalOk && poisoning == PoisoningLevel.None)
            {
                return sb + "FINDING: check said intact after corruption but integrity failed after freeing everything";
            }
        }

        return verbose ? sb.ToString() : "";
    }

    [Fact]
    public void Corrupted_heap_memory_never_crashes_hangs_or_gives_out_overlapping_blocks()
    {
        var from = int.Parse(Environment.GetEnvironmentVariable("FUZZ_FROM") ?? "0");
        var to = int.Parse(Environment.GetEnvironmentVariable("FUZZ_TO") ?? "300");
        var findings = new List<string>();
        for (var seed = from; seed < to; seed++)
        {
            string? result = null;
            Exception? ex = null;
            if (Environment.GetEnvironmentVariable("FUZZ_TRACE") != null)
            {
                Console.Error.WriteLine($"seed {seed}");
            }

            var t = new Thread(() =>
            {
                try
                {
                    result = RunCase(seed);
                }
                catch (Exception e)
                {
                    ex = e;
                }
            }, 16 * 1024 * 1024) { IsBackground = true };
            t.Start();
            if (!t.Join(5000))
            {
                findings.Add($"seed {seed}: HANG");
                break;
            }

            if (ex != null)
            {
                findings.Add($"seed {seed}: EXCEPTION {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
            }
            else if (!string.IsNullOrEmpty(result))
            {
                findings.Add(result);
            }
        }

        foreach (var f in findings)
        {
            output.WriteLine(f);
        }

        Assert.True(findings.Count == 0, string.Join("\n", findings.Take(30)));
    }
}

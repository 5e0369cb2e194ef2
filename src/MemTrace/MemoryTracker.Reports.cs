// Listings and logs: list_allocations, print_memory_info and log_memory_allocation.
using System.Globalization;
using System.Text;
using MemTrace.Internals;
using MemTrace.Tracking;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    /// <summary>The capabilities <see cref="PrintMemoryInfo(string, TextWriter?)"/> shows, in the seed's order.</summary>
    public static readonly IReadOnlyList<MallocCaps> MemoryInfoCaps =
    [
        MallocCaps.Default, MallocCaps.Internal, MallocCaps.Exec, MallocCaps.Dma, MallocCaps.Bit8,
        MallocCaps.Bit32, MallocCaps.Spiram, MallocCaps.Iram8Bit, MallocCaps.Retention,
    ];

    private readonly AllocationRecord[] _failures;
    private readonly Lock _failureLock = new();
    private long _failureCount;

    /// <summary>Failed requests since the tracker was created (logged or not).</summary>
    public long FailedAllocationCount => Interlocked.Read(ref _failureCount);

    /// <summary>The most recent failed requests, oldest first (at most <see cref="MemoryTrackerOptions.FailedAllocationCapacity"/>).</summary>
    public IReadOnlyList<AllocationRecord> FailedAllocations
    {
        get
        {
            lock (_failureLock)
            {
                var count = (int)Math.Min(_failureCount, _failures.Length);
                var list = new List<AllocationRecord>(count);
                for (var i = count; i > 0; i--)
                {
                    list.Add(_failures[(int)((_failureCount - i) % _failures.Length)]);
                }

                return list;
            }
        }
    }

    /// <summary>The live blocks, ordered by request number, without printing.</summary>
    /// <returns>The records.</returns>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public IReadOnlyList<AllocationRecord> GetAllocations()
    {
        ThrowIfDisposed();
        var records = ReadRecords(RecordState.Live);
        records.Sort(static (a, b) => a.Record.RequestNumber.CompareTo(b.Record.RequestNumber));
        var list = new List<AllocationRecord>(records.Count);
        foreach (var copy in records)
        {
            list.Add(ToAllocationRecord(copy));
        }

        return list;
    }

    /// <summary>
    /// Prints every live block (address, caps, size, file:line, function, variable, request number,
    /// method) and a totals line (the seed's <c>list_allocations</c>), and returns the blocks.
    /// </summary>
    /// <remarks>
    /// Blocks are listed by request number. On one thread that is the order of the requests; each thread
    /// draws its numbers in blocks of 64, so with several threads the numbers have gaps and a block with a
    /// lower number may have been allocated after one with a higher number on another thread. Use
    /// <see cref="Checkpoint"/> and <see cref="GetAllocationsSince"/> to select blocks by time.
    /// </remarks>
    /// <param name="output">Where to print; null for <see cref="Output"/>.</param>
    /// <returns>The live blocks, ordered by request number.</returns>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public IReadOnlyList<AllocationRecord> ListAllocations(TextWriter? output = null)
    {
        var records = GetAllocations();
        Write(output ?? Output, FormatAllocations(records));
        return records;
    }

    /// <summary>
    /// Prints, for each of the seed's capabilities (<see cref="MemoryInfoCaps"/>), total, free,
    /// minimum free and largest free block (the seed's <c>print_memory_info</c>), and returns the rows.
    /// An unbounded (process heap) figure prints as <c>unbounded</c>.
    /// </summary>
    /// <param name="tag">A tag for the heading, as the seed's ESP_LOG tag.</param>
    /// <param name="output">Where to print; null for <see cref="Output"/>.</param>
    /// <returns>One row per capability.</returns>
    /// <exception cref="ObjectDisposedException">The tracker or its heap was disposed.</exception>
    public IReadOnlyList<CapsMemoryInfo> PrintMemoryInfo(string tag, TextWriter? output = null)
    {
        ThrowIfDisposed();
        var rows = new List<CapsMemoryInfo>(MemoryInfoCaps.Count);
        foreach (var caps in MemoryInfoCaps)
        {
            rows.Add(new CapsMemoryInfo(caps, Heap.GetTotalSize(caps), Heap.GetFreeSize(caps), Heap.GetMinimumFreeSize(caps), Heap.GetLargestFreeBlock(caps)));
        }

        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"[{tag}] Memory info ({Heap.Layout.Name}):").AppendLine();
        text.Append(CultureInfo.InvariantCulture, $"  {"caps",-22} {"total",12} {"free",12} {"min free",12} {"largest block",14}").AppendLine();
        foreach (var row in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {row.Caps.ToCapsString(),-22} {HeapCaps.Bytes(row.TotalSize),12} {HeapCaps.Bytes(row.FreeSize),12} {HeapCaps.Bytes(row.MinimumFreeSize),12} {HeapCaps.Bytes(row.LargestFreeBlock),14}").AppendLine();
        }

        Write(output ?? Output, text.ToString());
        return rows;
    }

    internal static string FormatAllocations(IReadOnlyList<AllocationRecord> records)
    {
        var text = new StringBuilder();
        nuint bytes = 0;
        text.AppendLine("MemTrace allocations:");
        text.Append(CultureInfo.InvariantCulture, $"  {"#",6}  {"address",-18} {"size",10}  {"caps",-40} {"method",-24} {"site",-32} variable").AppendLine();
        foreach (var record in records)
        {
            bytes += record.Size;
            var site = record.AllocatedAt.IsKnown
                ? string.Create(CultureInfo.InvariantCulture, $"{record.AllocatedAt.FileName}:{record.Line} ({record.Function})")
                : "(no call site)";
            text.Append(CultureInfo.InvariantCulture, $"  {record.RequestNumber,6}  {MemoryError.Hex(record.Address),-18} {record.Size,10}  {record.Caps.ToCapsString(),-40} {record.MethodName,-24} {site,-32} {record.VariableName ?? "-"}");
            if (record.ReallocatedAt is { } realloc)
            {
                text.Append(CultureInfo.InvariantCulture, $"  (realloc at {realloc.ShortLocation})");
            }

            text.AppendLine();
            if (record.StackTrace is { } stack)
            {
                text.Append(StackCapture.Format(stack, "          "));
            }
        }

        text.Append(CultureInfo.InvariantCulture, $"  Total: {Counted.Of(records.Count, "live block")}, {bytes} bytes").AppendLine();
        return text.ToString();
    }

    /// <summary>
    /// The seed's log_memory_allocation: records a failed request and logs it with heap information for
    /// its caps (for a request the allocation hook refused, with no heap information: the heap was not asked).
    /// For a calloc, <paramref name="elements"/> × <paramref name="size"/> is the request; when that product
    /// overflows, the log names both factors and the record's size is <see cref="nuint.MaxValue"/>. An aligned request
    /// whose <paramref name="alignment"/> is 0 or not a power of two is logged as refused for it, with no heap
    /// information (ESP-IDF returns null before looking at the heap, with no failure callback).
    /// </summary>
    private void LogFailure(AllocationMethod method, nuint size, MallocCaps caps, uint site, long request, bool refused = false, nuint elements = 1, nuint alignment = 0)
    {
        var overflows = elements > 1 && Heap.MulOverflows(elements, size);
        var bytes = overflows ? nuint.MaxValue : elements * size;
        var record = new AllocationRecord
        {
            AllocatedAt = CallSiteRegistry.Get(site),
            Size = bytes,
            Caps = caps,
            Address = 0,
            Failure = true,
            Refused = refused,
            RequestNumber = request,
            ThreadId = Environment.CurrentManagedThreadId,
            Timestamp = ToTime(CoarseClock.Now),
            StackTrace = CaptureFailureStack(),
        };

        lock (_failureLock)
        {
            _failures[(int)(_failureCount % _failures.Length)] = record;
            _failureCount++;
        }

        if (EmitsEvent(Diagnostics.HeapEventKind.FailedAllocation))
        {
            EmitFailure(record, site);
        }

        var output = Output;
        if (output is null)
        {
            return;
        }

        var text = new StringBuilder();
        var badAlignment = !refused && method is AllocationMethod.AlignedAlloc or AllocationMethod.AlignedCalloc or AllocationMethod.AlignedAllocDefault
            && !HeapCaps.IsValidAlignment(alignment);
        var what = refused ? "allocation refused by the allocation hook (injected failure)"
            : badAlignment ? string.Create(CultureInfo.InvariantCulture, $"allocation refused (alignment {alignment} is not a power of two; the heap was not asked)")
            : "allocation failed";
        var amount = overflows
            ? string.Create(CultureInfo.InvariantCulture, $"{elements} x {size} bytes (overflows)")
            : string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");
        text.Append(CultureInfo.InvariantCulture, $"MemTrace: {what}: {record.MethodName} of {amount}, caps {caps.ToCapsString()}, request #{request}, thread {record.ThreadId}").AppendLine();
        text.Append("  at ").AppendLine(record.AllocatedAt.ToString());
        if (record.StackTrace is { } stack)
        {
            text.Append(StackCapture.Format(stack, "    "));
        }

        if (!refused && !badAlignment)
        {
            var heapInfo = new StringWriter(CultureInfo.InvariantCulture);
            Heap.PrintHeapInfo(caps, heapInfo);
            text.Append(heapInfo);
        }

        Write(output, text.ToString());
    }

    private static void Write(TextWriter? output, string text)
    {
        if (output is null)
        {
            return;
        }

        lock (output)
        {
            output.Write(text);
            output.Flush();
        }
    }
}

// HeapCaps error reporting: build a MemoryError for a bad pointer, let an attached tracker add
// what it knows, then apply the error policy. Everything here is off the hot path.
using System.Runtime.CompilerServices;
using MemTrace.Regions;

namespace MemTrace;

public sealed unsafe partial class HeapCaps
{
    private const string HostLimitsNote =
        "The process-heap region knows exactly which of its blocks are live and which were freed and not reused;\n" +
        "it cannot tell a pointer it never handed out from one freed long ago whose address was reused by other code.";

    private readonly MemoryError[] _recentErrors;
    private readonly Lock _errorLock = new();
    private long _errorCount;
    private int _recentNext;
    private MemoryErrorPolicy _errorPolicy;

    /// <summary>What happens when an error is detected. Default from <see cref="HeapCapsOptions.ErrorPolicy"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value that is not a <see cref="MemoryErrorPolicy"/>.</exception>
    public MemoryErrorPolicy ErrorPolicy
    {
        get => _errorPolicy;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"ErrorPolicy must be a MemoryErrorPolicy value, not {value}.");
            }

            _errorPolicy = value;
        }
    }

    /// <summary>Where error reports are written; null for nowhere (events still fire).</summary>
    public TextWriter? ErrorOutput { get; set; }

    /// <summary>Raised for every detected error, before the policy is applied.</summary>
    public event EventHandler<MemoryErrorEventArgs>? MemoryErrorDetected;

    /// <summary>The number of errors detected since the heap was built.</summary>
    public long ErrorCount => Interlocked.Read(ref _errorCount);

    /// <summary>The most recent errors, oldest first (at most <see cref="HeapCapsOptions.RecentErrorCapacity"/>).</summary>
    public IReadOnlyList<MemoryError> RecentErrors
    {
        get
        {
            lock (_errorLock)
            {
                var count = (int)Math.Min(_errorCount, _recentErrors.Length);
                var list = new List<MemoryError>(count);
                var start = (_recentNext - count + _recentErrors.Length) % _recentErrors.Length;
                for (var i = 0; i < count; i++)
                {
                    list.Add(_recentErrors[(start + i) % _recentErrors.Length]);
                }

                return list;
            }
        }
    }

    /// <summary>Reports a detected error: records it, writes it, raises the event, applies the policy.</summary>
    /// <exception cref="MemoryErrorException">The policy is <see cref="MemoryErrorPolicy.Throw"/>.</exception>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void ReportError(MemoryError error)
    {
        var text = Publish(error);
        ApplyPolicy(error, text);
    }

    /// <summary>Records an error, writes it and raises the event; returns its text. The policy is the caller's to apply.</summary>
    private string Publish(MemoryError error)
    {
        lock (_errorLock)
        {
            _errorCount++;
            _recentErrors[_recentNext] = error;
            _recentNext = (_recentNext + 1) % _recentErrors.Length;
        }

        var text = error.ToString();
        var site = Internals.CallSiteContext.Suspend(); // A heap call a handler makes is its own, not the operation's that found the error.
        try
        {
            var output = ErrorOutput;
            if (output is not null)
            {
                lock (output)
                {
                    output.Write(text);
                    output.Flush();
                }
            }

            MemoryErrorDetected?.Invoke(this, new MemoryErrorEventArgs(error));
        }
        finally
        {
            Internals.CallSiteContext.Current = site;
        }

        return text;
    }

    /// <summary>Applies <see cref="ErrorPolicy"/> to a published error: nothing, throw, or end the process.</summary>
    private void ApplyPolicy(MemoryError error, string text)
    {
        switch (ErrorPolicy)
        {
            case MemoryErrorPolicy.Throw:
                throw new MemoryErrorException(error);
            case MemoryErrorPolicy.FailFast:
                Environment.FailFast(text);
                break;
        }
    }

    /// <summary>Reports a free or realloc of a pointer that is not a live block.</summary>
    /// <exception cref="ObjectDisposedException">The heap was disposed during the call: its regions answered for memory that is gone, which is no bad pointer.</exception>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void ReportBadPointer(BlockState state, AllocationMethod operation, void* ptr, CallSite? detectedAt)
    {
        ThrowIfDisposed();
        ReportError(DescribeBadPointer(state, operation, ptr, detectedAt));
    }

    /// <summary>Builds the error for a pointer that is not a live block, with all the heap and its observer know.</summary>
    internal MemoryError DescribeBadPointer(BlockState state, AllocationMethod operation, void* ptr, CallSite? detectedAt)
    {
        var address = (nuint)ptr;
        var region = FindRegion(ptr);
        var isRealloc = operation is AllocationMethod.Realloc or AllocationMethod.ReallocPrefer or AllocationMethod.ReallocDefault;
        var kind = state switch
        {
            BlockState.Freed => isRealloc ? MemoryErrorKind.ReallocOfFreedBlock : MemoryErrorKind.DoubleFree,
            BlockState.Outside => MemoryErrorKind.OutsideHeap,
            BlockState.DamagedHeader => MemoryErrorKind.CorruptBlock,
            _ => MemoryErrorKind.InvalidPointer,
        };

        nuint containerAddress = 0, containerSize = 0;
        uint containerTag = 0;
        if (kind == MemoryErrorKind.InvalidPointer && region is not null && FindContainingBlock(region, address, out containerAddress, out containerSize, out containerTag))
        {
            kind = MemoryErrorKind.InteriorPointer;
        }

        var error = new MemoryError(kind, operation, address)
        {
            DetectedAt = detectedAt,
            RegionName = region?.Name,
            Note = kind switch
            {
                MemoryErrorKind.InvalidPointer when region is { IsUnbounded: true } => HostLimitsNote,
                MemoryErrorKind.CorruptBlock => "The block's allocator header was overwritten (an overrun of the block before it?); the block is left as it is. Poisoning (Light) catches such overruns when they happen.",
                _ => null,
            },

            BlockAddress = kind switch
            {
                MemoryErrorKind.InteriorPointer => containerAddress,
                MemoryErrorKind.CorruptBlock => address,
                _ => null,
            },
            BlockSize = kind == MemoryErrorKind.InteriorPointer ? containerSize : null,
        };

        var observer = _observer;
        return observer is null ? error : observer.Describe(error, containerTag, witness: null);
    }

    /// <summary>
    /// Reports every corruption the regions have found, as detected by the operation in progress on this thread (or by
    /// the integrity check <paramref name="when"/> says ran). All are recorded, written and raised before the policy is
    /// applied, to the first: under <see cref="MemoryErrorPolicy.Throw"/> none is lost.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void DrainCorruptions(AllocationMethod operation, string? when = null)
    {
        _corruptions.Reset();
        MemoryError? first = null;
        string? firstText = null;
        foreach (var region in _set.Ordered)
        {
            if (!region.HasPendingCorruptions)
            {
                continue;
            }

            foreach (var corruption in region.TakePendingCorruptions())
            {
                var error = DescribeCorruption(region, corruption, operation, when);
                var text = Publish(error);
                if (first is null)
                {
                    first = error;
                    firstText = text;
                }
            }
        }

        if (first is not null)
        {
            ApplyPolicy(first, firstText!);
        }
    }

    /// <summary>Builds the error for a corruption, with the call in progress and what the tracker knows of the block.</summary>
    private MemoryError DescribeCorruption(Region region, CorruptionInfo corruption, AllocationMethod operation, string? when)
    {
        var siteId = Internals.CallSiteContext.Current;
        var site = siteId != 0 ? Tracking.CallSiteRegistry.Get(siteId) : (CallSite?)null;
        var error = new MemoryError(corruption.Kind, operation == AllocationMethod.CheckIntegrity || site is null ? operation : site.Value.Method, corruption.Address)
        {
            DetectedAt = site,
            DetectedWhen = when,
            RegionName = region.Name,
            BlockAddress = corruption.KnowsBlock ? corruption.Address : null,
            BlockSize = corruption.KnowsBlock ? corruption.Size : null,
            DamagedAddress = corruption.DamagedAddress,
            ExpectedBytes = corruption.Expected,
            FoundBytes = corruption.Found,
            FreeMemoryAddress = corruption.FreeMemoryAddress,
            FreeMemorySize = corruption.FreeMemorySize,
            Note = corruption.Message,
        };

        var observer = _observer;
        if (observer is null || !corruption.KnowsBlock || (corruption.Tag == 0 && corruption.Witness is null))
        {
            return error;
        }

        error = observer.Describe(error, corruption.Tag, corruption.Witness);
        if (corruption.SizeFieldAddress is { } field && error.Block is { } block && block.Size <= uint.MaxValue)
        {
            // The poison head keeps the size in 32 bits; the tracker knows what it should be.
            var expected = BitConverter.GetBytes((uint)block.Size);
            var found = BitConverter.GetBytes(corruption.SizeFieldValue);
            var first = CorruptionInfo.FirstDamagedByte(expected, found);

            error = error with
            {
                DamagedAddress = field + (nuint)first,
                ExpectedBytes = expected[first..],
                FoundBytes = found[first..],
            };
        }

        return error;
    }

    /// <summary>Searches a region's live blocks for one that contains <paramref name="address"/> (error path only: O(live blocks)).</summary>
    private static bool FindContainingBlock(Region region, nuint address, out nuint blockAddress, out nuint blockSize, out uint tag)
    {
        nuint foundAddress = 0, foundSize = 0;
        uint foundTag = 0;
        region.ForEachLiveBlock((start, size, blockTag) =>
        {
            if (address > start && address - start < size)
            {
                foundAddress = start;
                foundSize = size;
                foundTag = blockTag;
            }
        });

        blockAddress = foundAddress;
        blockSize = foundSize;
        tag = foundTag;
        return foundAddress != 0;
    }
}

// AllocationRecord: the seed's MemoryTraceInfo as data, one per live block or failed request.
using System.Diagnostics;

namespace MemTrace;

/// <summary>
/// What a <see cref="MemoryTracker"/> knows of one block or one failed request: the seed's
/// <c>MemoryTraceInfo</c> (file, line, function, variable, size, caps, method, address,
/// failure) plus a request number, the allocating thread and a timestamp.
/// </summary>
/// <remarks>
/// After a successful realloc, <see cref="Address"/> and <see cref="Size"/> describe the new
/// block, the source fields still name where the block was first allocated, and
/// <see cref="ReallocatedAt"/> names the latest realloc.
/// </remarks>
public sealed record AllocationRecord
{
    /// <summary>Where the block was allocated (or the failed request was made).</summary>
    public required CallSite AllocatedAt { get; init; }

    /// <summary>The latest realloc of the block, if any.</summary>
    public CallSite? ReallocatedAt { get; init; }

    /// <summary>Source file of the allocation, or null for blocks allocated through <see cref="HeapCaps"/> directly.</summary>
    public string? File => AllocatedAt.File;

    /// <summary>Source line of the allocation, 0 when unknown.</summary>
    public int Line => AllocatedAt.Line;

    /// <summary>Calling member of the allocation, or null.</summary>
    public string? Function => AllocatedAt.Function;

    /// <summary>The variable that received the pointer, or null when the call had none.</summary>
    public string? VariableName => AllocatedAt.VariableName;

    /// <summary>The method that made the block.</summary>
    public AllocationMethod Method => AllocatedAt.Method;

    /// <summary>The C name of <see cref="Method"/>, as the seed logs it (<c>heap_caps_malloc</c>, …).</summary>
    public string MethodName => Method.ToCName();

    /// <summary>Requested size in bytes (for calloc, n × size; <see cref="nuint.MaxValue"/> for a failed calloc whose n × size overflows).</summary>
    public required nuint Size { get; init; }

    /// <summary>Requested capabilities.</summary>
    public required MallocCaps Caps { get; init; }

    /// <summary>Address of the block; 0 for a failed request.</summary>
    public required nuint Address { get; init; }

    /// <summary>True for a request that failed (the seed's <c>failure</c> field).</summary>
    public bool Failure { get; init; }

    /// <summary>True for a failed request that the tracker's <see cref="MemoryTracker.AllocationHook"/> refused (an injected failure): the heap's regions were not asked (its failure callback ran, as for a real failure).</summary>
    public bool Refused { get; init; }

    /// <summary>The request number: 1, 2, 3, … per tracker (see <see cref="MemoryTracker"/> for the order across threads).</summary>
    public required long RequestNumber { get; init; }

    /// <summary>Managed thread id of the allocating thread.</summary>
    public required int ThreadId { get; init; }

    /// <summary>When the request was made, to within a few milliseconds (see <see cref="MemoryTracker"/>).</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>
    /// The managed stack of the allocation, from the caller of the tracker down, at most
    /// <see cref="MemoryTrackerOptions.StackTraceDepth"/> frames without file information; null when
    /// stack capture is off (the default).
    /// </summary>
    public StackTrace? StackTrace { get; init; }
}

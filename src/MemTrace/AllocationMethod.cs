// AllocationMethod: which heap_caps_* entry point made or released a block; the seed's
// MemoryTraceInfo.method string, as an enum with the C names kept for printing.
namespace MemTrace;

/// <summary>The <c>heap_caps_*</c> function behind an allocation record or a call site.</summary>
/// <remarks><see cref="AllocationMethodExtensions.ToCName(AllocationMethod)"/> gives the C name the seed logs, e.g. <c>heap_caps_malloc</c>.</remarks>
public enum AllocationMethod : byte
{
    /// <summary>Not known.</summary>
    Unknown = 0,

    /// <summary><c>heap_caps_malloc</c>.</summary>
    Malloc,

    /// <summary><c>heap_caps_calloc</c>.</summary>
    Calloc,

    /// <summary><c>heap_caps_realloc</c>.</summary>
    Realloc,

    /// <summary><c>heap_caps_aligned_alloc</c>.</summary>
    AlignedAlloc,

    /// <summary><c>heap_caps_aligned_calloc</c>.</summary>
    AlignedCalloc,

    /// <summary><c>heap_caps_malloc_prefer</c>.</summary>
    MallocPrefer,

    /// <summary><c>heap_caps_calloc_prefer</c>.</summary>
    CallocPrefer,

    /// <summary><c>heap_caps_realloc_prefer</c>.</summary>
    ReallocPrefer,

    /// <summary><c>heap_caps_malloc_default</c>: what <c>malloc()</c> calls on the chip.</summary>
    MallocDefault,

    /// <summary><c>heap_caps_realloc_default</c>: what <c>realloc()</c> calls on the chip.</summary>
    ReallocDefault,

    /// <summary><c>heap_caps_free</c>, or the seed's <c>free_unregister_allocation</c> when it comes from a tracker.</summary>
    Free,

    /// <summary><c>heap_caps_aligned_alloc_default</c>: what <c>memalign()</c>, <c>aligned_alloc()</c> and <c>posix_memalign()</c> call on the chip.</summary>
    AlignedAllocDefault,
    /// <summary><c>heap_caps_check_integrity</c>: an integrity check, the one a program calls or one MemTrace runs itself (periodic, at a tracker's disposal); it detects errors, it makes no blocks.</summary>
    CheckIntegrity,
}

/// <summary>C names of <see cref="AllocationMethod"/> values.</summary>
public static class AllocationMethodExtensions
{
    /// <summary>The C function name, e.g. <c>heap_caps_calloc</c>; <c>unknown</c> for <see cref="AllocationMethod.Unknown"/>.</summary>
    /// <param name="method">The method.</param>
    /// <returns>The C name.</returns>
    public static string ToCName(this AllocationMethod method) => method switch
    {
        AllocationMethod.Malloc => "heap_caps_malloc",
        AllocationMethod.Calloc => "heap_caps_calloc",
        AllocationMethod.Realloc => "heap_caps_realloc",
        AllocationMethod.AlignedAlloc => "heap_caps_aligned_alloc",
        AllocationMethod.AlignedCalloc => "heap_caps_aligned_calloc",
        AllocationMethod.MallocPrefer => "heap_caps_malloc_prefer",
        AllocationMethod.CallocPrefer => "heap_caps_calloc_prefer",
        AllocationMethod.ReallocPrefer => "heap_caps_realloc_prefer",
        AllocationMethod.MallocDefault => "heap_caps_malloc_default",
        AllocationMethod.ReallocDefault => "heap_caps_realloc_default",
        AllocationMethod.Free => "heap_caps_free",
        AllocationMethod.AlignedAllocDefault => "heap_caps_aligned_alloc_default",
        AllocationMethod.CheckIntegrity => "heap_caps_check_integrity",
        _ => "unknown",
    };
}

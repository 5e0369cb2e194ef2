// HeapWalker and its arguments: ESP-IDF's heap_caps_walk callback with walker_heap_into_t and
// walker_block_info_t.
namespace MemTrace;

/// <summary>The region being walked (ESP-IDF's <c>walker_heap_into_t</c>).</summary>
/// <param name="Name">The region's name.</param>
/// <param name="Start">First address of the region.</param>
/// <param name="End">End of the region, exclusive.</param>
public readonly record struct HeapWalkRegion(string Name, nuint Start, nuint End);

/// <summary>One block of a walk (ESP-IDF's <c>walker_block_info_t</c>): the raw allocator block, header and debug overhead included.</summary>
/// <param name="Address">The raw block's address.</param>
/// <param name="Size">The raw block's size.</param>
/// <param name="Used">Whether the block is allocated.</param>
public readonly record struct HeapWalkBlock(nuint Address, nuint Size, bool Used);

/// <summary>Called for every block of a walk; return false to stop walking the current region (the walk goes on with the next).</summary>
/// <param name="region">The region.</param>
/// <param name="block">The block.</param>
/// <returns>True to continue with this region.</returns>
/// <remarks>
/// <para>The walker runs under the region's lock: it must not allocate or free on the heap being walked (that throws a
/// <see cref="LockRecursionException"/>). It may query it (statistics, <c>GetAllocatedSize</c>, integrity checks), as
/// ESP-IDF's recursive heap lock allows.</para>
/// <para>As in ESP-IDF, a block whose header is corrupt is passed on with the size its header holds, which may run past
/// <see cref="HeapWalkRegion.End"/> (test_walker.c recognises a corrupt heap that way): never read through such a block.
/// That block ends its region's walk, whatever the walker returns (ESP-IDF would follow the bad size).</para>
/// </remarks>
public delegate bool HeapWalker(HeapWalkRegion region, HeapWalkBlock block);

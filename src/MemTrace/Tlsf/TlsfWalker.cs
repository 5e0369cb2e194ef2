// TlsfWalker: the callback of TlsfHeap.Walk, tlsf_walk_pool's walker with ESP-IDF's bool result
// (multi_heap_walker_cb_t): the block's data pointer, its size (flags removed) and whether it is used.
namespace MemTrace.Tlsf;

/// <summary>Visits one physical block in address order; return false to stop the walk.</summary>
/// <param name="block">The block's data address (block_to_ptr: header + 8).</param>
/// <param name="size">block_size(): the data bytes of the block.</param>
/// <param name="used">Whether the block is allocated.</param>
internal delegate bool TlsfWalker(nuint block, nuint size, bool used);

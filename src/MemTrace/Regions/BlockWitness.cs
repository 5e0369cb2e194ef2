// BlockWitness: what the heap's observer (a tracker) knew of a block when the block left its
// owner but stayed in the heap's care: freed into the quarantine, or freed on a region whose free
// memory is verified. A copy, not a reference: the tracker reuses a record handle soon after its
// block is freed (after some 64 to 256 allocations on a thread), while the quarantine keeps a block
// for up to 1024 frees, so a report made when the block leaves must not read the record again.
using System.Diagnostics;
using MemTrace.Tracking;

namespace MemTrace.Regions;

/// <summary>A copy of an observer's record of a freed block: its allocation and the free that let it go.</summary>
/// <param name="Record">The record as freed: address, size, request number, allocation site, and the free's site and thread.</param>
/// <param name="Stack">The allocation's kept stack, or null.</param>
internal readonly record struct BlockWitness(TrackedRecord Record, StackFrame[]? Stack);

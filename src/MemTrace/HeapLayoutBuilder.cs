// HeapLayoutBuilder: builds a custom HeapLayout, checking every argument as it comes.
using System.Numerics;
using MemTrace.Regions;

namespace MemTrace;

/// <summary>Builds a <see cref="HeapLayout"/>. Get one from <see cref="HeapLayout.CreateBuilder(string)"/>.</summary>
public sealed class HeapLayoutBuilder
{
    private readonly string _name;
    private readonly List<HeapRegionLayout> _regions = [];
    private nuint _alignment = 16;
    private nuint _maxAllocationSize = HostRegion.MaxRequest;
    private bool _built;

    internal HeapLayoutBuilder(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _name = name;
    }

    /// <summary>Sets the alignment of plain allocations (default 16).</summary>
    /// <param name="alignment">A power of two, at least 4.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The alignment is not a power of two of at least 4.</exception>
    public HeapLayoutBuilder WithAlignment(nuint alignment)
    {
        if (alignment < 4 || !BitOperations.IsPow2((ulong)alignment))
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "The alignment must be a power of two of at least 4.");
        }

        _alignment = alignment;
        return this;
    }

    /// <summary>Sets the largest request accepted (ESP-IDF's <c>HEAP_SIZE_MAX</c>); larger requests fail.</summary>
    /// <param name="maxAllocationSize">The limit in bytes, at least 1.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The limit is 0.</exception>
    public HeapLayoutBuilder WithMaxAllocationSize(nuint maxAllocationSize)
    {
        ArgumentOutOfRangeException.ThrowIfZero(maxAllocationSize);
        _maxAllocationSize = Math.Min(maxAllocationSize, HostRegion.MaxRequest);
        return this;
    }

    /// <summary>Adds a region backed by the process heap.</summary>
    /// <param name="name">The region's name.</param>
    /// <param name="caps0">Capabilities at priority 0.</param>
    /// <param name="caps1">Capabilities at priority 1.</param>
    /// <param name="caps2">Capabilities at priority 2.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">The name is empty, or the region offers no capability.</exception>
    public HeapLayoutBuilder AddHostRegion(string name, MallocCaps caps0, MallocCaps caps1 = MallocCaps.None, MallocCaps caps2 = MallocCaps.None)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if ((caps0 | caps1 | caps2) == MallocCaps.None)
        {
            throw new ArgumentException("A region must offer at least one capability.", nameof(caps0));
        }

        if (((caps0 | caps1 | caps2) & MallocCaps.Invalid) != 0)
        {
            throw new ArgumentException("No region may offer MALLOC_CAP_INVALID.", nameof(caps0));
        }

        _regions.Add(new HeapRegionLayout(name, HeapRegionKind.Host, 0, caps0, caps1, caps2));
        return this;
    }

    /// <summary>Builds the layout. A builder builds once.</summary>
    /// <returns>The layout.</returns>
    /// <exception cref="InvalidOperationException">No region was added, or the builder already built a layout.</exception>
    public HeapLayout Build()
    {
        if (_built)
        {
            throw new InvalidOperationException("This builder has already built a layout.");
        }

        if (_regions.Count == 0)
        {
            throw new InvalidOperationException("A layout needs at least one region.");
        }

        _built = true;
        return new HeapLayout(_name, _regions.AsReadOnly(), _alignment, _maxAllocationSize);
    }
}

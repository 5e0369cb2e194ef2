// CallSiteContext: the call site of the tracked operation in progress on this thread, for heaps
// whose regions check blocks (poisoning): a corruption they find during a free or a malloc is
// reported as detected by that call. Set only when the heap has such regions, so heaps without
// poisoning never pay for it.
namespace MemTrace.Internals;

internal static class CallSiteContext
{
    [ThreadStatic]
    private static uint t_site;

    /// <summary>The interned call-site id of the operation in progress on this thread; 0 for none.</summary>
    public static uint Current
    {
        get => t_site;
        set => t_site = value;
    }
}

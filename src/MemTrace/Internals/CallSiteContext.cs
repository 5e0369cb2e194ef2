// CallSiteContext: the call site of the tracked operation in progress on this thread, for heaps
// whose regions check blocks (poisoning): a corruption they find during a free or a malloc is
// reported as detected by that call. Set only when the heap has such regions, so heaps without
// poisoning never pay for it. User code that runs in the middle of a tracked operation (a failure
// callback, an error handler, an allocation hook or break callback) runs with no site: a call it
// makes on a heap directly, this heap or another, is its own, not the tracked operation's.
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

    /// <summary>Clears the site before user code runs inside a tracked operation; give the result back to <see cref="Current"/> after it.</summary>
    /// <returns>The site to restore.</returns>
    public static uint Suspend()
    {
        var site = t_site;
        t_site = 0;
        return site;
    }
}

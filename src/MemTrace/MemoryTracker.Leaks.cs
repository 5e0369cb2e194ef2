// Leak reports: the CRT's _CrtDumpMemoryLeaks and LeakSanitizer's report for the blocks allocated
// since a checkpoint, a unit-test assertion that fails with that report, and the optional report
// at shutdown or process exit (the CRT's _CRTDBG_LEAK_CHECK_DF).
using MemTrace.Diagnostics;

namespace MemTrace;

public sealed unsafe partial class MemoryTracker
{
    /// <summary>
    /// The blocks still live that were allocated since <paramref name="since"/> (since the tracker was
    /// created when null) and before <paramref name="until"/> (when given), grouped by call site.
    /// </summary>
    /// <param name="since">Where the window starts; null for the tracker's creation.</param>
    /// <param name="until">Where it ends; null for now.</param>
    /// <returns>The report; print it with <see cref="LeakReport.ToString"/>.</returns>
    /// <exception cref="ArgumentException">A checkpoint belongs to another tracker, or <paramref name="until"/> was taken before <paramref name="since"/>.</exception>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public LeakReport GetLeakReport(MemoryCheckpoint? since = null, MemoryCheckpoint? until = null)
    {
        ValidateWindow(since, until, nameof(since), nameof(until));
        ThrowIfDisposed();
        return LeakReport.Build(since, until, LiveInWindow(since, until));
    }

    /// <summary>
    /// Prints the leak report of the blocks allocated since <paramref name="since"/> and still live (the
    /// CRT's <c>_CrtDumpMemoryLeaks</c>), and returns it. Prints one line when nothing leaked.
    /// </summary>
    /// <param name="since">Where the window starts; null for the tracker's creation.</param>
    /// <param name="output">Where to print; null for <see cref="Output"/>.</param>
    /// <returns>The report (<see cref="LeakReport.HasLeaks"/> is what <c>_CrtDumpMemoryLeaks</c> returns).</returns>
    /// <exception cref="ArgumentException"><paramref name="since"/> belongs to another tracker.</exception>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public LeakReport DumpMemoryLeaks(MemoryCheckpoint? since = null, TextWriter? output = null)
    {
        var report = GetLeakReport(since);
        Write(output ?? Output, report.ToString());
        return report;
    }

    /// <summary>
    /// For unit tests: throws a <see cref="MemoryLeakException"/> carrying the leak report when any block
    /// allocated since <paramref name="checkpoint"/> is still live; returns quietly otherwise.
    /// </summary>
    /// <param name="checkpoint">Taken at the start of the code under test.</param>
    /// <exception cref="MemoryLeakException">Blocks leaked; its message is the report, its <see cref="MemoryLeakException.Report"/> the data.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="checkpoint"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="checkpoint"/> belongs to another tracker.</exception>
    /// <exception cref="ObjectDisposedException">The tracker was disposed.</exception>
    public void AssertNoLeaksSince(MemoryCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ValidateWindow(checkpoint, null);
        var report = GetLeakReport(checkpoint);
        if (report.HasLeaks)
        {
            throw new MemoryLeakException(report);
        }
    }

    /// <summary>The report of every block still live, written at disposal when the option asks for it.</summary>
    private void WriteShutdownLeakReport()
    {
        try
        {
            Write(Output, LeakReport.Build(null, null, LiveInWindow(null, null)).ToString());
        }
        catch (Exception e)
        {
            // Whatever the user's writer throws: Dispose must go on and let go of the heap, and an exception out
            // of a ProcessExit handler would end the process with it.
            SelfLog.WriteLine($"MemTrace: could not write the leak report at shutdown: {SelfLog.MessageOf(e)}");
        }
    }

    /// <summary>At process exit, for a tracker never disposed: the leak report of every block still live.</summary>
    private void OnProcessExit(object? sender, EventArgs e)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            WriteShutdownLeakReport();
        }
    }
}

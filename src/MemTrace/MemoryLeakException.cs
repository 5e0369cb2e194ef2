// MemoryLeakException: how MemoryTracker.AssertNoLeaksSince fails a unit test: the message is the
// whole leak report, so a test runner shows every leaked block and its call site.
namespace MemTrace;

/// <summary>Thrown by <see cref="MemoryTracker.AssertNoLeaksSince(MemoryCheckpoint)"/> when blocks leaked; the message is the leak report.</summary>
public sealed class MemoryLeakException : Exception
{
    /// <summary>Creates the exception for a report.</summary>
    /// <param name="report">The leak report.</param>
    /// <exception cref="ArgumentNullException"><paramref name="report"/> is null.</exception>
    public MemoryLeakException(LeakReport report)
        : base((report ?? throw new ArgumentNullException(nameof(report))).ToString()) => Report = report;

    /// <summary>Creates an exception with no report (for serializers and tests).</summary>
    public MemoryLeakException()
        : base("Memory leaked.") => Report = null;

    /// <summary>Creates an exception with a message and no report.</summary>
    /// <param name="message">The message.</param>
    public MemoryLeakException(string message)
        : base(message) => Report = null;

    /// <summary>Creates an exception with a message, an inner exception and no report.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception.</param>
    public MemoryLeakException(string message, Exception innerException)
        : base(message, innerException) => Report = null;

    /// <summary>The leak report, or null when created without one.</summary>
    public LeakReport? Report { get; }
}

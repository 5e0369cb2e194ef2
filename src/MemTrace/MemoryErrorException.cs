// MemoryErrorException: the exception of the Throw error policy.
namespace MemTrace;

/// <summary>Thrown under <see cref="MemoryErrorPolicy.Throw"/> when a memory error is detected.</summary>
public sealed class MemoryErrorException : Exception
{
    /// <summary>Creates the exception for a detected error.</summary>
    /// <param name="error">The error report.</param>
    public MemoryErrorException(MemoryError error)
        : base((error ?? throw new ArgumentNullException(nameof(error))).Message) => Error = error;

    /// <summary>Creates an exception with no report (for serializers and tests).</summary>
    public MemoryErrorException()
        : base("A memory error was detected.") => Error = null;

    /// <summary>Creates an exception with a message and no report.</summary>
    /// <param name="message">The message.</param>
    public MemoryErrorException(string message)
        : base(message) => Error = null;

    /// <summary>Creates an exception with a message, an inner exception and no report.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception.</param>
    public MemoryErrorException(string message, Exception innerException)
        : base(message, innerException) => Error = null;

    /// <summary>The full report of the error, or null when created without one.</summary>
    public MemoryError? Error { get; }
}

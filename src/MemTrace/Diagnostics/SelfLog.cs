// SelfLog: where MemTrace reports its own trouble (a sink that threw, a trace file that could not
// be written), as Serilog's SelfLog does: off by default, enabled with a writer or a callback.
namespace MemTrace.Diagnostics;

/// <summary>MemTrace's own diagnostic output: failures of sinks and writers, which must never break an allocation.</summary>
public static class SelfLog
{
    private static Action<string>? s_output;

    /// <summary>Sends self-log messages to <paramref name="output"/> (synchronised).</summary>
    /// <param name="output">The writer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    public static void Enable(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var synchronised = TextWriter.Synchronized(output);
        s_output = message =>
        {
            synchronised.WriteLine(message);
            synchronised.Flush();
        };
    }

    /// <summary>Sends self-log messages to <paramref name="output"/>.</summary>
    /// <param name="output">The callback.</param>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    public static void Enable(Action<string> output) => s_output = output ?? throw new ArgumentNullException(nameof(output));

    /// <summary>Stops self-log output.</summary>
    public static void Disable() => s_output = null;

    /// <summary>Writes a message, with a UTC timestamp, when the self-log is enabled. Never throws.</summary>
    /// <param name="message">The message.</param>
    public static void WriteLine(string message)
    {
        var output = s_output;
        if (output is null)
        {
            return;
        }

        try
        {
            output(DateTimeOffset.UtcNow.ToString("o", System.Globalization.CultureInfo.InvariantCulture) + " " + message);
        }
        catch (Exception)
        {
            // The self-log is the last resort: nowhere is left to report its own failure.
        }
    }

    /// <summary>The exception's full text (type, message, stack); its type's name when formatting it throws, so that reporting it cannot throw.</summary>
    internal static string Describe(Exception e)
    {
        try
        {
            return e.ToString();
        }
        catch (Exception)
        {
            return e.GetType().FullName + " (its message could not be read)";
        }
    }

    /// <summary>The exception's message; its type's name when the message cannot be read (a Message getter that throws).</summary>
    internal static string MessageOf(Exception e)
    {
        try
        {
            return e.Message;
        }
        catch (Exception)
        {
            return e.GetType().FullName + " (its message could not be read)";
        }
    }
}

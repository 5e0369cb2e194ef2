// The SelfLog is global static state: every test that enables it runs in this collection, one
// at a time and after the parallel tests, so that no test sees another's messages.
using MemTrace.Diagnostics;
using Xunit;

namespace MemTrace.Tests.Diagnostics;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SelfLogCollection
{
    public const string Name = "SelfLog";

    /// <summary>Runs <paramref name="body"/> with the SelfLog captured; returns the messages.</summary>
    public static List<string> Capture(Action body)
    {
        var messages = new List<string>();
        SelfLog.Enable(m =>
        {
            lock (messages)
            {
                messages.Add(m);
            }
        });
        try
        {
            body();
        }
        finally
        {
            SelfLog.Disable();
        }

        lock (messages)
        {
            return [.. messages];
        }
    }
}

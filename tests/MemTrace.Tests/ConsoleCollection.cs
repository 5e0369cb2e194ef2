// Console.Out is global static state: a test that redirects it runs in this collection, alone
// and after the parallel tests, so that no other test writes into its capture or loses its output.
using Xunit;

namespace MemTrace.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "Console";

    /// <summary>Runs <paramref name="body"/> with Console.Out captured; returns what it wrote.</summary>
    public static string Capture(Action body)
    {
        var previous = Console.Out;
        using var writer = new StringWriter();
        Console.SetOut(writer);
        try
        {
            body();
        }
        finally
        {
            Console.SetOut(previous);
        }

        return writer.ToString();
    }
}

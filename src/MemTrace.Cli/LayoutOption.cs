// The --layout option shared by commands: a built-in layout name or a layout file.
using System.CommandLine;

namespace MemTrace.Cli;

internal static class LayoutOption
{
    public const string DefaultName = "esp32-psram4m";

    public static Option<string> Create() => new("--layout", "-l")
    {
        Description = $"Memory map: {string.Join(" | ", HeapLayout.BuiltInNames)} | a layout JSON file (see docs/layouts.md).",
        DefaultValueFactory = _ => DefaultName,
    };

    /// <summary>Resolves a name or a file; on failure writes why and returns null.</summary>
    public static HeapLayout? Resolve(string value, TextWriter error)
    {
        if (HeapLayout.TryFromName(value, out var layout))
        {
            return layout;
        }

        if (!File.Exists(value))
        {
            error.WriteLine($"memtrace: '{value}' is neither a built-in layout ({string.Join(", ", HeapLayout.BuiltInNames)}) nor a layout file.");
            return null;
        }

        try
        {
            return HeapLayout.Load(value);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error.WriteLine($"memtrace: cannot use layout file '{value}': {e.Message}");
            return null;
        }
    }
}

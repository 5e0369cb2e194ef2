// The layout file: a HeapLayout as JSON, for the memtrace command line and for tests of custom
// boards. Read with JsonDocument (no reflection, trimming- and AOT-safe); every error names the
// JSON path of the bad value. Strict: a field this format does not know (a misspelling such as
// "Alignment"), a field given twice, or a value of the wrong type is an error, never ignored.
//
// {
//   "name": "my-board",
//   "alignment": 4,                          optional: 4, 8 or 16; default 16 (HeapLayoutBuilder.DefaultAlignment)
//   "maxAllocationSize": 4194304,            optional
//   "externalMemoryAlwaysInternalLimit": 16384, optional
//   "cacheLines": { "internal": 0, "external": 4 }, optional: 0 or powers of two; default 0 and 32
//   "regions": [
//     { "name": "DRAM", "size": 184632, "caps": ["8BIT|DEFAULT", "INTERNAL|DMA|32BIT", "0"] },
//     { "name": "SPIRAM", "size": 4194304, "caps": ["SPIRAM|DEFAULT", "", "8BIT|32BIT"], "addedAtRuntime": true },
//     { "name": "host", "kind": "host", "caps": ["8BIT|DEFAULT"] }
//   ]
// }
using System.Text.Json;

namespace MemTrace;

public sealed partial class HeapLayout
{
    /// <summary>Reads a layout file (see docs/layouts.md for the format).</summary>
    /// <param name="path">The file.</param>
    /// <returns>The layout.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="DirectoryNotFoundException">A directory of the path does not exist.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="FormatException">The file is not a valid layout (or is larger than <see cref="MaxLayoutFileBytes"/>); the message names the bad value.</exception>
    public static HeapLayout Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = File.OpenRead(path);
        if (file.Length > MaxLayoutFileBytes)
        {
            throw new FormatException($"The layout file is {file.Length} bytes; a layout file is at most {MaxLayoutFileBytes} bytes.");
        }

        using var reader = new StreamReader(file);
        return FromJson(reader.ReadToEnd());
    }

    /// <summary>The largest layout file <see cref="Load"/> reads: 16 MiB, far more than any memory map needs (a region takes under 100 bytes).</summary>
    public const int MaxLayoutFileBytes = 16 << 20;

    /// <summary>Parses a layout from JSON (see docs/layouts.md for the format).</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The layout.</returns>
    /// <exception cref="FormatException">The text is not a valid layout; the message names the bad value.</exception>
    public static HeapLayout FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new FormatException($"The layout is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            try
            {
                return Parse(document.RootElement);
            }
            catch (ArgumentException e)
            {
                throw new FormatException("Invalid layout: " + e.Message, e);
            }
            catch (InvalidOperationException e)
            {
                // A safety net: JsonElement's readers throw it for content they cannot convert.
                throw new FormatException("Invalid layout: " + e.Message, e);
            }
        }
    }

    private static HeapLayout Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("$: a layout must be a JSON object.");
        }

        CheckFields(root, "$", s_layoutFields);
        var builder = CreateBuilder(RequiredString(root, "name", "$.name"));
        var alignment = OptionalSize(root, "alignment", "$.alignment") ?? HeapLayoutBuilder.DefaultAlignment;
        if (HeapLayoutBuilder.AlignmentError(alignment) is { } alignmentError)
        {
            throw new FormatException($"$.alignment: {alignmentError}");
        }

        builder.WithAlignment(alignment);
        if (OptionalSize(root, "maxAllocationSize", "$.maxAllocationSize") is { } max)
        {
            builder.WithMaxAllocationSize(max);
        }

        // 0 is a valid threshold (CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL's range is 0 to 131072): every malloc() prefers PSRAM.
        builder.WithExternalMemoryAlwaysInternalLimit(OptionalSize(root, "externalMemoryAlwaysInternalLimit", "$.externalMemoryAlwaysInternalLimit", allowZero: true));
        if (root.TryGetProperty("cacheLines", out var cacheLines))
        {
            ParseCacheLines(cacheLines, builder);
        }

        if (!root.TryGetProperty("regions", out var regions) || regions.ValueKind != JsonValueKind.Array || regions.GetArrayLength() == 0)
        {
            throw new FormatException("$.regions: a non-empty array of regions is required.");
        }

        var index = 0;
        foreach (var region in regions.EnumerateArray())
        {
            var path = $"$.regions[{index++}]";
            if (region.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{path}: a region must be a JSON object.");
            }

            CheckFields(region, path, s_regionFields);
            var name = RequiredString(region, "name", path + ".name");
            var caps = ParseCaps(region, path);
            var kind = !region.TryGetProperty("kind", out var kindElement) ? "tlsf"
                : kindElement.ValueKind == JsonValueKind.String ? Text(kindElement, path + ".kind").ToLowerInvariant()
                : throw new FormatException($"{path}.kind: a region kind is \"tlsf\" or \"host\", not {kindElement.GetRawText()}.");
            try
            {
                switch (kind)
                {
                    case "tlsf":
                        var size = OptionalSize(region, "size", path + ".size") ?? throw new FormatException($"{path}.size: a TLSF region needs a size in bytes.");
                        if (HeapLayoutBuilder.RegionSizeError(size) is { } sizeError)
                        {
                            throw new FormatException($"{path}.size: {sizeError}");
                        }

                        var runtime = region.TryGetProperty("addedAtRuntime", out var runtimeElement) && runtimeElement.ValueKind switch
                        {
                            JsonValueKind.True => true,
                            JsonValueKind.False => false,
                            _ => throw new FormatException($"{path}.addedAtRuntime: true or false is required, not {runtimeElement.GetRawText()}."),
                        };
                        builder.AddRegion(name, size, caps[0], caps[1], caps[2], runtime);
                        break;
                    case "host":
                        foreach (var field in (ReadOnlySpan<string>)["size", "addedAtRuntime"])
                        {
                            if (region.TryGetProperty(field, out _))
                            {
                                throw new FormatException($"{path}.{field}: a host region (the process heap) takes no {field}.");
                            }
                        }

                        builder.AddHostRegion(name, caps[0], caps[1], caps[2]);
                        break;
                    default:
                        throw new FormatException($"{path}.kind: '{kind}' is not a region kind (tlsf or host).");
                }
            }
            catch (ArgumentException e)
            {
                // What the builder refuses (no capability, MALLOC_CAP_INVALID), with the region's path.
                throw new FormatException($"{path}: {Reason(e)}", e);
            }
        }

        return builder.Build();
    }

    private static MallocCaps[] ParseCaps(JsonElement region, string path)
    {
        if (!region.TryGetProperty("caps", out var capsElement) || capsElement.ValueKind != JsonValueKind.Array
            || capsElement.GetArrayLength() is 0 or > HeapRegionLayout.PriorityCount)
        {
            throw new FormatException($"{path}.caps: an array of 1 to 3 capability sets (priority 0 first) is required.");
        }

        var caps = new MallocCaps[HeapRegionLayout.PriorityCount];
        var priority = 0;
        foreach (var entry in capsElement.EnumerateArray())
        {
            var text = entry.ValueKind switch
            {
                JsonValueKind.String => Text(entry, $"{path}.caps[{priority}]"),
                JsonValueKind.Number => entry.GetRawText(),
                _ => throw new FormatException($"{path}.caps[{priority}]: capabilities are a string such as \"8BIT|DEFAULT\" or a number."),
            };
            if (!MallocCapsExtensions.TryParse(text, out caps[priority], out var error))
            {
                throw new FormatException($"{path}.caps[{priority}]: {error}.");
            }

            priority++;
        }

        return caps;
    }

    /// <summary>An argument exception's message without the parameter name and value .NET appends to it.</summary>
    private static string Reason(ArgumentException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return cut >= 0 ? message[..cut] : message;
    }

    private static readonly string[] s_layoutFields = ["name", "alignment", "maxAllocationSize", "externalMemoryAlwaysInternalLimit", "cacheLines", "regions"];
    private static readonly string[] s_regionFields = ["name", "kind", "size", "caps", "addedAtRuntime"];
    private static readonly string[] s_cacheLineFields = ["internal", "external"];

    /// <summary>Refuses a field the format does not know (a misspelling would otherwise be ignored) and a field given twice (the last would win).</summary>
    private static void CheckFields(JsonElement element, string path, string[] known)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            var name = property.Name;
            if (Array.IndexOf(known, name) < 0)
            {
                var hint = Array.Find(known, k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) is { } near ? $" (did you mean \"{near}\"?)" : "";
                throw new FormatException($"{path}: unknown field \"{name}\"{hint}; the fields are {string.Join(", ", known)}.");
            }

            if (!seen.Add(name))
            {
                throw new FormatException($"{path}.{name}: the field is given twice.");
            }
        }
    }

    private static void ParseCacheLines(JsonElement cacheLines, HeapLayoutBuilder builder)
    {
        if (cacheLines.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("$.cacheLines: an object such as { \"internal\": 0, \"external\": 4 } is required.");
        }

        CheckFields(cacheLines, "$.cacheLines", s_cacheLineFields);
        var internalLine = OptionalSize(cacheLines, "internal", "$.cacheLines.internal", allowZero: true) ?? 0;
        var externalLine = OptionalSize(cacheLines, "external", "$.cacheLines.external", allowZero: true) ?? HeapLayoutBuilder.DefaultExternalCacheLine;
        foreach (var (line, field) in (ReadOnlySpan<(nuint, string)>)[(internalLine, "internal"), (externalLine, "external")])
        {
            if (HeapLayoutBuilder.CacheLineError(line) is { } error)
            {
                throw new FormatException($"$.cacheLines.{field}: a {error}");
            }
        }

        builder.WithCacheLines(internalLine, externalLine);
    }

    /// <summary>A string value; an escaped lone UTF-16 surrogate (\uD800), which .NET cannot turn into a string, is a bad value at <paramref name="path"/>.</summary>
    private static string Text(JsonElement value, string path)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new FormatException($"{path}: the string holds an unpaired UTF-16 surrogate escape (\\uD800 to \\uDFFF alone).");
        }
    }

    private static string RequiredString(JsonElement element, string property, string path) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String && Text(value, path) is { } text && !string.IsNullOrWhiteSpace(text)
            ? text
            : throw new FormatException($"{path}: a non-empty string is required.");

    private static nuint? OptionalSize(JsonElement element, string property, string path, bool allowZero = false)
    {
        if (!element.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetUInt64(out var number) && (number > 0 || allowZero) && number <= (ulong)nuint.MaxValue
            ? (nuint)number
            : throw new FormatException($"{path}: a {(allowZero ? "non-negative" : "positive")} whole number of bytes is required.");
    }
}

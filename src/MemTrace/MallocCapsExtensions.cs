// Formatting of MallocCaps with ESP-IDF's C names. The seed printed only the first set flag;
// this prints all of them, in bit order, and shows unknown bits as hex instead of dropping them.
using System.Numerics;

namespace MemTrace;

/// <summary>Formats <see cref="MallocCaps"/> with ESP-IDF's C names.</summary>
public static class MallocCapsExtensions
{
    private static readonly string?[] s_names = BuildNames();

    /// <summary>
    /// The C name of every set flag, in bit order, joined by <c>|</c>:
    /// <c>MALLOC_CAP_8BIT|MALLOC_CAP_DEFAULT</c>. No flag gives <c>0</c>; bits ESP-IDF does not
    /// define are shown as one hexadecimal term, e.g. <c>MALLOC_CAP_8BIT|0x40000000</c>.
    /// </summary>
    /// <param name="caps">The capabilities to format.</param>
    /// <returns>The formatted capabilities.</returns>
    public static string ToCapsString(this MallocCaps caps)
    {
        if (caps == MallocCaps.None)
        {
            return "0";
        }

        Span<char> buffer = stackalloc char[512];
        var written = Format(caps, buffer);
        return new string(buffer[..written]);
    }

    /// <summary>The C name of one flag, e.g. <c>MALLOC_CAP_SPIRAM</c>; null when <paramref name="flag"/> is not exactly one known flag.</summary>
    /// <param name="flag">A single capability bit.</param>
    /// <returns>The C name, or null.</returns>
    public static string? GetCName(this MallocCaps flag)
    {
        var value = (uint)flag;
        if (value == 0 || !BitOperations.IsPow2(value))
        {
            return null;
        }

        return s_names[BitOperations.TrailingZeroCount(value)];
    }

    /// <summary>
    /// Parses capabilities written as in C or C#: terms joined by <c>|</c>, each a C name with or
    /// without its prefix (<c>MALLOC_CAP_8BIT</c>, <c>8BIT</c>), a C# name (<c>Bit8</c>), or a number
    /// (<c>0x1004</c>, <c>4100</c>); empty text or <c>0</c> is <see cref="MallocCaps.None"/>. Case is ignored.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="caps">The capabilities, when the text is valid.</param>
    /// <param name="error">Why the text is not valid, otherwise null.</param>
    /// <returns>True when the text is valid.</returns>
    public static bool TryParse(string? text, out MallocCaps caps, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        caps = MallocCaps.None;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        foreach (var raw in text.Split('|'))
        {
            var term = raw.Trim();
            if (term.Length == 0)
            {
                error = $"empty term in '{text}'";
                return false;
            }

            if (TryParseNumber(term, out var number))
            {
                caps |= (MallocCaps)number;
                continue;
            }

            var name = term.StartsWith("MALLOC_CAP_", StringComparison.OrdinalIgnoreCase) ? term["MALLOC_CAP_".Length..] : term;
            var bit = Array.FindIndex(s_names, n => n is not null && string.Equals(n["MALLOC_CAP_".Length..], name, StringComparison.OrdinalIgnoreCase));
            if (bit >= 0)
            {
                caps |= (MallocCaps)(1u << bit);
            }
            else if (Array.Find(Enum.GetNames<MallocCaps>(), n => string.Equals(n, term, StringComparison.OrdinalIgnoreCase)) is { } member)
            {
                caps |= Enum.Parse<MallocCaps>(member); // One member name: not Enum.TryParse's "+5", "-0" or "Bit8,Dma".
            }
            else
            {
                error = $"unknown capability '{term}'";
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses capabilities; see <see cref="TryParse(string?, out MallocCaps, out string?)"/>.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The capabilities.</returns>
    /// <exception cref="FormatException">The text is not valid.</exception>
    public static MallocCaps Parse(string? text) =>
        TryParse(text, out var caps, out var error) ? caps : throw new FormatException("Invalid capabilities: " + error + ".");

    private static bool TryParseNumber(string term, out uint value)
    {
        if (term.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return uint.TryParse(term.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out value);
        }

        return uint.TryParse(term, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
    }

    private static int Format(MallocCaps caps, Span<char> destination)
    {
        var written = 0;
        var remaining = (uint)caps;
        uint unknown = 0;
        while (remaining != 0)
        {
            var bit = BitOperations.TrailingZeroCount(remaining);
            remaining &= remaining - 1;
            var name = s_names[bit];
            if (name is null)
            {
                unknown |= 1u << bit;
                continue;
            }

            Append(destination, ref written, name);
        }

        if (unknown != 0)
        {
            Span<char> hex = stackalloc char[10];
            hex[0] = '0';
            hex[1] = 'x';
            unknown.TryFormat(hex[2..], out var digits, "X8", System.Globalization.CultureInfo.InvariantCulture);
            Append(destination, ref written, hex[..(digits + 2)]);
        }

        return written;
    }

    private static void Append(Span<char> destination, ref int written, ReadOnlySpan<char> term)
    {
        if (written > 0)
        {
            destination[written++] = '|';
        }

        term.CopyTo(destination[written..]);
        written += term.Length;
    }

    private static string?[] BuildNames()
    {
        var names = new string?[32];
        names[0] = "MALLOC_CAP_EXEC";
        names[1] = "MALLOC_CAP_32BIT";
        names[2] = "MALLOC_CAP_8BIT";
        names[3] = "MALLOC_CAP_DMA";
        for (var pid = 2; pid <= 7; pid++)
        {
            names[pid + 2] = "MALLOC_CAP_PID" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        names[10] = "MALLOC_CAP_SPIRAM";
        names[11] = "MALLOC_CAP_INTERNAL";
        names[12] = "MALLOC_CAP_DEFAULT";
        names[13] = "MALLOC_CAP_IRAM_8BIT";
        names[14] = "MALLOC_CAP_RETENTION";
        names[15] = "MALLOC_CAP_RTCRAM";
        names[16] = "MALLOC_CAP_SPM";
        names[17] = "MALLOC_CAP_DMA_DESC_AHB";
        names[18] = "MALLOC_CAP_DMA_DESC_AXI";
        names[19] = "MALLOC_CAP_CACHE_ALIGNED";
        names[20] = "MALLOC_CAP_SIMD";
        names[21] = "MALLOC_CAP_SPIRAM_NO_ENC";
        names[31] = "MALLOC_CAP_INVALID";
        return names;
    }
}

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

// ReportText: how the report writes bytes, times and call sites, the same in every renderer.
using System.Globalization;

namespace MemTrace.Cli.Report;

internal static class ReportText
{
    /// <summary>Bidirectional formatting characters (Trojan Source) and the line and paragraph separators.</summary>
    private static readonly System.Buffers.SearchValues<char> s_unprintable = System.Buffers.SearchValues.Create(
        "\u061C\u200E\u200F\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u2028\u2029");

    /// <summary>768 B, 12.5 KiB, 3.0 MiB, 1.2 GiB, 4.00 TiB, 16.00 EiB (a calloc whose size overflowed is logged as nuint.MaxValue).</summary>
    public static string Bytes(double bytes)
    {
        const double GiB = 1024.0 * 1024 * 1024;
        var value = Math.Abs(bytes);
        return value switch
        {
            < 1024 => bytes.ToString("0", CultureInfo.InvariantCulture) + " B",
            < 1024 * 1024 => (bytes / 1024).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
            < GiB => (bytes / (1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
            < GiB * 1024 => (bytes / GiB).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
            < GiB * 1024 * 1024 => (bytes / (GiB * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " TiB",
            < GiB * 1024 * 1024 * 1024 => (bytes / (GiB * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " PiB",
            _ => (bytes / (GiB * 1024 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " EiB",
        };
    }

    /// <summary>0.000 s, 12.345 s.</summary>
    public static string Seconds(double seconds) => seconds.ToString("0.000", CultureInfo.InvariantCulture) + " s";

    public static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A count and its noun: <c>1 block</c>, <c>0 blocks</c>, <c>1,024 blocks</c> (the nouns of the report take an s).</summary>
    public static string Count(long value, string noun) => Number(value) + " " + (value == 1 ? noun : noun + "s");

    public static string Site(CallSite site) => TraceAnalysis.SiteText(site);

    /// <summary>
    /// Text from a trace made safe for a terminal: a trace is input, and a control character in it (ESC, BEL, …)
    /// would move the cursor, retitle the window or recolour what follows, and a bidirectional override (U+202E, …)
    /// or a line separator would reorder or break what the terminal shows; each is shown as U+FFFD instead.
    /// </summary>
    public static string Printable(string text)
    {
        var span = text.AsSpan();
        if (span.IndexOfAnyInRange('\u0000', '\u001F') < 0 && span.IndexOfAnyInRange('\u007F', '\u009F') < 0 && span.IndexOfAny(s_unprintable) < 0)
        {
            return text;
        }

        return string.Create(text.Length, text, static (chars, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                chars[i] = char.IsControl(c) || s_unprintable.Contains(c) ? '\uFFFD' : c;
            }
        });
    }

    /// <summary>
    /// <see cref="Printable"/>, escaped for Spectre.Console markup: brackets are doubled, and an emoji code
    /// (":skull:", which Spectre replaces in markup and has no escape for) gets a word joiner (U+2060, invisible)
    /// after each colon, so that the text shows as written.
    /// </summary>
    public static string Markup(string text)
    {
        var escaped = Spectre.Console.Markup.Escape(Printable(text));
        return escaped.Contains(':') && Spectre.Console.Emoji.Replace(escaped) != escaped ? escaped.Replace(":", ":\u2060", StringComparison.Ordinal) : escaped;
    }

    /// <summary>A time of day in the tables: UTC, as the trace writes it, whatever the reader's time zone (see <see cref="TimeHeading"/>).</summary>
    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);

    /// <summary>
    /// The heading of a column of <see cref="Time"/>s. It says UTC: <see cref="MemTrace.Diagnostics.ConsoleSink"/> and most logs
    /// show local time, so an unlabelled UTC time of day was hours away from the same event in them.
    /// </summary>
    public const string TimeHeading = "Time (UTC)";

    /// <summary>The short axis label of size-histogram bucket i: its lower bound, 0, 2, 64, 1K, 256K, 4M.</summary>
    public static string SizeBucketStart(int i) => i switch
    {
        0 => "0",
        < 10 => (1L << i).ToString(CultureInfo.InvariantCulture),
        < 20 => (1L << (i - 10)).ToString(CultureInfo.InvariantCulture) + "K",
        < 30 => (1L << (i - 20)).ToString(CultureInfo.InvariantCulture) + "M",
        _ => (1L << (i - 30)).ToString(CultureInfo.InvariantCulture) + "G",
    };

    /// <summary>The label of size-histogram bucket i: sizes in [2^i, 2^(i+1)).</summary>
    public static string SizeBucket(int i) => i == 0 ? "0-1 B" : $"{Bytes(1L << i)}-{Bytes((1L << (i + 1)) - 1)}";
}

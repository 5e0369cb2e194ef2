// SvgChart: the report's charts as inline SVG, written by hand. A chart library (ScottPlot
// renders through SkiaSharp and its native binaries) would add megabytes and a native
// dependency to a command-line tool for two kinds of chart; plain SVG keeps the page one small
// self-contained file whose text stays selectable and sharp at any zoom.
//
// Two kinds: step lines over time (memory in use changes in steps, at allocations and frees)
// and bars (the size histogram). Axes get "nice" ticks (1, 2, 5 × 10^k); every series and bar
// carries a <title> tooltip and a data-series attribute that the page's script highlights.
using System.Globalization;
using System.Net;
using System.Text;

namespace MemTrace.Cli.Report;

internal static class SvgChart
{
    private const int Width = 900;
    private const int Left = 78;
    private const int Right = 16;
    private const int Top = 16;
    private const int Bottom = 44;

    private static readonly string[] s_palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

    public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points);

    /// <summary>Step lines of <paramref name="series"/> over 0..<paramref name="xMax"/> seconds, y in bytes.</summary>
    public static string StepLines(string label, IReadOnlyList<Series> series, double xMax, int plotHeight = 260)
    {
        var text = new StringBuilder();
        var drawn = series.Where(s => s.Points.Count > 0).ToList();
        var legend = LayoutLegend(drawn.Select(s => s.Name).ToList());
        var rows = legend.Count == 0 ? 1 : legend.Max(l => l.Row) + 1;
        var height = Top + plotHeight + Bottom + ((rows - 1) * 16);
        var plotBottom = Top + plotHeight;
        Open(text, label, height);
        if (drawn.Count == 0)
        {
            NoData(text, height);
            return Close(text);
        }

        xMax = Math.Max(xMax, drawn.Max(s => s.Points[^1].X));
        if (xMax <= 0)
        {
            xMax = 1;
        }

        var (yTicks, yLabel) = ByteTicks(Math.Max(1, drawn.Max(s => s.Points.Max(p => p.Y))));
        var xTicks = NiceTicks(xMax);
        var yMax = yTicks[^1];
        xMax = xTicks[^1];
        double Y(double y) => plotBottom - (y / yMax * plotHeight);
        Axes(text, plotBottom, xTicks, xMax, yTicks, Y, x => Num(x) + " s", yLabel);
        for (var i = 0; i < drawn.Count; i++)
        {
            var s = drawn[i];
            var colour = s_palette[i % s_palette.Length];
            var path = new StringBuilder();
            var (x0, y0) = s.Points[0];
            path.Append(CultureInfo.InvariantCulture, $"M{X(x0, xMax):0.#},{Y(y0):0.#}");
            for (var p = 1; p < s.Points.Count; p++)
            {
                var (x, y) = s.Points[p];
                path.Append(CultureInfo.InvariantCulture, $"H{X(x, xMax):0.#}V{Y(y):0.#}");
            }

            path.Append(CultureInfo.InvariantCulture, $"H{X(xMax, xMax):0.#}");
            var peak = s.Points.Max(p => p.Y);
            text.Append(CultureInfo.InvariantCulture, $"<path class=\"line\" data-series=\"{i}\" d=\"{path}\" stroke=\"{colour}\"><title>{Escape(s.Name)}: peak {ReportText.Bytes(peak)}</title></path>");
        }

        foreach (var (name, index, x, row) in legend)
        {
            var y = plotBottom + 36 + (row * 16);
            text.Append(CultureInfo.InvariantCulture, $"<g class=\"legend\" data-series=\"{index}\"><rect x=\"{x:0.#}\" y=\"{y - 9}\" width=\"10\" height=\"10\" fill=\"{s_palette[index % s_palette.Length]}\"/><text x=\"{x + 14:0.#}\" y=\"{y}\">{Escape(name)}</text></g>");
        }

        return Close(text);
    }

    /// <summary>Vertical bars, one per (label, value).</summary>
    /// <param name="label">The chart's accessible name.</param>
    /// <param name="bars">Each bar's axis label, tooltip and value.</param>
    public static string Bars(string label, IReadOnlyList<(string Label, string Tooltip, long Value)> bars)
    {
        const int plotHeight = 240;
        var height = Top + plotHeight + Bottom;
        var plotBottom = Top + plotHeight;
        var text = new StringBuilder();
        Open(text, label, height);
        if (bars.Count == 0)
        {
            NoData(text, height);
            return Close(text);
        }

        var yTicks = NiceTicks(Math.Max(1, bars.Max(b => b.Value)));
        var yMax = yTicks[^1];
        double Y(double y) => plotBottom - (y / yMax * plotHeight);
        var plotWidth = Width - Left - Right;
        var slot = (double)plotWidth / bars.Count;
        Axes(text, plotBottom, [], 1, yTicks, Y, _ => string.Empty, y => Num(y));
        for (var i = 0; i < bars.Count; i++)
        {
            var (name, tooltip, value) = bars[i];
            var x = Left + (i * slot) + (slot * 0.1);
            var top = Y(value);
            text.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar\" data-series=\"{i}\" x=\"{x:0.#}\" y=\"{top:0.#}\" width=\"{slot * 0.8:0.#}\" height=\"{plotBottom - top:0.#}\" fill=\"{s_palette[0]}\"><title>{Escape(tooltip)}: {value.ToString("N0", CultureInfo.InvariantCulture)} {(value == 1 ? "allocation" : "allocations")}</title></rect>");
            if (slot >= 34 || i % 2 == 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"<text class=\"tick\" x=\"{x + (slot * 0.4):0.#}\" y=\"{plotBottom + 16}\" text-anchor=\"middle\">{Escape(name)}</text>");
            }
        }

        text.Append(CultureInfo.InvariantCulture, $"<text class=\"tick\" x=\"{Left + (plotWidth / 2)}\" y=\"{plotBottom + 36}\" text-anchor=\"middle\">requested size (bucket start, bytes)</text>");
        return Close(text);
    }

    /// <summary>Tick values for bytes: nice steps in the largest binary unit (B, KiB, MiB, GiB) not above the maximum, labelled in that unit.</summary>
    internal static (double[] Ticks, Func<double, string> Label) ByteTicks(double max)
    {
        string[] names = ["B", "KiB", "MiB", "GiB"];
        var unit = 0;
        while (unit < names.Length - 1 && max >= Math.Pow(1024, unit + 1))
        {
            unit++;
        }

        var scale = Math.Pow(1024, unit);
        var ticks = NiceTicks(max / scale).Select(t => t * scale).ToArray();
        var name = names[unit];
        return (ticks, value => Num(value / scale) + " " + name);
    }

    /// <summary>Round tick values from 0 to at least <paramref name="max"/>: steps of 1, 2 or 5 × 10^k, 4 to 8 of them.</summary>
    internal static double[] NiceTicks(double max)
    {
        var rough = max / 5;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var step = (rough / magnitude) switch
        {
            <= 1 => 1,
            <= 2 => 2,
            <= 5 => 5,
            _ => 10,
        } * magnitude;
        var count = (int)Math.Ceiling(max / step);
        return [.. Enumerable.Range(0, count + 1).Select(i => i * step)];
    }

    private static void Axes(StringBuilder text, int plotBottom, double[] xTicks, double xMax, double[] yTicks, Func<double, double> toY, Func<double, string> xLabel, Func<double, string> yLabel)
    {
        foreach (var y in yTicks)
        {
            var py = toY(y);
            text.Append(CultureInfo.InvariantCulture, $"<line class=\"grid\" x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{py:0.#}\" y2=\"{py:0.#}\"/>");
            text.Append(CultureInfo.InvariantCulture, $"<text class=\"tick\" x=\"{Left - 6}\" y=\"{py + 4:0.#}\" text-anchor=\"end\">{Escape(yLabel(y))}</text>");
        }

        foreach (var x in xTicks)
        {
            var px = X(x, xMax);
            text.Append(CultureInfo.InvariantCulture, $"<line class=\"grid\" x1=\"{px:0.#}\" x2=\"{px:0.#}\" y1=\"{Top}\" y2=\"{plotBottom}\"/>");
            text.Append(CultureInfo.InvariantCulture, $"<text class=\"tick\" x=\"{px:0.#}\" y=\"{plotBottom + 16}\" text-anchor=\"middle\">{Escape(xLabel(x))}</text>");
        }

        text.Append(CultureInfo.InvariantCulture, $"<line class=\"axis\" x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{plotBottom}\" y2=\"{plotBottom}\"/>");
        text.Append(CultureInfo.InvariantCulture, $"<line class=\"axis\" x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{plotBottom}\"/>");
    }

    /// <summary>Places legend items left to right, wrapping to new rows; widths are estimated from the text (7 px a character at 11 px).</summary>
    private static List<(string Name, int Index, double X, int Row)> LayoutLegend(List<string> names)
    {
        var items = new List<(string, int, double, int)>();
        double x = Left;
        var row = 0;
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i].Length > 60 ? names[i][..59] + "…" : names[i];
            var width = 22 + (name.Length * 7.0);
            if (x + width > Width - Right && x > Left)
            {
                row++;
                x = Left;
            }

            items.Add((name, i, x, row));
            x += width;
        }

        return items;
    }

    private static void Open(StringBuilder text, string label, int height) =>
        text.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" role=\"img\" aria-label=\"{Escape(label)}\" viewBox=\"0 0 {Width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">");

    private static string Close(StringBuilder text) => text.Append("</svg>").ToString();

    private static void NoData(StringBuilder text, int height) =>
        text.Append(CultureInfo.InvariantCulture, $"<text class=\"nodata\" x=\"{Width / 2}\" y=\"{height / 2}\" text-anchor=\"middle\">no data in this trace</text>");

    private static double X(double x, double xMax) => Left + (x / xMax * (Width - Left - Right));

    private static string Num(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}

using System.Globalization;
using ScottPlot;

using ArTar.Training;

namespace ArTar.Cli.Runs;

/// <summary>
/// curves.png: train and valid perplexity per epoch on a log scale (left axis), and the learning rate, also on a
/// log scale since it falls by ×4 steps (right axis, dashed). Rendered headless with ScottPlot (SkiaSharp).
/// </summary>
public static class Curves
{
    public const int Width = 900;
    public const int Height = 540;

    /// <summary>The PNG bytes for these epochs; epochs whose values are not finite or not positive are left out.</summary>
    public static byte[] RenderPng(IReadOnlyList<EpochMetrics> epochs, string title)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel("perplexity (log scale)");

        Add(plot, epochs, e => e.TrainPpl, "train perplexity", Colors.C0, LinePattern.Solid);
        Add(plot, epochs, e => e.ValidPpl, "valid perplexity", Colors.C1, LinePattern.Solid);
        var lr = Add(plot, epochs, e => e.Lr, "learning rate (right axis)", Colors.Gray, LinePattern.Dashed);
        lr.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Right.Label.Text = "learning rate (log scale)";

        plot.Axes.Left.TickGenerator = LogTicks(epochs.SelectMany(e => new[] { e.TrainPpl, e.ValidPpl }));
        plot.Axes.Right.TickGenerator = LogTicks(epochs.Select(e => e.Lr));
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Font.Set(SansFont.Value);
        plot.Grid.MajorLineColor = Colors.Black.WithOpacity(0.15);
        plot.Grid.MinorLineColor = Colors.Black.WithOpacity(0.06);
        plot.Grid.MinorLineWidth = 1;
        plot.Grid.XAxisStyle.MinorLineStyle.Width = 0;
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.AutoScale();
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    // ScottPlot's own "sans" guess falls back to a serif face on Debian; prefer a sans family that is installed.
    private static readonly Lazy<string> SansFont = new(() =>
    {
        string[] installed = SkiaSharp.SKFontManager.Default.FontFamilies.ToArray();
        return new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica" }
            .FirstOrDefault(f => installed.Contains(f, StringComparer.OrdinalIgnoreCase)) ?? Fonts.Sans;
    });

    private static ScottPlot.Plottables.Scatter Add(Plot plot, IReadOnlyList<EpochMetrics> epochs, Func<EpochMetrics, double> value,
        string label, Color color, LinePattern pattern)
    {
        EpochMetrics[] shown = epochs.Where(e => double.IsFinite(value(e)) && value(e) > 0).ToArray();
        double[] xs = shown.Select(e => (double)e.Epoch).ToArray();
        double[] ys = shown.Select(e => Math.Log10(value(e))).ToArray();
        var scatter = plot.Add.Scatter(xs, ys, color);
        scatter.LegendText = label;
        scatter.LineWidth = 2;
        scatter.LinePattern = pattern;
        scatter.MarkerSize = shown.Length > 40 ? 0 : 5;
        return scatter;
    }

    // Data are plotted as log10(value). Ticks at 1·10^k, plus 2, 3, 5 (2, 5 over 3–4 decades) labelled,
    // and the other integer multiples as minor ticks, so a range within one decade still reads.
    private static ScottPlot.TickGenerators.NumericManual LogTicks(IEnumerable<double> values)
    {
        double[] logs = values.Where(v => double.IsFinite(v) && v > 0).Select(Math.Log10).ToArray();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        if (logs.Length == 0)
            return ticks;
        int low = (int)Math.Floor(logs.Min()), high = (int)Math.Ceiling(logs.Max());
        int[] labelled = (high - low) switch { <= 2 => [1, 2, 3, 5], <= 4 => [1, 2, 5], _ => [1] };
        for (int k = low; k <= high; k++)
            for (int m = 1; m <= 9; m++)
            {
                double value = m * Math.Pow(10, k);
                if (Array.IndexOf(labelled, m) >= 0)
                    ticks.AddMajor(Math.Log10(value), value.ToString("G4", CultureInfo.InvariantCulture));
                else
                    ticks.AddMinor(Math.Log10(value));
            }
        return ticks;
    }
}

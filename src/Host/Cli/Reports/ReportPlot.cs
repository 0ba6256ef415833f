using ArTar.Training;
using ScottPlot;

using ArTar.Cli.Runs;

namespace ArTar.Cli.Reports;

/// <summary>
/// results.png: every run's validation perplexity per epoch (log scale where it spans a factor of 2 or more); for an α or β sweep a second panel beside
/// it, perplexity against the swept coefficient, with the paper's figures where its rows match. Headless ScottPlot,
/// styled as <see cref="Curves"/>.
/// </summary>
public static class ReportPlot
{
    public const int PanelWidth = 900;
    public const int Height = 560;

    public static byte[] RenderPng(Report report)
    {
        var multiplot = new Multiplot();
        multiplot.Reset(ValidationCurves(report.Rows));   // a new Multiplot holds one empty plot
        if (report.Sweep != Sweep.None)
            multiplot.AddPlot(SweepPanel(report.Rows, report.Sweep));
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        int width = PanelWidth * multiplot.Count();
        return multiplot.Render(width, Height).GetImageBytes(ImageFormat.Png);
    }

    // A log axis labels only 1, 2, 3, 5 × 10^k: curves that stay within a factor of 2 read better on a linear one.
    private const double LogScaleFrom = 2;

    private static Plot ValidationCurves(IReadOnlyList<ReportRow> rows)
    {
        var curves = rows.Select(r => r.Run.Epochs.Where(e => double.IsFinite(e.ValidPpl) && e.ValidPpl > 0).ToArray()).ToList();
        double[] shown = [.. curves.SelectMany(c => c.Select(e => e.ValidPpl)), .. rows.Where(r => r.Compared?.Valid is not null && r.Run.Epochs.Count > 0).Select(r => r.Compared!.Valid!.Value)];
        bool log = shown.Length > 0 && shown.Max() / shown.Min() >= LogScaleFrom;
        Plot plot = NewPlot(shown.Length > 0 ? "validation perplexity per epoch" : "validation perplexity per epoch (no run has finished an epoch)",
            "epoch", log ? "valid perplexity (log scale)" : "valid perplexity");
        for (int i = 0; i < rows.Count; i++)
        {
            if (curves[i].Length == 0)
                continue;
            var line = plot.Add.Scatter(curves[i].Select(e => (double)e.Epoch).ToArray(),
                curves[i].Select(e => log ? Math.Log10(e.ValidPpl) : e.ValidPpl).ToArray(), plot.Add.Palette.GetColor(i));
            line.LegendText = rows[i].Run.Label;
            line.LineWidth = 2;
            line.MarkerSize = curves[i].Length > 40 ? 0 : 5;
            // The paper's validation figure for the run's row, dashed in the run's colour: where the curve should end.
            if (rows[i].Compared is { Valid: { } paper } row)
            {
                var target = plot.Add.HorizontalLine(log ? Math.Log10(paper) : paper, 1.5f, line.Color, LinePattern.Dashed);
                target.LegendText = $"{rows[i].Run.Label}: paper, Table {row.Table}";
            }
        }
        if (log)
            plot.Axes.Left.TickGenerator = Curves.LogTicks(shown);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        return plot;
    }

    private static Plot SweepPanel(IReadOnlyList<ReportRow> rows, Sweep sweep)
    {
        string name = sweep == Sweep.Alpha ? "α" : "β";
        Plot plot = NewPlot($"perplexity against {name}", name, "perplexity");
        Points(plot, rows, r => r.Run.ValidPpl, sweep, "valid (ours)", Colors.C1, MarkerShape.FilledCircle);
        Points(plot, rows, r => r.Run.TestPpl, sweep, "test (ours)", Colors.C0, MarkerShape.FilledSquare);
        Points(plot, rows, r => r.Compared?.Valid ?? double.NaN, sweep, "valid (paper)", Colors.Gray, MarkerShape.OpenCircle);
        Points(plot, rows, r => r.Compared?.Test ?? double.NaN, sweep, "test (paper)", Colors.Gray, MarkerShape.OpenSquare);
        return plot;
    }

    private static void Points(Plot plot, IReadOnlyList<ReportRow> rows, Func<ReportRow, double> value, Sweep sweep, string label, Color color, MarkerShape shape)
    {
        ReportRow[] shown = [.. rows.Where(r => double.IsFinite(value(r))).OrderBy(r => Report.SweptValue(r.Run.Config!, sweep))];
        if (shown.Length == 0)
            return;
        var points = plot.Add.Scatter(shown.Select(r => Report.SweptValue(r.Run.Config!, sweep)).ToArray(), shown.Select(value).ToArray(), color);
        points.LegendText = label;
        points.LineWidth = 1.5f;
        points.MarkerShape = shape;
        points.MarkerSize = 8;
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        plot.Font.Set(Curves.SansFont.Value);
        plot.Grid.MajorLineColor = Colors.Black.WithOpacity(0.15);
        plot.ShowLegend(Alignment.UpperRight);
        return plot;
    }
}

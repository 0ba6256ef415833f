using ArTar.Cli.Runs;

namespace ArTar.Cli.Reports;

/// <summary><c>artar report DIR… [--out DIR]</c>: the runs beside the paper, on the console and as results.md, .csv and .png.</summary>
public static class ReportCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("report", args, ["--out"]);
        if (a.Help) { stdout.Write(Help.Report); return Program.Ok; }
        if (a.Positionals.Count == 0)
            throw new UsageException("artar report: missing DIR, a run folder or a folder of run folders (e.g. runs/table3); see `artar report --help`");
        string outFolder = a.Get("--out") ?? a.Positionals[0];
        var report = Report.Build(a.Positionals, PaperResults.Published);
        if (File.Exists(outFolder))
            throw new UsageException($"artar report: --out {outFolder} is a file; give a folder");
        try { Directory.CreateDirectory(outFolder); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new UsageException($"artar report: --out {outFolder}: cannot create the folder ({e.Message}); choose another --out"); }
        stdout.Write(report.ConsoleTable());
        try { report.Write(outFolder); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new IOException($"artar report: cannot write the report into {outFolder}: {e.Message}", e); }
        stdout.WriteLine($"wrote {Path.Combine(outFolder, Report.MarkdownFile)}, {Report.CsvFile} and {Report.PngFile}"
            + (report.Sweep == Sweep.None ? "" : $" ({(report.Sweep == Sweep.Alpha ? "an α" : "a β")} sweep: perplexity against it beside the curves)"));
        return Program.Ok;
    }
}

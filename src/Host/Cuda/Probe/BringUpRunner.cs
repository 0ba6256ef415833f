using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace ArTar.Cuda.Probe;

public enum StageOutcome
{
    Ok,
    Failed,
    Skipped,
}

/// <summary>What one stage found: its outcome, the library status name ("-" when none) and one line for the table.</summary>
public sealed record StageResult(StageOutcome Outcome, string Status, string Message)
{
    public static StageResult Ok(string message) => new(StageOutcome.Ok, "-", message);
    public static StageResult Failed(string message, string status = "-") => new(StageOutcome.Failed, status, message);
    /// <summary>The stage could not be tried here (no driver library, say): a reason, not a fault of the stage.</summary>
    public static StageResult Skipped(string reason) => new(StageOutcome.Skipped, "-", reason);
}

/// <summary>One stage of the bring-up probe: a name, the earlier stages it needs, and the check itself.</summary>
public sealed record BringUpStage(string Name, IReadOnlyList<string> Needs, Func<StageResult> Run);

/// <summary>A stage's row of the table. <see cref="MissingRoots"/>: for a stage skipped by the DAG, the stages that failed or skipped on their own.</summary>
public sealed record StageRow(string Stage, StageResult Result, IReadOnlyList<string> MissingRoots, TimeSpan Elapsed);

/// <summary>
/// Runs the probe's stages in list order, each on its own: a stage runs only when every stage it needs is ok, else it is
/// "skipped: needs X" (X the stages whose own failure or skip is the cause, not the intermediate skipped ones). Never
/// throws out of a stage: an exception becomes that stage's FAILED row (a <see cref="CudaException"/> gives its status
/// name). Pure apart from the stages themselves, so the DAG and the table are tested with fake stages.
/// </summary>
public static class BringUpRunner
{
    /// <summary>The table's message column is one line of at most this many characters; the detail log has the rest.</summary>
    public const int MessageWidth = 300;

    /// <summary>Runs <paramref name="stages"/>; each stage's heading, outcome and any exception text go to <paramref name="log"/>, flushed per stage.</summary>
    public static IReadOnlyList<StageRow> Run(IReadOnlyList<BringUpStage> stages, TextWriter log)
    {
        Validate(stages);
        var rows = new Dictionary<string, StageRow>(StringComparer.Ordinal);
        var ordered = new List<StageRow>();
        for (int i = 0; i < stages.Count; i++)
        {
            var stage = stages[i];
            var roots = stage.Needs.Where(n => rows[n].Result.Outcome != StageOutcome.Ok)
                .SelectMany(n => rows[n].MissingRoots.Count > 0 ? rows[n].MissingRoots : [n])
                .Distinct(StringComparer.Ordinal).ToArray();
            StageRow row;
            if (roots.Length > 0)
            {
                row = new(stage.Name, StageResult.Skipped("needs " + string.Join(", ", roots)), roots, TimeSpan.Zero);
            }
            else
            {
                // Written before the stage runs: if native code kills the process, the log names the stage it was in.
                log.WriteLine($"[{i + 1}/{stages.Count}] {stage.Name}");
                log.Flush();
                var clock = Stopwatch.StartNew();
                row = new(stage.Name, Attempt(stage, log), [], clock.Elapsed);
                log.WriteLine($"  {stage.Name}: {Word(row.Result.Outcome)}{(row.Result.Status == "-" ? "" : " " + row.Result.Status)}" +
                    $" ({row.Elapsed.TotalMilliseconds:F0} ms): {row.Result.Message}");
                log.Flush();
            }
            rows[stage.Name] = row;
            ordered.Add(row);
        }
        return ordered;
    }

    public static bool AllOk(IReadOnlyList<StageRow> rows) => rows.All(r => r.Result.Outcome == StageOutcome.Ok);

    /// <summary>
    /// The table: a header, one row per stage (stage, ok/FAILED/skipped, status name or "-", message on one line), and a
    /// last line counting each outcome. Columns are padded to their widest entry; the message is last and not padded.
    /// </summary>
    public static string FormatTable(IReadOnlyList<StageRow> rows)
    {
        string[] header = ["stage", "result", "status", "message"];
        var cells = rows.Select(r => new[] { r.Stage, Word(r.Result.Outcome), r.Result.Status, OneLine(r.Result.Message) }).ToList();
        var widths = Enumerable.Range(0, 3).Select(c => cells.Select(row => row[c].Length).Append(header[c].Length).Max()).ToArray();
        var table = new StringBuilder();
        void Line(string[] cell) => table.Append(cell[0].PadRight(widths[0])).Append("  ").Append(cell[1].PadRight(widths[1])).Append("  ")
            .Append(cell[2].PadRight(widths[2])).Append("  ").Append(cell[3]).Append('\n');
        Line(header);
        foreach (var cell in cells) Line(cell);
        int Count(StageOutcome o) => rows.Count(r => r.Result.Outcome == o);
        table.Append($"{rows.Count} stages: {Count(StageOutcome.Ok)} ok, {Count(StageOutcome.Failed)} FAILED, {Count(StageOutcome.Skipped)} skipped\n");
        return table.ToString();
    }

    /// <summary>"ok", "FAILED" (capitals: the word to look for), "skipped".</summary>
    public static string Word(StageOutcome outcome) => outcome switch
    {
        StageOutcome.Ok => "ok",
        StageOutcome.Failed => "FAILED",
        _ => "skipped",
    };

    /// <summary>Whitespace runs (newlines included) become one space; longer than <see cref="MessageWidth"/> is cut with "…".</summary>
    public static string OneLine(string text)
    {
        string line = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return line.Length <= MessageWidth ? line : line[..(MessageWidth - 1)] + "…";
    }

    private static StageResult Attempt(BringUpStage stage, TextWriter log)
    {
        try
        {
            return stage.Run();
        }
        catch (Exception thrown)
        {
            var e = Unwrap(thrown);
            log.WriteLine($"  {stage.Name} threw {e}");   // with the stack: which call of which op, for whoever reads the log
            return e is CudaException c
                ? StageResult.Failed(c.Message, c.StatusName)
                : StageResult.Failed($"{e.GetType().Name}: {e.Message}");
        }
    }

    // A binding's static constructor or a reflective call wraps the exception that says what went wrong.
    private static Exception Unwrap(Exception e)
    {
        while (e is TypeInitializationException or TargetInvocationException && e.InnerException is { } inner) e = inner;
        return e;
    }

    private static void Validate(IReadOnlyList<BringUpStage> stages)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var stage in stages)
        {
            foreach (var need in stage.Needs)
                if (!seen.Contains(need))
                    throw new ArgumentException($"stage '{stage.Name}' needs '{need}', which is not an earlier stage (list the stages in dependency order)");
            if (!seen.Add(stage.Name)) throw new ArgumentException($"two stages are named '{stage.Name}'");
        }
    }
}

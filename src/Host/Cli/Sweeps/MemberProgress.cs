using System.Text.Json;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// Where a member's run stands, read from its metrics.jsonl while it trains: the last step line (epoch, step, lr), the
/// epoch lines (valid perplexity), and the steps of one epoch once the first has ended.
/// </summary>
public sealed record MemberProgress(int Epoch, long Step, double Lr, int EpochsDone, double LastValidPpl, double BestValidPpl, long StepsPerEpoch)
{
    public static readonly MemberProgress None = new(0, 0, double.NaN, 0, double.NaN, double.NaN, 0);

    /// <summary>The progress in <paramref name="metricsPath"/>; <see cref="None"/> if there is no log yet. Torn or foreign lines are skipped.</summary>
    public static MemberProgress Read(string metricsPath)
    {
        string[] lines;
        try { lines = File.Exists(metricsPath) ? File.ReadAllLines(metricsPath) : []; }
        catch (IOException) { return None; }   // being rewritten (a resume keeps its epochs): next poll
        var p = None;
        long lastStepOfEpoch1 = 0;
        foreach (string text in lines)
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                var line = doc.RootElement;
                int epoch = line.GetProperty("epoch").GetInt32();
                switch (line.GetProperty("kind").GetString())
                {
                    case "step":
                        long step = line.GetProperty("step").GetInt64();
                        if (epoch == 1) lastStepOfEpoch1 = step;
                        p = p with { Epoch = epoch, Step = step, Lr = Number(line, "lr") };
                        break;
                    case "epoch":
                        double valid = Number(line, "valid_ppl");
                        p = p with
                        {
                            EpochsDone = epoch,
                            LastValidPpl = valid,
                            BestValidPpl = double.IsNaN(p.BestValidPpl) || valid < p.BestValidPpl ? valid : p.BestValidPpl,
                            StepsPerEpoch = epoch == 1 ? lastStepOfEpoch1 : p.StepsPerEpoch,
                        };
                        break;
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException) { }
        }
        return p;
    }

    private static double Number(JsonElement line, string key) =>
        line.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
}

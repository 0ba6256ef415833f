using System.Text;
using System.Text.Json;

namespace ArTar.Training;

/// <summary>One log interval of training: means over the interval's windows. Written as <c>{"kind":"step", ...}</c>.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Step">Training steps completed across epochs.</param>
/// <param name="Loss">CE + AR + TAR.</param>
/// <param name="Ce">Cross-entropy, nats per token.</param>
/// <param name="Ar">α·mean(o²), already scaled by α.</param>
/// <param name="Tar">β·mean((h[t+1]-h[t])²), already scaled by β.</param>
public sealed record StepMetrics(int Epoch, long Step, double Lr, double Loss, double Ce, double Ar, double Tar, double TokensPerSecond);

/// <summary>One finished epoch. Written as <c>{"kind":"epoch", ...}</c>.</summary>
/// <param name="Lr">The learning rate the epoch trained with.</param>
/// <param name="Seconds">Wall time of the epoch, evaluation included.</param>
public sealed record EpochMetrics(int Epoch, double TrainPpl, double ValidPpl, double Lr, double Seconds);

/// <summary>
/// metrics.jsonl: one JSON object per line, appended and flushed as it happens, so a crashed run keeps its log.
/// Keys: step lines kind, epoch, step, lr, loss, ce, ar, tar, tokens_per_s; epoch lines kind, epoch, train_ppl,
/// valid_ppl, lr, seconds. A number that is not finite (a diverged run) is written as null.
/// </summary>
public sealed class MetricsLog
{
    public MetricsLog(string path) => Path = path;

    public string Path { get; }

    public void Append(StepMetrics m) => AppendLine(json =>
    {
        json.WriteString("kind", "step");
        json.WriteNumber("epoch", m.Epoch);
        json.WriteNumber("step", m.Step);
        Number(json, "lr", m.Lr);
        Number(json, "loss", m.Loss);
        Number(json, "ce", m.Ce);
        Number(json, "ar", m.Ar);
        Number(json, "tar", m.Tar);
        Number(json, "tokens_per_s", m.TokensPerSecond);
    });

    public void Append(EpochMetrics m) => AppendLine(json =>
    {
        json.WriteString("kind", "epoch");
        json.WriteNumber("epoch", m.Epoch);
        Number(json, "train_ppl", m.TrainPpl);
        Number(json, "valid_ppl", m.ValidPpl);
        Number(json, "lr", m.Lr);
        Number(json, "seconds", m.Seconds);
    });

    /// <summary>The epoch lines so far, in order (for curves.png, also after a resume); none if there is no log.</summary>
    public IReadOnlyList<EpochMetrics> ReadEpochs()
    {
        var epochs = new List<EpochMetrics>();
        foreach ((_, JsonElement line) in Lines())
        {
            if (line.GetProperty("kind").GetString() != "epoch")
                continue;
            epochs.Add(new EpochMetrics(line.GetProperty("epoch").GetInt32(), Get(line, "train_ppl"), Get(line, "valid_ppl"),
                Get(line, "lr"), Get(line, "seconds")));
        }
        return epochs;
    }

    /// <summary>
    /// Drops every line past a checkpoint taken after <paramref name="epoch"/> epochs: lines of later epochs, except the
    /// step lines up to <paramref name="stepsDone"/> of a checkpoint taken mid-epoch. A run resumed from that
    /// checkpoint logs the rest again, and the log should read as one uninterrupted run.
    /// </summary>
    public void KeepEpochsThrough(int epoch, long stepsDone = 0)
    {
        if (!File.Exists(Path))
            return;
        var kept = new StringBuilder();
        foreach ((string text, JsonElement line) in Lines())
        {
            int e = line.GetProperty("epoch").GetInt32();
            bool midEpochStep = e == epoch + 1 && line.GetProperty("kind").GetString() == "step"
                && line.TryGetProperty("step", out JsonElement s) && s.TryGetInt64(out long n) && n <= stepsDone;
            if (e <= epoch || midEpochStep)
                kept.Append(text).Append('\n');
        }
        AtomicFile.WriteAllText(Path, kept.ToString());
    }

    /// <summary>The largest metrics.jsonl read back: 80 epochs of PTB logged every step take about 25 MB.</summary>
    public const long MaxFileBytes = 1_000_000_000;

    // Lines that do not parse as a JSON object with kind and an integer epoch are skipped: a crash can tear the last line.
    private IEnumerable<(string Text, JsonElement Line)> Lines()
    {
        if (!File.Exists(Path))
            yield break;
        using var stream = InputFile.OpenRegular(Path, MaxFileBytes, "a metrics log", "a run folder's metrics.jsonl is written by `artar train`",
            problem => new IOException($"{Quote.Path(Path)}: {problem}"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } text)
        {
            JsonElement line;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(text);
                line = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                continue;
            }
            if (line.ValueKind == JsonValueKind.Object && line.TryGetProperty("kind", out JsonElement kind) && kind.ValueKind == JsonValueKind.String
                && line.TryGetProperty("epoch", out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out _))
                yield return (text, line);
        }
    }

    private static double Get(JsonElement line, string key) =>
        line.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    private static void Number(Utf8JsonWriter json, string key, double value)
    {
        if (double.IsFinite(value))
            json.WriteNumber(key, value);
        else
            json.WriteNull(key);  // JSON has no NaN or Infinity
    }

    private void AppendLine(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        using var file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}

using ArTar.Cli.Runs;
using System.Text.Json;
using ArTar.Training;
using NUnit.Framework;
using SkiaSharp;

namespace ArTar.Tests;

public class RunDirectoryTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("artar-runs-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private static readonly DateTime Start = new(2026, 11, 26, 20, 30, 5);
    private const string ConfigJson = """{"name": "tiny", "lr": 20}""";

    private RunDirectory NewRun() => RunDirectory.Create(_root, "tiny", Start, ConfigJson, ["<eos>", "the", "cat"]);

    [Test]
    public void CreateNamesTheFolderByConfigAndTimeAndWritesConfigAndVocabulary()
    {
        RunDirectory run = NewRun();
        Assert.That(run.Folder, Is.EqualTo(Path.Combine(_root, "tiny-20261126-203005")));
        Assert.That(File.ReadAllText(run.ConfigPath), Is.EqualTo(ConfigJson + "\n"));
        Assert.That(File.ReadAllText(run.VocabularyPath), Is.EqualTo("<eos>\nthe\ncat\n"));
        Assert.That(RunDirectory.Open(run.Folder).ReadVocabulary(), Is.EqualTo(new[] { "<eos>", "the", "cat" }));
        Assert.That(Path.GetFileName(run.BestCheckpointPath), Is.EqualTo("best.safetensors"));
        Assert.That(Path.GetFileName(run.LastCheckpointPath), Is.EqualTo("last.safetensors"));
        Assert.That(Path.GetFileName(run.Metrics.Path), Is.EqualTo("metrics.jsonl"));
    }

    [Test]
    public void TwoRunsInTheSameSecondGetTwoFolders()
    {
        RunDirectory a = NewRun(), b = NewRun();
        Assert.That(b.Folder, Is.EqualTo(a.Folder + "-2"));
        Assert.That(File.Exists(b.ConfigPath));
    }

    [Test]
    public void DiscardUnstartedRemovesOnlyWhatCreateWrote()
    {
        RunDirectory empty = NewRun();
        empty.DiscardUnstarted();
        Assert.That(Directory.Exists(empty.Folder), Is.False);

        RunDirectory other = NewRun();
        File.WriteAllText(Path.Combine(other.Folder, "notes.txt"), "keep");
        other.DiscardUnstarted();
        Assert.That(Directory.GetFiles(other.Folder).Select(Path.GetFileName), Is.EqualTo(new[] { "notes.txt" }));
    }

    [Test]
    public void ALogLineWithANonIntegerEpochIsSkippedNotFatal()
    {
        RunDirectory run = NewRun();
        run.Metrics.Append(new EpochMetrics(1, 100, 90, 20, 1));
        File.AppendAllText(run.Metrics.Path, "{\"kind\":\"epoch\",\"epoch\":1.5,\"valid_ppl\":1}\n{\"kind\":\"step\",\"epoch\":1e12,\"step\":3}\n");
        run.Metrics.Append(new EpochMetrics(2, 100, 90, 20, 1));
        Assert.That(run.Metrics.ReadEpochs().Select(e => e.Epoch), Is.EqualTo(new[] { 1, 2 }));
        run.Metrics.KeepEpochsThrough(1);
        Assert.That(File.ReadAllLines(run.Metrics.Path), Has.Length.EqualTo(1));
    }

    [Test]
    public void AFolderWithOnlyALockAndTemporaryFilesIsReusedAndTheTemporaryFilesGo()
    {
        string path = Path.Combine(_root, "crashed");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, RunLock.FileName), "12345\n");
        File.WriteAllText(Path.Combine(path, ".config.json.0123.tmp"), "{");
        using (var run = RunDirectory.CreateAt(path, ConfigJson, ["<eos>"]))
            Assert.That(Directory.GetFiles(path).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { ".lock", "config.json", "vocab.txt" }));
        // Once config.json is there the folder is a run: the same --run-dir is sent to --resume.
        var e = Assert.Throws<IOException>(() => RunDirectory.CreateAt(path, ConfigJson, ["<eos>"]));
        Assert.That(e!.Message, Does.Contain("continue that run with --resume " + path));
    }

    [Test]
    public void OpenRefusesAFolderThatIsNotARun()
    {
        Assert.Throws<IOException>(() => RunDirectory.Open(Path.Combine(_root, "nope")));
        Assert.That(Assert.Throws<IOException>(() => RunDirectory.Open(_root))!.Message, Does.Contain("no config.json"));
    }

    [Test]
    public void MetricsLinesParseAsJsonWithTheDocumentedKeys()
    {
        RunDirectory run = NewRun();
        run.Metrics.Append(new StepMetrics(1, 200, 20, 5.5, 5.25, 0.2, 0.05, 12345.5));
        run.Metrics.Append(new EpochMetrics(1, 300.5, 250.25, 20, 61.5));
        run.Metrics.Append(new StepMetrics(2, 400, 20, double.NaN, double.PositiveInfinity, 0, 0, 1));

        string[] lines = File.ReadAllLines(run.Metrics.Path);
        Assert.That(lines, Has.Length.EqualTo(3));
        JsonElement[] parsed = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.That(parsed[0].EnumerateObject().Select(p => p.Name),
            Is.EqualTo(new[] { "kind", "epoch", "step", "lr", "loss", "ce", "ar", "tar", "tokens_per_s" }));
        Assert.That(parsed[0].GetProperty("kind").GetString(), Is.EqualTo("step"));
        Assert.That(parsed[0].GetProperty("step").GetInt64(), Is.EqualTo(200));
        Assert.That(parsed[0].GetProperty("ce").GetDouble(), Is.EqualTo(5.25));
        Assert.That(parsed[0].GetProperty("tokens_per_s").GetDouble(), Is.EqualTo(12345.5));
        Assert.That(parsed[1].EnumerateObject().Select(p => p.Name),
            Is.EqualTo(new[] { "kind", "epoch", "train_ppl", "valid_ppl", "lr", "seconds" }));
        Assert.That(parsed[1].GetProperty("valid_ppl").GetDouble(), Is.EqualTo(250.25));
        Assert.That(parsed[2].GetProperty("loss").ValueKind, Is.EqualTo(JsonValueKind.Null), "NaN is written as null");
        Assert.That(parsed[2].GetProperty("ce").ValueKind, Is.EqualTo(JsonValueKind.Null), "∞ is written as null");

        Assert.That(run.Metrics.ReadEpochs(), Is.EqualTo(new[] { new EpochMetrics(1, 300.5, 250.25, 20, 61.5) }));
    }

    [Test]
    public void ResumingDropsTheLinesOfEpochsAfterTheCheckpoint()
    {
        RunDirectory run = NewRun();
        for (int epoch = 1; epoch <= 3; epoch++)
        {
            run.Metrics.Append(new StepMetrics(epoch, epoch * 10, 20, 5, 5, 0, 0, 1));
            run.Metrics.Append(new EpochMetrics(epoch, 100, 90, 20, 1));
        }
        run.Metrics.Append(new StepMetrics(4, 40, 20, 5, 5, 0, 0, 1));  // the epoch the crash interrupted

        File.AppendAllText(run.Metrics.Path, "{\"kind\":\"step\",\"epoch\":4,\"st");  // torn by the crash

        Assert.That(run.Metrics.ReadEpochs().Select(e => e.Epoch), Is.EqualTo(new[] { 1, 2, 3 }));
        RunDirectory.Open(run.Folder).Metrics.KeepEpochsThrough(2);
        string[] lines = File.ReadAllLines(run.Metrics.Path);
        Assert.That(lines, Has.Length.EqualTo(4));
        Assert.That(lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("epoch").GetInt32()), Is.EqualTo(new[] { 1, 1, 2, 2 }));
    }

    [Test]
    public void CurvesArePngOfNonTrivialSizeWithDrawing()
    {
        RunDirectory run = NewRun();
        double lr = 20, best = double.MaxValue;
        for (int epoch = 1; epoch <= 30; epoch++)
        {
            double valid = 70 + 400 / epoch + (epoch % 7 == 0 ? 5 : 0);
            run.Metrics.Append(new EpochMetrics(epoch, 60 + 600 / epoch, valid, lr, 60));
            if (valid >= best) lr /= 4;
            best = Math.Min(best, valid);
        }
        run.WriteCurves("tiny: perplexity and learning rate");

        byte[] png = File.ReadAllBytes(run.CurvesPath);
        Assert.That(png[..8], Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }));
        Assert.That(png, Has.Length.GreaterThan(10_000));
        using SKBitmap bitmap = SKBitmap.Decode(png);
        Assert.That((bitmap.Width, bitmap.Height), Is.EqualTo((Curves.Width, Curves.Height)));
        int colored = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
            for (int x = 0; x < bitmap.Width; x += 2)
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (Math.Abs(c.Red - c.Blue) > 60 || Math.Abs(c.Red - c.Green) > 60)
                    colored++;
            }
        Assert.That(colored, Is.GreaterThan(200), "the two coloured perplexity lines are drawn");
        if (Environment.GetEnvironmentVariable("ARTAR_KEEP_CURVES") is { Length: > 0 } keep)
            File.Copy(run.CurvesPath, keep, overwrite: true);
    }

    [Test]
    public void CurvesOfOneEpochOrADivergedRunStillRender()
    {
        RunDirectory run = NewRun();
        run.Metrics.Append(new EpochMetrics(1, 900, 800, 20, 60));
        run.WriteCurves("one epoch");
        Assert.That(new FileInfo(run.CurvesPath).Length, Is.GreaterThan(5_000));
        run.Metrics.Append(new EpochMetrics(2, double.PositiveInfinity, double.NaN, 5, 60));
        run.WriteCurves("diverged");
        using SKBitmap bitmap = SKBitmap.Decode(run.CurvesPath);
        Assert.That(bitmap.Width, Is.EqualTo(Curves.Width));
    }

    [Test]
    public void NoCurvesBeforeTheFirstEpochEnds()
    {
        RunDirectory run = NewRun();
        run.WriteCurves("tiny");
        Assert.That(File.Exists(run.CurvesPath), Is.False);
    }

    [Test]
    public void SummaryRoundTripsWithSnakeCaseKeys()
    {
        RunDirectory run = NewRun();
        var summary = new RunSummary
        {
            Config = "tiny", Device = "cpu", Parameters = 1234, Epochs = 3, BestEpoch = 2,
            ValidPpl = 61.25, TestPpl = double.PositiveInfinity, WallSeconds = 12.5,
        };
        run.WriteSummary(summary);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(run.SummaryPath));
        Assert.That(doc.RootElement.GetProperty("valid_ppl").GetDouble(), Is.EqualTo(61.25));
        Assert.That(doc.RootElement.GetProperty("wall_seconds").GetDouble(), Is.EqualTo(12.5));
        Assert.That(doc.RootElement.GetProperty("device").GetString(), Is.EqualTo("cpu"));
        Assert.That(run.ReadSummary(), Is.EqualTo(summary));
    }

    private sealed class ManualClock : TimeProvider
    {
        public long Ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(double seconds) => Ticks += (long)(seconds * TimeSpan.TicksPerSecond);
    }

    private static RunInfo Info => new("cpu (2 cores)", 19_837_000, "lstm, 2 layers, hidden 650, vocabulary 10000",
        "ptb-650: epochs 80, batch 20, bptt 35, lr 20", "ptb: train 929,589 tokens", "runs/ptb-650-20261126-203005");

    private static RunSummary Summary => new()
    {
        Config = "ptb-650", Device = "cpu", Parameters = 19_837_000, Epochs = 2, BestEpoch = 2,
        ValidPpl = 120.5, TestPpl = 115.25, WallSeconds = 3725,
    };

    [Test]
    public void PlainProgressPrintsEveryLogIntervalAndATable()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        var progress = new ProgressReporter(output, interactive: false, logInterval: 4, time: clock);
        progress.Start(Info);
        progress.BeginEpoch(1, 2, windows: 10);
        for (int i = 0; i < 10; i++)
        {
            clock.Advance(0.5);
            progress.Window(700, 5.0 + 0.1, 5.0, 20);
        }
        progress.EndEpoch(new EpochMetrics(1, 148.41, 130.5, 20, 5), best: true);
        progress.Finish(Summary);

        string text = output.ToString();
        Assert.That(text, Does.Not.Contain('\r'));
        string[] lines = text.Split('\n');
        Assert.That(lines[0], Is.EqualTo("device      cpu (2 cores)"));
        Assert.That(lines[1], Does.Contain("19,837,000 parameters"));
        string[] windows = lines.Where(l => l.StartsWith("epoch 1/2")).ToArray();
        Assert.That(windows, Has.Length.EqualTo(3), "windows 4, 8 and the last (10)");
        // 4 windows of 700 tokens in 2 s; 6 windows left at 0.5 s each; ppl = exp(5).
        Assert.That(windows[0], Does.Contain("4/10 windows").And.Contain("1.4k tok/s").And.Contain("ETA 0:03").And.Contain("loss 5.100").And.Contain("ppl 148.41").And.Contain("lr 20"));
        Assert.That(text, Does.Contain("end of epoch   1 |     5.0 s | train ppl 148.41 | valid ppl 130.50 | lr 20 | best"));
        Assert.That(text, Does.Contain("| valid |     120.50 |").And.Contain("| test  |     115.25 |"));
        Assert.That(text, Does.Contain("2 epochs in 1:02:05 on cpu; best model from epoch 2"));
    }

    [Test]
    public void TerminalProgressRedrawsOneLineInPlace()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        var progress = new ProgressReporter(output, interactive: true, time: clock);
        progress.BeginEpoch(3, 80, windows: 100);
        for (int i = 0; i < 100; i++)
        {
            clock.Advance(0.05);  // a redraw every other window (at most one per 0.1 s)
            progress.Window(700, 4.7, 4.6, 5);
        }
        progress.EndEpoch(new EpochMetrics(3, 99.5, 101.25, 5, 5), best: false);

        string text = output.ToString();
        string[] physicalLines = text.Split('\n');
        Assert.That(physicalLines[0].Count(c => c == '\r'), Is.InRange(45, 55), "redrawn in place, throttled");
        string last = physicalLines[0].Split('\r')[^1];
        Assert.That(last, Does.StartWith("epoch 3/80 [########################] 100/100").And.Contain("14.0k tok/s").And.Contain("ETA 0:00").And.Contain("lr 5"));
        Assert.That(physicalLines[1], Does.StartWith("end of epoch   3"), "the epoch line starts on a fresh line");
    }

    [Test]
    public void TerminalProgressLineFitsTheTerminalWidth()
    {
        var output = new StringWriter();
        var progress = new ProgressReporter(output, interactive: true, time: new ManualClock(), width: 60);
        progress.BeginEpoch(1, 80, windows: 1327);
        progress.Window(700, 5, 5, 20);
        string drawn = output.ToString().Split('\r')[^1];
        Assert.That(drawn.Length, Is.LessThan(60));
        Assert.That(drawn, Does.StartWith("epoch 1/80      1/1327 windows"), "the bar goes first when the line is too wide");
    }

    [Test]
    public void NoticeDoesNotBreakIntoTheProgressLine()
    {
        var output = new StringWriter();
        var progress = new ProgressReporter(output, interactive: true, time: new ManualClock());
        progress.BeginEpoch(1, 1, windows: 5);
        progress.Window(10, 1, 1, 1);
        progress.Notice("saved runs/x/last.safetensors");
        Assert.That(output.ToString(), Does.EndWith("\nsaved runs/x/last.safetensors" + Environment.NewLine));
    }
}

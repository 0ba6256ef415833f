using System.Diagnostics;
using System.Globalization;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace ArTar.Tests.Scripts;

/// <summary>
/// tools/gpu-reproduce.sh rehearsed on the CPU, as a real bash process running real `artar train` processes on ptb-tiny
/// cut short: one run finishes, the other is stopped by the budget (SIGTERM, exit 130); the summary lines, the per-run
/// archive and the report line are checked against the runs' own files.
/// </summary>
[NonParallelizable]   // two trainings at once on a CPU shared with other tests would stretch past the budget
public partial class GpuReproduceScriptTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateFolder() => _dir = TestData.TempFolder();

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    [GeneratedRegex(@"^run tiny-long +stopped +by the budget at \d+ s: (no epoch finished of 500|epoch (\d+) of 500, valid ppl ([\d.]+))", RegexOptions.Multiline)]
    private static partial Regex StoppedLine();

    [GeneratedRegex(@"^run tiny-short +ok +finished: valid ([\d.]+), test ([\d.]+) on the best model; epoch 1 of 1, valid ppl ([\d.]+)", RegexOptions.Multiline)]
    private static partial Regex FinishedLine();

    [Test]
    public void OneRunFinishesTheOtherIsStoppedByTheBudget()
    {
        RequireTools();
        string data = TestData.Root;
        TestData.Folder("ptb");
        // Both take ptb-tiny with a 4,000-token epoch (about 2-6 s here): "short" trains one epoch, "long" 500.
        string shortConfig = TinyConfig("tiny-short", epochs: 1), longConfig = TinyConfig("tiny-long", epochs: 500);
        string output = Path.Combine(_dir, "out");
        var clock = Stopwatch.StartNew();
        var (code, stdout, stderr) = Bash(data, "tools/gpu-reproduce.sh", "--artar", TestData.ArtarDll, "--budget", "50", "--grace", "10",
            "--device", "cpu", "--out", output, shortConfig, longConfig);
        TestContext.Out.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s, exit {code}\n{stdout}{stderr}");
        string summary = File.ReadAllText(Path.Combine(output, "summary.txt"));
        TestContext.Out.WriteLine(summary);
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(50), "the script ran past its budget");

        var runs = ReadArchive(Path.Combine(output, "runs.tar.gz"));
        Assert.That(runs.Keys, Does.Contain("tiny-short/summary.json").And.Contain("tiny-short/metrics.jsonl").And.Contain("tiny-long/metrics.jsonl"));
        Assert.That(runs.Keys, Does.Not.Contain("tiny-long/summary.json"), "a stopped run has no summary.json");
        Assert.That(runs["tiny-long/train.log"], Does.Contain("stopped after step"), "the trainer's own stop on SIGTERM");

        var finished = FinishedLine().Match(summary);
        Assert.That(finished.Success, $"no finished line for tiny-short in:\n{summary}");
        using (var s = JsonDocument.Parse(runs["tiny-short/summary.json"]))
        {
            Assert.That(finished.Groups[1].Value, Is.EqualTo(s.RootElement.GetProperty("valid_ppl").GetDouble().ToString("F2", CultureInfo.InvariantCulture)));
            Assert.That(finished.Groups[2].Value, Is.EqualTo(s.RootElement.GetProperty("test_ppl").GetDouble().ToString("F2", CultureInfo.InvariantCulture)));
        }

        var stopped = StoppedLine().Match(summary);
        Assert.That(stopped.Success, $"no stopped line for tiny-long in:\n{summary}");
        var epochs = runs["tiny-long/metrics.jsonl"].Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!).Where(l => (string?)l["kind"] == "epoch").ToList();
        if (epochs.Count == 0) Assert.That(stopped.Groups[2].Success, Is.False, "an epoch is reported that metrics.jsonl does not hold");
        else
        {
            Assert.That(int.Parse(stopped.Groups[2].Value), Is.EqualTo((int)epochs[^1]["epoch"]!), "the epoch reached");
            Assert.That(stopped.Groups[3].Value, Is.EqualTo(((double)epochs[^1]["valid_ppl"]!).ToString("F2", CultureInfo.InvariantCulture)), "its validation perplexity");
            Assert.That(epochs.Count, Is.LessThan(500));
        }

        // `artar report` makes the one image; until it exists the failure is recorded and the exit is 1.
        var report = Regex.Match(summary, @"^report +(ok|FAILED) +(.*)$", RegexOptions.Multiline);
        Assert.That(report.Success, $"no report line in:\n{summary}");
        if (report.Groups[1].Value == "ok")
        {
            Assert.That(File.Exists(Path.Combine(output, "results.png")), "report ok but no results.png");
            Assert.That(code, Is.EqualTo(0));
        }
        else
        {
            Assert.That(report.Groups[2].Value, Does.StartWith("artar report exit"));
            Assert.That(code, Is.EqualTo(1));
        }
        Assert.That(summary, Does.Match(@"(?m)^reproduce +(ok|FAILED) +2 runs, \d+ s of 50; runs.tar.gz$"));
        Assert.That(Directory.GetFiles(output).Length, Is.LessThanOrEqualTo(8), "at most 8 files come back from a device call");
    }

    [Test]
    public void AnUnknownConfigIsOneLineAndExit2()
    {
        RequireTools();
        string output = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = Bash(_dir, "tools/gpu-reproduce.sh", "--artar", TestData.ArtarDll, "--device", "cpu", "--out", output, "no-such-config");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr.Trim().Split('\n'), Has.Length.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain("config no-such-config: neither a file nor config/no-such-config.json"));
        Assert.That(stdout, Is.Empty);
        Assert.That(Directory.Exists(output), Is.False, "nothing written on bad input");
    }

    private static void RequireTools()
    {
        foreach (string tool in new[] { "bash", "tar", "gzip" })
            if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool))))
                Assert.Ignore($"{tool} is not on the PATH: the GPU scripts cannot run here");
    }

    private string TinyConfig(string name, int epochs)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestData.RepoRoot, "config", "ptb-tiny.json")))!;
        config["epochs"] = epochs;
        config["max_train_tokens"] = 4000;
        config["max_eval_tokens"] = 2000;
        string path = Path.Combine(_dir, name + ".json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    private static (int Code, string Out, string Err) Bash(string data, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { WorkingDirectory = TestData.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["ARTAR_DATA"] = data;
        start.Environment.Remove("OUT");
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(90_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("the script did not end within 90 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static Dictionary<string, string> ReadArchive(string path)
    {
        var files = new Dictionary<string, string>();
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
            using var reader = new StreamReader(entry.DataStream);
            files[entry.Name.TrimStart('.', '/')] = reader.ReadToEnd();
        }
        return files;
    }
}

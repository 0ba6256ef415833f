using ArTar.Cli.Runs;
using System.Globalization;
using ArTar.Checkpoints;
using ArTar.Training;

namespace ArTar.Tests;

/// <summary>train, eval, generate and resume through the command line, on one small run trained once.</summary>
[NonParallelizable]
public class CliRunTests
{
    private string _dir = "", _run = "", _config = "";

    [OneTimeSetUp]
    public void TrainOnce()
    {
        string data = TestData.Folder("ptb");
        _dir = TestData.TempFolder();
        _config = Path.Combine(_dir, "small.json");
        File.WriteAllText(_config, """
            {"model": "gru", "layers": 2, "hidden": 12, "dropout": 0.2, "dropout_h": 0.1, "alpha": 1, "beta": 1,
             "epochs": 2, "batch_size": 4, "eval_batch_size": 5, "bptt": 8, "data": "data/ptb",
             "max_train_tokens": 1000, "max_eval_tokens": 600, "log_interval": 20}
            """);
        _run = Path.Combine(_dir, "run");
        var (code, _, err) = CliTests.Run("train", _config, "--device", "cpu", "--data", data, "--run-dir", _run);
        Assert.That(code, Is.Zero, err);
    }

    [OneTimeTearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    private static string OneLine(string err)
    {
        var lines = err.TrimEnd().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1), err);
        return lines[0];
    }

    [Test]
    public void EvalPrintsThePerplexityTheTrainerLogged()
    {
        var summary = RunDirectory.Open(_run).ReadSummary();
        var (code, output, _) = CliTests.Run("eval", _run, "--split", "valid", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain($"valid perplexity {summary.ValidPpl.ToString("F2", CultureInfo.InvariantCulture)}"));
        (code, output, _) = CliTests.Run("eval", Path.Combine(_run, "best.safetensors"), "--data", TestData.Folder("ptb"));
        Assert.That(output, Does.Contain($"test perplexity {summary.TestPpl.ToString("F2", CultureInfo.InvariantCulture)}"));
    }

    [Test]
    public void GenerateWritesTheAskedNumberOfWords()
    {
        var (code, output, _) = CliTests.Run("generate", _run, "--words", "30", "--seed", "5");
        Assert.That(code, Is.Zero);
        var words = output.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        Assert.That(words, Has.Length.EqualTo(30));
        Assert.That(words, Has.None.EqualTo("<eos>").And.None.EqualTo("<unk>"));
    }

    [Test]
    public void TruncatedCheckpointIsOneLine()
    {
        string bad = Path.Combine(_dir, "truncated.safetensors");
        byte[] bytes = File.ReadAllBytes(Path.Combine(_run, "best.safetensors"));
        File.WriteAllBytes(bad, bytes[..(bytes.Length / 2)]);
        var (code, _, err) = CliTests.Run("eval", bad, "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.StartWith($"error: checkpoint {bad}:"));
    }

    [Test]
    public void ForeignCheckpointIsOneLine()
    {
        string foreign = Path.Combine(_dir, "foreign.safetensors");
        SafeTensors.Write(foreign, [new NamedTensor("fc.weight", [2, 2], [1, 2, 3, 4])]);
        var (code, _, err) = CliTests.Run("eval", foreign, "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("not an ArTar checkpoint").And.Contain("fc.weight"));
    }

    [Test]
    public void CheckpointOfAnotherVocabularyIsOneLine()
    {
        // The run was trained on PTB; WikiText-2's vocabulary is another.
        var (code, _, err) = CliTests.Run("eval", _run, "--data", TestData.Folder("wikitext-2"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("vocabulary"));
    }

    [Test]
    public void AnExistingRunFolderIsNeverOverwritten()
    {
        byte[] before = File.ReadAllBytes(Path.Combine(_run, "best.safetensors"));
        var (code, _, err) = CliTests.Run("train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", _run);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("already exists and is not empty"));
        Assert.That(File.ReadAllBytes(Path.Combine(_run, "best.safetensors")), Is.EqualTo(before));
    }

    [Test]
    public void ResumingAFinishedRunWithMoreEpochsContinuesIt()
    {
        string copy = Path.Combine(_dir, "more");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var (code, _, err) = CliTests.Run("train", "--resume", copy, "--set", "epochs=3", "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.Zero, err);
        Assert.That(RunDirectory.Open(copy).Metrics.ReadEpochs().Select(e => e.Epoch), Is.EqualTo(new[] { 1, 2, 3 }));
        // The new epochs are saved, so a later stop's "continue with" goes on to them; the summary names the config, not the folder.
        Assert.That(ArTar.Configuration.RunConfig.Load(Path.Combine(copy, "config.json")).Epochs, Is.EqualTo(3));
        Assert.That(Checkpoint.Load(Path.Combine(copy, "last.safetensors")).Metadata.Config, Does.Contain("\"epochs\": 3"));
        Assert.That(RunDirectory.Open(copy).ReadSummary().Config, Is.EqualTo("small"));
        (code, _, err) = CliTests.Run("train", "--resume", copy, "--set", "alpha=3");
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("only epochs may change"));
        // Spaces around the key are read as any --set reads them: epochs still, so the run goes on (a 4th epoch).
        (code, _, err) = CliTests.Run("train", "--resume", copy, "--set", " epochs = 4", "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.Zero, err);
        Assert.That(RunDirectory.Open(copy).Metrics.ReadEpochs().Select(e => e.Epoch), Is.EqualTo(new[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void ResumeOnOtherTextWithTheSameVocabularyIsRefusedNamingTheFile()
    {
        // The same PTB files with valid and test swapped: the vocabulary is the same, the text is not.
        string data = Path.Combine(_dir, "swapped-data");
        Directory.CreateDirectory(data);
        foreach (var (from, to) in new[] { ("train", "train"), ("valid", "test"), ("test", "valid") })
            File.Copy(Path.Combine(TestData.Folder("ptb"), from + ".txt"), Path.Combine(data, to + ".txt"));
        string copy = Path.Combine(_dir, "swapped");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var (code, _, err) = CliTests.Run("train", "--resume", copy, "--set", "epochs=3", "--device", "cpu", "--data", data);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("was trained on another valid.txt").And.Contain(Path.Combine(data, "valid.txt")));
        Assert.That(RunDirectory.Open(copy).Metrics.ReadEpochs(), Has.Count.EqualTo(2), "the refused resume trained");
    }

    [Test]
    public void ADivergedRunBeforeItsFirstCheckpointSaysNoWeightsAreKeptAndCanBeResumed()
    {
        string run = Path.Combine(_dir, "diverged");
        string[] train = ["train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", run, "--set", "lr=1e308"];
        var (code, _, err) = CliTests.Run(train);
        Assert.That(code, Is.EqualTo(Program.Failed));
        Assert.That(OneLine(err), Does.Contain("the loss is not finite").And.Contain("before its first checkpoint, so no weights are kept")
            .And.Not.Contain("keeps the last good weights"));
        Assert.That(File.Exists(Path.Combine(run, "last.safetensors")), Is.False);
        // The same --run-dir sends the user to --resume, and --resume takes the folder (training it from epoch 1 again).
        (code, _, err) = CliTests.Run(train);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("continue that run with --resume " + run));
        (code, _, err) = CliTests.Run("train", "--resume", run, "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.Failed));
        Assert.That(OneLine(err), Does.Contain("epoch 1, step 1: the loss is not finite"));
    }

    [Test]
    public void ABpttLongerThanTheDataTrainsAndEvaluates()
    {
        // 1000 training tokens at batch 4 are 250 rows; a window never outgrows them, so nothing larger is allocated.
        string run = Path.Combine(_dir, "long-bptt");
        var (code, _, err) = CliTests.Run("train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", run,
            "--set", "bptt=1000000", "--set", "epochs=1");
        Assert.That(code, Is.Zero, err);
        (code, var output, err) = CliTests.Run("eval", run, "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain("test perplexity"));
    }

    [Test]
    public void AWindowTooLargeForOneTensorIsOneLine()
    {
        var (code, _, err) = CliTests.Run("train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", Path.Combine(_dir, "huge"),
            "--set", "max_train_tokens=0", "--set", "batch_size=20000", "--set", "bptt=20");
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("batch_size 20000 × bptt 20 × vocabulary 10000").And.Contain("lower batch_size or bptt"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "huge")), Is.False, "a run folder no run started in is removed");
    }

    [Test]
    public void AModelTooLargeForOneArenaIsOneLine()
    {
        var (code, _, err) = CliTests.Run("train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", Path.Combine(_dir, "wide"),
            "--set", "hidden=65536");
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("gru with hidden 65536, layers 2 and vocabulary 10000 has").And.Contain("lower hidden or layers"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "wide")), Is.False);
    }

    [Test]
    public void AnEvalSplitTooShortForItsBatchNamesTheSplit()
    {
        var (code, _, err) = CliTests.Run("train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", Path.Combine(_dir, "short"),
            "--set", "max_eval_tokens=5");
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("the valid split of").And.Contain("5 tokens, too few for batch size 5"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "short")), Is.False, "a run folder no run started in is removed");
    }

    [Test]
    public void AFileGivenAsARunFolderIsNamedAsOneAndLeftAlone()
    {
        string file = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(file, "keep me");
        var (code, _, err) = CliTests.Run("train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", file);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain($"{file} is a file; --run-dir takes a folder"));
        (code, _, err) = CliTests.Run("train", "--resume", file);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain($"{file} is a file, not a run folder"));
        Assert.That(File.ReadAllText(file), Is.EqualTo("keep me"));
    }

    [Test]
    public void EvalOfAFolderThatIsNoRunIsBadInput()
    {
        string folder = Path.Combine(_dir, "empty.safetensors");
        Directory.CreateDirectory(folder);
        var (code, _, err) = CliTests.Run("eval", folder, "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("is not a run folder"));
    }

    [TestCase("\\\"window\\\":\\\"x\\\"", "its metadata 'training' is not a training state")]
    [TestCase("\\\"window\\\":-", "its metadata 'training' is not a training state")]
    [TestCase("\\\"window\\\":-1", "its training state has window -1")]
    [TestCase("\\\"window\\\":99", "its training state has epoch_rows 0 (window 99), which no run reaches")]
    public void ResumeFromDamagedTrainerMetadataIsOneLineAndLeavesTheRun(string damaged, string expected)
    {
        // The finished run's last.safetensors holds "window":0 inside its training entry (a JSON string, so its quotes are
        // escaped); the header's length (first 8 bytes) follows the edit.
        string copy = Path.Combine(_dir, "damaged-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        string last = Path.Combine(copy, "last.safetensors");
        byte[] bytes = File.ReadAllBytes(last);
        byte[] original = System.Text.Encoding.ASCII.GetBytes("\\\"window\\\":0");
        int at = bytes.AsSpan().IndexOf(original);
        Assert.That(at, Is.GreaterThan(0));
        byte[] edit = System.Text.Encoding.ASCII.GetBytes(damaged);
        bytes = [.. bytes[..at], .. edit, .. bytes[(at + original.Length)..]];
        ulong headerLength = BitConverter.ToUInt64(bytes, 0) + (ulong)(edit.Length - original.Length);
        BitConverter.GetBytes(headerLength).CopyTo(bytes, 0);
        File.WriteAllBytes(last, bytes);

        var (code, _, err) = CliTests.Run("train", "--resume", copy, "--set", "epochs=3", "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.StartWith($"error: checkpoint {last}: ").And.Contain(expected));
        Assert.That(File.ReadAllBytes(last), Is.EqualTo(bytes));
    }

    [Test]
    public void ResumeOfAFolderThatIsNoRunIsOneLine()
    {
        var (code, _, err) = CliTests.Run("train", "--resume", _dir);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("is not a run folder"));
    }

    [Test]
    public void SigtermFinishesTheStepWritesACheckpointAndExits130()
    {
        // The real program in its own process, stopped the way a scheduler or `kill` stops it.
        string run = Path.Combine(_dir, "sigterm");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in new[] { TestData.ArtarDll, "train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"),
                     "--run-dir", run, "--set", "epochs=1000", "--set", "log_interval=1" })
            start.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(start)!;
        string metrics = Path.Combine(run, "metrics.jsonl");
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!(File.Exists(metrics) && File.ReadAllText(metrics).Contains("\"step\"")) && waited.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            Thread.Sleep(100);
        Assert.That(process.HasExited, Is.False, "the run ended before it could be stopped");
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])) kill.WaitForExit();
        Assert.That(process.WaitForExit(60_000), Is.True, "the run did not stop within a minute of SIGTERM");
        string output = process.StandardOutput.ReadToEnd();
        Assert.That(process.ExitCode, Is.EqualTo(Program.Stopped));
        Assert.That(output, Does.Contain("continue with: artar train --resume " + run));
        var last = Checkpoint.Load(Path.Combine(run, "last.safetensors"));
        Assert.That(last.Metadata.Training.Step, Is.GreaterThan(0));
    }
}

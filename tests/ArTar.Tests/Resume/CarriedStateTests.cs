using System.Text.Json.Nodes;
using ArTar.Checkpoints;
using NUnit.Framework;

namespace ArTar.Tests.Resume;

/// <summary>
/// A checkpoint taken mid-epoch carries the hidden state into its next window (state.h_l{k}, state.c_l{k}); without every
/// one of them, each exactly [batch, hidden], a resumed run would silently differ from the uninterrupted one, so
/// `train --resume` refuses it in one line and leaves the run as it was.
/// </summary>
[NonParallelizable]
public class CarriedStateTests
{
    private const int Batch = 4, Hidden = 12, Layers = 2;
    private string _dir = "", _run = "";

    [OneTimeSetUp]
    public void TrainOnce()
    {
        _dir = TestData.TempFolder();
        string config = Path.Combine(_dir, "lstm.json");
        File.WriteAllText(config, $$"""
            {"model": "lstm", "layers": {{Layers}}, "hidden": {{Hidden}}, "epochs": 1, "batch_size": {{Batch}}, "eval_batch_size": 5,
             "bptt": 8, "max_train_tokens": 1000, "max_eval_tokens": 600, "log_interval": 20}
            """);
        _run = Path.Combine(_dir, "run");
        var (code, _, err) = CliTests.Run("train", config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", _run);
        Assert.That(code, Is.Zero, err);
    }

    [OneTimeTearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    /// <summary>A copy of the finished run whose last.safetensors says it stopped after window 3 of epoch 1, with these state tensors.</summary>
    private string StoppedMidEpoch(IEnumerable<NamedTensor> state)
    {
        string copy = Path.Combine(_dir, "copy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        string last = Path.Combine(copy, "last.safetensors");
        var file = SafeTensors.Read(last);
        var metadata = file.Metadata.ToDictionary();
        var training = JsonNode.Parse(metadata["training"])!.AsObject();
        training["epoch"] = 0;
        training["window"] = 3;
        training["step"] = 3;
        training["best_valid_loss"] = "Infinity";
        training["best_epoch"] = 0;
        training["epoch_ce_sum"] = 3 * 8 * Batch * 7.0;
        training["epoch_rows"] = 3 * 8 * Batch;
        metadata["training"] = training.ToJsonString();
        var tensors = file.Tensors.Where(t => !t.Name.StartsWith(Checkpoint.StatePrefix, StringComparison.Ordinal)).Concat(state).ToList();
        SafeTensors.Write(last, tensors, metadata);
        return copy;
    }

    private static IEnumerable<NamedTensor> State(int batch, int hidden, params string[] except) =>
        Enumerable.Range(0, Layers).SelectMany(l => new[] { $"state.h_l{l}", $"state.c_l{l}" })
            .Where(n => !except.Contains(n))
            .Select(n => new NamedTensor(n, [batch, hidden], Enumerable.Repeat(0.25f, batch * hidden).ToArray()));

    [Test]
    public void EveryStateTensorOfTheRightShapeResumes()
    {
        string run = StoppedMidEpoch(State(Batch, Hidden));
        var (code, _, err) = CliTests.Run("train", "--resume", run, "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.Zero, err);
        // It went on from step 3 to the end of the epoch, and finished.
        Assert.That(Checkpoint.Load(Path.Combine(run, "last.safetensors")).Metadata.Training.Step, Is.GreaterThan(3));
        Assert.That(File.Exists(Path.Combine(run, "summary.json")), Is.True);
    }

    [TestCase("state.h_l1")]
    [TestCase("state.c_l0")]
    public void AMissingStateTensorIsOneLine(string missing)
    {
        string run = StoppedMidEpoch(State(Batch, Hidden, missing));
        byte[] before = File.ReadAllBytes(Path.Combine(run, "last.safetensors"));
        var (code, _, err) = CliTests.Run("train", "--resume", run, "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.Contain($"has no {missing}").And.Contain("cannot be resumed exactly"));
        Assert.That(File.ReadAllBytes(Path.Combine(run, "last.safetensors")), Is.EqualTo(before), "the checkpoint is left as it was");
    }

    [Test]
    public void AStateTensorOfTheWrongShapeIsOneLine()
    {
        string run = StoppedMidEpoch(State(Batch, Hidden, "state.h_l0").Append(new NamedTensor("state.h_l0", [1, Hidden], new float[Hidden])));
        var (code, _, err) = CliTests.Run("train", "--resume", run, "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(err, Does.Contain($"state.h_l0 has shape [1,{Hidden}], this run carries [{Batch},{Hidden}]"));
    }

    [Test]
    public void AStateTensorOfNoLayerIsOneLine()
    {
        string run = StoppedMidEpoch(State(Batch, Hidden).Append(new NamedTensor("state.h_l7", [Batch, Hidden], new float[Batch * Hidden])));
        var (code, _, err) = CliTests.Run("train", "--resume", run, "--device", "cpu", "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(err, Does.Contain("holds state.h_l7, which is no state of this lstm model with 2 layers"));
    }
}

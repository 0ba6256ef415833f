using System.Diagnostics;
using ArTar.Backends;
using ArTar.Checkpoints;
using ArTar.Cpu;
using ArTar.Data;
using ArTar.Models;
using ArTar.Training;
using NUnit.Framework;

namespace ArTar.Tests.Checkpoints;

/// <summary>eval and generate of hostile checkpoints through the command line: one line on stderr and the right exit code.</summary>
public class HostileCheckpointCliTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestData.TempFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static string OneLine(string err)
    {
        var lines = err.TrimEnd().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1), err);
        return lines[0];
    }

    /// <summary>A model of 1 layer, hidden 2, over <paramref name="words"/>, with vocab.txt beside it; <paramref name="value"/> gives each weight.</summary>
    private string Save(string[] words, Func<string, int, float> value, CellType cell = CellType.Rnn)
    {
        string path = Path.Combine(_dir, "model.safetensors");
        var meta = new CheckpointMetadata
        {
            Config = $$"""{"model": "{{cell.ConfigName()}}", "layers": 1, "hidden": 2, "data": "data/ptb", "eval_batch_size": 2, "bptt": 5, "max_eval_tokens": 200}""",
            VocabularySha256 = Checkpoint.VocabularySha256(words),
            Model = new ModelShape(cell, words.Length, Hidden: 2, Layers: 1),
            Training = TrainingState.Start(20) with { Epoch = 1, Step = 10, BestValidLoss = 5, BestEpoch = 1 },
        };
        Checkpoint.Save(path, meta, (name, destination) =>
        {
            for (int i = 0; i < destination.Length; i++) destination[i] = value(name, i);
        });
        File.WriteAllText(Path.Combine(_dir, "vocab.txt"), string.Join('\n', words));
        return path;
    }

    private static float Small(string name, int i) => (float)Math.Sin(17 * i + name.Length) * 0.1f;

    // Finite weights whose products overflow: ±MaxValue·MaxValue meet as ∞ - ∞ = NaN in the first layer.
    private static float Overflowing(string name, int i) => name switch
    {
        ModelShape.EncoderWeight => float.MaxValue,
        "rnn.weight_ih_l0" => i % 2 == 0 ? float.MaxValue : -float.MaxValue,
        _ => 0,
    };

    private static readonly string[] Words = ["<eos>", "<unk>", "the", "cat", "sat"];

    [Test]
    public void EvalOfACheckpointHoldingNaNIsOneLineAndExitsTwo()
    {
        string path = Save(Words, (name, i) => name == ModelShape.EncoderWeight && i == 7 ? float.NaN : Small(name, i));
        var (code, output, err) = CliTests.Run("eval", path, "--device", "cpu");
        Assert.That(code, Is.EqualTo(Program.BadInput), err);
        Assert.That(OneLine(err), Does.StartWith($"error: checkpoint {path}: encoder.weight holds NaN at index [3,1]; "));
        Assert.That(output, Is.Empty);
    }

    [Test]
    public void EvalOfDevZeroIsOneLineAndExitsTwo()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        var (code, _, err) = CliTests.Run("eval", "/dev/zero", "--device", "cpu");
        Assert.That(code, Is.EqualTo(Program.BadInput), err);
        Assert.That(OneLine(err), Does.StartWith("error: checkpoint /dev/zero: is a character device, not a regular file"));
    }

    /// <summary>The real program, so that a FIFO opened by mistake would hang a process we can kill, not the test run.</summary>
    [Test]
    public void EvalOfAFifoIsOneLineAndExitsTwoWithoutWaitingForAWriter()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        string fifo = Path.Combine(_dir, "pipe.safetensors");
        using (var mkfifo = Process.Start("mkfifo", [fifo])) mkfifo.WaitForExit();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[] { TestData.ArtarDll, "eval", fifo, "--device", "cpu" }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var err = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            Assert.Fail("artar eval of a FIFO did not exit in 60 s (it opened the FIFO and waits for a writer)");
        }
        Assert.That(process.ExitCode, Is.EqualTo(Program.BadInput), err.Result);
        Assert.That(OneLine(err.Result), Is.EqualTo($"error: checkpoint {fifo}: is a FIFO (named pipe), not a regular file; give a .safetensors file written by `artar train`"));
    }

    [Test]
    public void EvalOfWeightsThatOverflowIsOneLineAndExitsOne()
    {
        string data = TestData.Folder("ptb");
        string[] words = [.. Corpus.Load(data, 0, 200).Vocabulary.Words];
        string path = Save(words, Overflowing);
        var (code, output, err) = CliTests.Run("eval", path, "--device", "cpu", "--data", data);
        Assert.That(code, Is.EqualTo(Program.Failed), err);
        Assert.That(OneLine(err), Does.StartWith($"error: {path}: the test cross-entropy is NaN (not finite)"));
        Assert.That(output, Does.Not.Contain("perplexity"));
    }

    /// <summary>
    /// Non-finite scores: no checkpoint can carry a NaN (<see cref="Checkpoint.Load(string)"/> refuses it) and the CPU
    /// backend's tanh and σ saturate an overflow away, so the NaN goes into the arena directly.
    /// </summary>
    [Test]
    public void GenerateFromNonFiniteScoresIsOneLine()
    {
        using var backend = new CpuBackend<float>();
        var shape = new ModelShape(CellType.Lstm, Words.Length, Hidden: 2, Layers: 1);
        using var parameters = backend.CreateParameters(shape);
        foreach (ParameterSpec p in shape.Parameters())
            parameters.Write(p.Name, [.. Enumerable.Range(0, (int)p.Count).Select(i => p.Name == ModelShape.DecoderBias && i == 3 ? float.NaN : Small(p.Name, i))]);
        var e = Assert.Throws<TrainingException>(() => TextGenerator.Sample(backend, parameters, Vocabulary.FromWords(Words), 5, 1.0, 0).ToList())!;
        Assert.That(e.Message, Is.EqualTo("the model's scores for word 1 are not finite (NaN): its weights overflow or hold NaN, so there is no distribution to sample from"));
    }

    [Test]
    public void GenerateWithNoWordToPickIsOneLineAndExitsOne()
    {
        string path = Save([Vocabulary.EndOfSentence, Vocabulary.Unknown], Small);
        var (code, _, err) = CliTests.Run("generate", path, "--device", "cpu", "--words", "5");
        Assert.That(code, Is.EqualTo(Program.Failed), err);
        Assert.That(OneLine(err), Does.StartWith("error: the model has no word to generate"));
    }
}

using ArTar.Cli.Runs;
using ArTar.Checkpoints;
using ArTar.Configuration;
using ArTar.Cpu;
using ArTar.Data;
using ArTar.Models;
using ArTar.Training;

namespace ArTar.Tests;

public class TrainerTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestData.TempFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>A small model on a slice of PTB: seconds per epoch on two cores, every part of the recipe switched on.</summary>
    private static RunConfig Small() => RunConfig.Parse("""
        {"model": "lstm", "layers": 2, "hidden": 16, "dropout": 0.2, "dropout_h": 0.1, "alpha": 2, "beta": 1,
         "lr": 20, "clip": 0.25, "epochs": 3, "batch_size": 4, "eval_batch_size": 5, "bptt": 8, "seed": 7,
         "data": "data/ptb", "max_train_tokens": 1700, "max_eval_tokens": 800, "log_interval": 10}
        """, "small.json");

    private static Corpus Slice(RunConfig c) => Corpus.Load(TestData.Folder("ptb"), c.MaxTrainTokens, c.MaxEvalTokens);

    private (Trainer Trainer, RunDirectory Run, StringWriter Log) NewTrainer(RunConfig config, Corpus corpus, string name, bool resume = false)
    {
        string path = Path.Combine(_dir, name);
        var run = resume ? RunDirectory.Open(path) : RunDirectory.CreateAt(path, config.ToJson(), corpus.Vocabulary.Words);
        var log = new StringWriter();
        var trainer = new Trainer(config, corpus, new CpuBackend<float>(), run.Files, new RunObserver(new ProgressReporter(log, interactive: false, config.LogInterval), run, config.Name));
        if (resume) trainer.Resume(Checkpoint.Load(run.LastCheckpointPath));
        return (trainer, run, log);
    }

    private static Dictionary<string, float[]> Weights(string checkpoint) =>
        Checkpoint.Load(checkpoint).Tensors.ToDictionary(t => t.Name, t => t.Data);

    [Test]
    public void PtbTinyBeatsAUnigramModelAfterOneEpoch()
    {
        // config/ptb-tiny.json for one epoch (200,000 training tokens). An add-one unigram model fitted on the same
        // 200,000 tokens has perplexity 716 on the first 20,000 validation tokens (docs/trainer.md), and an untrained
        // model sits at the vocabulary size, 10,000; beating the unigram means the LSTM learned to use its context.
        var config = RunConfig.Load(Path.Combine(TestData.RepoRoot, "config", "ptb-tiny.json")).WithOverride("epochs=1");
        var (trainer, run, _) = NewTrainer(config, Slice(config), "tiny");
        using (trainer) Assert.That(trainer.Run(CancellationToken.None), Is.EqualTo(RunOutcome.Finished));
        var summary = run.ReadSummary();
        Assert.That(summary.ValidPpl, Is.LessThan(700), "valid perplexity after one epoch of ptb-tiny");
        var epochs = run.Metrics.ReadEpochs();
        Assert.That(epochs, Has.Count.EqualTo(1));
        Assert.That(epochs[0].ValidPpl, Is.EqualTo(summary.ValidPpl).Within(1e-9).Percent);
        Assert.That(File.Exists(run.CurvesPath) && File.Exists(run.BestCheckpointPath) && File.Exists(run.LastCheckpointPath));
    }

    [TestCase(5, TestName = "ResumeMidEpochIsBitIdentical")]
    [TestCase(53, TestName = "ResumeAtAnEpochBoundaryIsBitIdentical")]   // 1700/4 = 425 rows → 53 windows of 8
    public void StoppedAndResumedRunEndsBitIdentical(int stopAfter)
    {
        var config = Small();
        var corpus = Slice(config);
        var (whole, wholeRun, _) = NewTrainer(config, corpus, "whole");
        using (whole) Assert.That(whole.Run(CancellationToken.None), Is.EqualTo(RunOutcome.Finished));

        var (first, stoppedRun, _) = NewTrainer(config, corpus, "stopped");
        using var stop = new CancellationTokenSource();
        first.AfterStep = (step, _) => { if (step == stopAfter) stop.Cancel(); };
        using (first) Assert.That(first.Run(stop.Token), Is.EqualTo(RunOutcome.Stopped));
        Assert.That(Checkpoint.Load(stoppedRun.LastCheckpointPath).Metadata.Step, Is.EqualTo(stopAfter));

        var (second, _, log) = NewTrainer(config, corpus, "stopped", resume: true);
        using (second) Assert.That(second.Run(CancellationToken.None), Is.EqualTo(RunOutcome.Finished));
        Assert.That(log.ToString(), Does.Contain($"step {stopAfter}"));

        var expected = Weights(wholeRun.LastCheckpointPath);
        var actual = Weights(stoppedRun.LastCheckpointPath);
        Assert.That(actual.Keys, Is.EquivalentTo(expected.Keys));
        foreach (var (name, data) in expected)
            Assert.That(actual[name].AsSpan().SequenceEqual(data), $"{name} differs bitwise after stop at step {stopAfter} and resume");
        Assert.That(stoppedRun.ReadSummary().TestPpl, Is.EqualTo(wholeRun.ReadSummary().TestPpl));
        Assert.That(stoppedRun.Metrics.ReadEpochs().Select(e => e.ValidPpl), Is.EqualTo(wholeRun.Metrics.ReadEpochs().Select(e => e.ValidPpl)));
    }

    [Test]
    public void LrIsDividedByFourWhenValidationDoesNotImprove()
    {
        var config = Small();
        var (trainer, run, log) = NewTrainer(config, Slice(config), "anneal");
        // Epoch 2's validation is made worse than epoch 1's; epochs 1 and 3 keep their real values.
        trainer.ValidationLossOverride = (epoch, loss) => epoch == 2 ? 1e6 : loss;
        using (trainer) trainer.Run(CancellationToken.None);
        var lrs = run.Metrics.ReadEpochs().Select(e => e.Lr).ToList();
        Assert.That(lrs, Is.EqualTo(new[] { 20.0, 20.0, 5.0 }), "lr used in epochs 1, 2, 3");
        Assert.That(log.ToString(), Does.Contain("validation did not improve: lr 20 → 5"));
        Assert.That(Checkpoint.Load(run.BestCheckpointPath).Metadata.Epoch, Is.Not.EqualTo(2), "epoch 2 is never the best model");
        Assert.That(Checkpoint.Load(run.LastCheckpointPath).Metadata.Lr, Is.EqualTo(run.ReadSummary().BestEpoch == 3 ? 5.0 : 1.25));
    }

    [Test]
    public void NonFiniteLossStopsTheRunAndLeavesTheCheckpointsAlone()
    {
        var config = Small();
        var (trainer, run, _) = NewTrainer(config, Slice(config), "nan");
        byte[]? best = null, last = null;
        trainer.AfterStep = (step, t) =>
        {
            if (step != 60) return;   // epoch 2, after epoch 1 wrote best and last
            best = File.ReadAllBytes(run.BestCheckpointPath);
            last = File.ReadAllBytes(run.LastCheckpointPath);
            var poisoned = new float[t.Shape.Vocab * t.Shape.Hidden];
            poisoned.AsSpan().Fill(float.NaN);
            t.Parameters.Write("encoder.weight", poisoned);
        };
        using (trainer)
        {
            var e = Assert.Throws<TrainingException>(() => trainer.Run(CancellationToken.None))!;
            Assert.That(e.Message, Does.Contain("step 60").And.Contain("not finite").And.Contain("last.safetensors keeps the last good weights"));
            Assert.That(e.Message, Does.Not.Contain('\n'));
        }
        Assert.That(best, Is.Not.Null);
        Assert.That(File.ReadAllBytes(run.BestCheckpointPath), Is.EqualTo(best));
        Assert.That(File.ReadAllBytes(run.LastCheckpointPath), Is.EqualTo(last));
        Assert.That(Weights(run.BestCheckpointPath).Values.All(d => d.All(float.IsFinite)));
    }

    [Test]
    public void EvalOfTheSavedModelReproducesTheLoggedPerplexity()
    {
        var config = Small().WithOverride("epochs=2");
        var corpus = Slice(config);
        var (trainer, run, _) = NewTrainer(config, corpus, "eval");
        using (trainer) trainer.Run(CancellationToken.None);
        var summary = run.ReadSummary();

        var backend = new CpuBackend<float>();
        var best = Checkpoint.Load(run.BestCheckpointPath, new(config.Model, corpus.Vocabulary.Count, config.Hidden, config.Layers),
            Checkpoint.VocabularySha256(corpus.Vocabulary.Words));
        using var parameters = backend.CreateParameters(best.Metadata.Model);
        foreach (var t in best.Tensors) parameters.Write(t.Name, t.Data);
        using var model = new LanguageModel(backend, parameters, config.EvalBatchSize, config.Bptt);
        double valid = Trainer.Evaluate(model, new BatchedStream(corpus.Valid, config.EvalBatchSize));
        double test = Trainer.Evaluate(model, new BatchedStream(corpus.Test, config.EvalBatchSize));
        Assert.That(Math.Exp(valid), Is.EqualTo(summary.ValidPpl));
        Assert.That(Math.Exp(test), Is.EqualTo(summary.TestPpl));
        Assert.That(Math.Exp(best.Metadata.BestValidLoss), Is.EqualTo(summary.ValidPpl).Within(1e-12).Percent);

        var words = TextGenerator.Sample(backend, parameters, corpus.Vocabulary, 40, 1.0, seed: 3).ToList();
        Assert.That(words, Has.Count.EqualTo(40));
        Assert.That(words, Has.None.EqualTo("<eos>").And.None.EqualTo("<unk>"));
        Assert.That(TextGenerator.Sample(backend, parameters, corpus.Vocabulary, 40, 1.0, seed: 3), Is.EqualTo(words), "same seed, same text");
        Assert.That(TextGenerator.Sample(backend, parameters, corpus.Vocabulary, 40, 1.0, seed: 4), Is.Not.EqualTo(words));
        // The smallest temperature (1/T overflows) is greedy decoding, as a small one is: the seed no longer matters.
        var greedy = TextGenerator.Sample(backend, parameters, corpus.Vocabulary, 10, 1e-6, seed: 3).ToList();
        Assert.That(TextGenerator.Sample(backend, parameters, corpus.Vocabulary, 10, double.Epsilon, seed: 4), Is.EqualTo(greedy));
    }
}

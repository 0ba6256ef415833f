using NUnit.Framework;

namespace ArTar.Tests.Sweeps;

/// <summary><c>artar sweep … --slurm</c> through the command line: the plan of `artar sweep` becomes one array task per member.</summary>
[Category("Slurm")]
public class SweepSlurmCliTests
{
    private string _dir = "";

    [SetUp]
    public void MakeFolder() => _dir = TestData.TempFolder();

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_dir, recursive: true);

    private string Config()
    {
        string config = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(config, """{"model": "lstm", "layers": 1, "hidden": 8, "epochs": 1, "bptt": 8, "batch_size": 4, "eval_batch_size": 4, "max_train_tokens": 1000, "max_eval_tokens": 500}""");
        return config;
    }

    [Test]
    public void AGridBecomesAJobArrayWithOneTaskPerMember()
    {
        string runs = Path.Combine(_dir, "runs");
        var (code, output, err) = CliTests.Run("sweep", Config(), "--grid", "alpha=0,2,4", "--slurm", "--time", "01:00:00", "--runs", runs, "--device", "cpu");
        Assert.That(code, Is.Zero, err);
        string script = Path.Combine(runs, "tiny", "sweep.sbatch");
        Assert.That(output, Does.Contain("3 array tasks"));
        string text = File.ReadAllText(script);
        Assert.That(text, Does.Contain("--array=0-2"));
        foreach (string member in new[] { "tiny-alpha=0", "tiny-alpha=2", "tiny-alpha=4" })
            Assert.That(text, Does.Contain(member));
        Assert.That(text, Does.Contain("--device").And.Contain("cpu"));
    }

    [TestCase("--partition", "gpu")]
    [TestCase("--time", "01:00:00")]
    public void SlurmOptionsWithoutSlurmAreOneLine(string option, string value)
    {
        var (code, _, err) = CliTests.Run("sweep", Config(), option, value, "--runs", Path.Combine(_dir, "runs"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(err, Does.Contain($"{option} is an option of --slurm"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "runs", "tiny")), Is.False, "nothing was planned or written");
    }
}

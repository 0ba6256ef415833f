namespace ArTar.Tests;

public class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Execute(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Test]
    public void HelpNamesEveryCommand()
    {
        var (code, output, _) = Run("--help");
        Assert.That(code, Is.Zero);
        foreach (var c in new[] { "train", "eval", "generate", "data get" })
            Assert.That(output, Does.Contain("artar " + c));
        Assert.That(Run("train", "--help").Out, Does.Contain("--resume RUN_DIR").And.Contain("dropout_h"));
    }

    [TestCase(new[] { "frobnicate" }, "unknown command \"frobnicate\"")]
    [TestCase(new[] { "train" }, "missing config file")]
    [TestCase(new[] { "train", "config/none.json" }, "config/none.json: config file not found")]
    [TestCase(new[] { "train", "x.json", "--device", "tpu" }, "--device tpu: expected auto, cpu or cuda")]
    [TestCase(new[] { "train", "x.json", "--bogus", "1" }, "unknown option --bogus")]
    [TestCase(new[] { "eval", "run", "--split", "train" }, "--split train: expected valid or test")]
    [TestCase(new[] { "generate", "run", "--words", "-3" }, "--words -3: expected a positive integer")]
    [TestCase(new[] { "data", "fetch" }, "unknown subcommand \"fetch\"")]
    [TestCase(new[] { "data", "get", "bogus" }, "unknown corpus 'bogus'")]
    [TestCase(new[] { "data", "get", "ptb", "--mirror", "ftp://x" }, "--mirror ftp://x: expected an http(s) URL")]
    public void BadCommandLinesAreOneLineAndExitTwo(string[] args, string expected)
    {
        var (code, _, err) = Run(args);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(err, Does.Contain(expected));
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }

    [Test]
    public void DeviceReportsTheProbeAndExitsOneWithoutAGpu()
    {
        var probe = global::ArTar.Cuda.CudaAvailability.Probe();
        var (code, output, _) = Run("device");
        Assert.That(output.TrimEnd(), Is.EqualTo(probe.ToString()));
        Assert.That(code, Is.EqualTo(probe.Available ? Program.Ok : Program.Failed));
    }
}

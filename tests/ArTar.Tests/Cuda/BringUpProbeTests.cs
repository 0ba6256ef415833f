using System.Diagnostics;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Cuda.Probe;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>
/// <c>artar device --probe</c>: the runner's DAG and table with fake stages, the real stage list's coverage, its op and
/// layer checks with the float CPU in the GPU's place, and the real program here (no GPU: every stage skipped, exit 1).
/// </summary>
public class BringUpProbeTests
{
    private static BringUpStage Stage(string name, string[] needs, Func<StageResult> run, List<string>? ran = null) =>
        new(name, needs, () => { ran?.Add(name); return run(); });

    private static StageResult Fine() => StageResult.Ok("fine");

    private static Dictionary<string, StageRow> ByName(IReadOnlyList<StageRow> rows) => rows.ToDictionary(r => r.Stage);

    [Test]
    public void AFailedStageSkipsExactlyItsDependentsAndIndependentStagesStillRun()
    {
        var ran = new List<string>();
        var stages = new[]
        {
            Stage("a", [], Fine, ran),
            Stage("b", ["a"], () => StageResult.Failed("broke"), ran),
            Stage("c", ["b"], Fine, ran),
            Stage("d", ["a"], Fine, ran),
            Stage("e", ["c"], Fine, ran),          // skipped through c: the cause named is b
            Stage("f", ["d", "b"], Fine, ran),
            Stage("g", ["d"], Fine, ran),
        };
        var rows = ByName(BringUpRunner.Run(stages, TextWriter.Null));

        Assert.That(ran, Is.EqualTo(new[] { "a", "b", "d", "g" }), "only stages whose prerequisites are all ok run, in list order");
        Assert.That(rows["b"].Result, Is.EqualTo(StageResult.Failed("broke")));
        foreach (var skipped in new[] { "c", "e", "f" })
            Assert.That(rows[skipped].Result, Is.EqualTo(StageResult.Skipped("needs b")), skipped);
        foreach (var ok in new[] { "a", "d", "g" }) Assert.That(rows[ok].Result.Outcome, Is.EqualTo(StageOutcome.Ok), ok);
        Assert.That(BringUpRunner.AllOk([.. rows.Values]), Is.False);
    }

    [Test]
    public void AStageSkippedOnItsOwnIsTheCauseNamedDownstream()
    {
        var stages = new[]
        {
            Stage("cuInit", [], () => StageResult.Skipped("libcuda.so.1 not found")),
            Stage("device", ["cuInit"], Fine),
            Stage("context", ["device"], Fine),
            Stage("other", [], () => StageResult.Failed("no")),
            Stage("both", ["context", "other"], Fine),
        };
        var rows = ByName(BringUpRunner.Run(stages, TextWriter.Null));
        Assert.That(rows["cuInit"].Result.Message, Is.EqualTo("libcuda.so.1 not found"));
        Assert.That(rows["device"].Result.Message, Is.EqualTo("needs cuInit"));
        Assert.That(rows["context"].Result.Message, Is.EqualTo("needs cuInit"), "the root cause, not the skipped stage in between");
        Assert.That(rows["both"].Result.Message, Is.EqualTo("needs cuInit, other"));
    }

    [Test]
    public void ExceptionsBecomeFailedRowsWithTheStatusName()
    {
        var log = new StringWriter();
        var stages = new[]
        {
            Stage("descriptor", [], () => { CudaStatus.Check(CudnnStatus.CUDNN_STATUS_BAD_PARAM, "layer 0"); return Fine(); }),
            Stage("after descriptor", ["descriptor"], Fine),
            Stage("driver", [], () => { CudaStatus.Check(CuResult.CUDA_ERROR_INVALID_PTX, "kernels/x.ptx: line 3\nsyntax error"); return Fine(); }),
            Stage("managed", [], () => throw new InvalidOperationException("cuDNN gave no matrix")),
            Stage("static constructor", [], () => throw new TypeInitializationException("ArTar.Cuda.Cudnn", new DllNotFoundException("libcudnn.so.9"))),
            Stage("independent", [], Fine),
        };
        var rows = ByName(BringUpRunner.Run(stages, log));

        Assert.That(rows["descriptor"].Result.Outcome, Is.EqualTo(StageOutcome.Failed));
        Assert.That(rows["descriptor"].Result.Status, Is.EqualTo("CUDNN_STATUS_BAD_PARAM"));
        Assert.That(rows["descriptor"].Result.Message, Does.Contain("failed: CUDNN_STATUS_BAD_PARAM (2000): layer 0"));
        Assert.That(rows["after descriptor"].Result.Message, Is.EqualTo("needs descriptor"));
        Assert.That(rows["driver"].Result.Status, Is.EqualTo("CUDA_ERROR_INVALID_PTX"));
        Assert.That(rows["managed"].Result, Is.EqualTo(StageResult.Failed("InvalidOperationException: cuDNN gave no matrix")));
        Assert.That(rows["static constructor"].Result, Is.EqualTo(StageResult.Failed("DllNotFoundException: libcudnn.so.9")), "unwrapped");
        Assert.That(rows["independent"].Result.Outcome, Is.EqualTo(StageOutcome.Ok));
        Assert.That(log.ToString(), Does.Contain("managed threw System.InvalidOperationException: cuDNN gave no matrix"));
        Assert.That(log.ToString(), Does.Contain("[1/6] descriptor").And.Contain("[6/6] independent").And.Not.Contain("[2/6]"),
            "the log names each stage before it runs, and not those skipped");
    }

    [Test]
    public void StagesMustNameEarlierStagesOnce()
    {
        Assert.That(() => BringUpRunner.Run([Stage("a", ["b"], Fine), Stage("b", [], Fine)], TextWriter.Null),
            Throws.ArgumentException.With.Message.Contains("'a' needs 'b', which is not an earlier stage"));
        Assert.That(() => BringUpRunner.Run([Stage("a", [], Fine), Stage("a", [], Fine)], TextWriter.Null),
            Throws.ArgumentException.With.Message.Contains("two stages are named 'a'"));
        Assert.That(() => BringUpRunner.Run([Stage("a", ["a"], Fine)], TextWriter.Null), Throws.ArgumentException);
    }

    [Test]
    public void TheTablePadsItsColumnsAndKeepsEachMessageToOneLine()
    {
        var rows = BringUpRunner.Run(
        [
            Stage("cuInit", [], () => StageResult.Ok("driver 13.0 (13000)")),
            Stage("module dropout", ["cuInit"], () => StageResult.Failed("cuModuleLoadDataEx failed\n  ptxas: line 7\n", "CUDA_ERROR_INVALID_PTX")),
            Stage("op DropoutForward", ["module dropout"], Fine),
            Stage("long", [], () => StageResult.Ok(new string('x', 400))),
        ], TextWriter.Null);
        string table = BringUpRunner.FormatTable(rows);
        string expected =
            "stage              result   status                  message\n" +
            "cuInit             ok       -                       driver 13.0 (13000)\n" +
            "module dropout     FAILED   CUDA_ERROR_INVALID_PTX  cuModuleLoadDataEx failed ptxas: line 7\n" +
            "op DropoutForward  skipped  -                       needs module dropout\n" +
            "long               ok       -                       " + new string('x', BringUpRunner.MessageWidth - 1) + "…\n" +
            "4 stages: 2 ok, 1 FAILED, 1 skipped\n";
        Assert.That(table, Is.EqualTo(expected));
    }

    [Test]
    public void TheRealStagesCoverEveryModuleAndEveryKernelOnce()
    {
        using var probe = new BringUpProbe(TextWriter.Null);
        var stages = probe.Stages();
        Assert.DoesNotThrow(() => BringUpRunner.Run([.. stages.Select(s => s with { Run = Fine })], TextWriter.Null), "a valid DAG");
        var names = stages.Select(s => s.Name).ToList();
        Assert.That(names.Take(3), Is.EqualTo(new[] { "cuInit", "device", "context" }));
        Assert.That(PtxModules.Names, Is.Not.Empty, "this build has PTX (clang-14 or nvcc on the PATH)");
        foreach (var module in PtxModules.Names) Assert.That(names, Does.Contain(BringUpProbe.ModuleStage(module)));

        var ops = probe.OpStages();
        var covered = ops.SelectMany(o => o.Kernels).ToList();
        Assert.That(covered, Is.Unique, "one stage per kernel launch");
        Assert.That(covered, Is.EquivalentTo(CudaKernelLibrary.Declarations), "every KernelDeclaration is launched by some stage");
        foreach (var (name, kernels, _) in ops)
        {
            var needs = stages.Single(s => s.Name == name).Needs;
            Assert.That(needs, Does.Contain("backend"), name);
            foreach (var k in kernels) Assert.That(needs, Does.Contain(BringUpProbe.ModuleStage(k.Module)), $"{name} needs the module of {k.Entry}");
        }
        foreach (var cell in new[] { "lstm", "gru", "rnn" })
        {
            Assert.That(stages.Single(s => s.Name == $"cudnn {cell} ptb-650").Needs, Is.EqualTo(new[] { "cudnnCreate" }));
            Assert.That(names, Does.Contain($"cudnn {cell} layer"));
        }
    }

    [Test]
    public void TheOpAndLayerChecksPassWithTheFloatCpuInTheGpusPlace()
    {
        // What a correct GPU must pass: float32 results within the probe's tolerances, and no comparison against zeros.
        var log = new StringWriter();
        using var probe = new BringUpProbe(log, new CpuBackend<float>());
        var checks = probe.OpStages().Select(o => (o.Stage, o.Check)).Concat(probe.LayerStages()).ToList();
        Assert.That(checks, Has.Count.EqualTo(8 + 3));
        foreach (var (name, check) in checks)
        {
            var result = check();
            TestContext.Out.WriteLine($"{name}: {result.Outcome}: {result.Message}");
            Assert.That(result.Outcome, Is.EqualTo(StageOutcome.Ok), $"{name}: {result.Message}");
            Assert.That(result.Message, Is.Not.Empty.And.Not.Contain('\n'));
        }
        Assert.That(log.ToString(), Does.Contain("backward-weights rnn.weight_hh_l1: relative error"));
    }

    [Test]
    public void ArtarDeviceProbeWithoutAGpuSkipsEveryStageWithTheReason()
    {
        if (CudaLibraries.TryLoad("cuda", out _)) Assert.Ignore("this machine has libcuda.so.1: the no-GPU answer cannot be seen here");
        string log = Path.Combine(Path.GetTempPath(), $"artar-probe-{Guid.NewGuid():N}.log");
        try
        {
            var (code, stdout, stderr) = RunArtar("device", "--probe", "--log", log);
            Assert.That(code, Is.EqualTo(Program.Failed), stdout + stderr);
            Assert.That(stderr, Is.Empty);
            Assert.That(stdout, Does.Not.Contain("   at ").And.Not.Contain("Exception"), "no stack trace");
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines[0], Does.Match(@"^stage\s+result\s+status\s+message$"));
            Assert.That(lines[1], Does.Match(@"^cuInit\s+skipped\s+-\s+libcuda\.so\.1 not found "));
            using var probe = new BringUpProbe(TextWriter.Null);
            var stages = probe.Stages();
            for (int i = 1; i < stages.Count; i++)
                Assert.That(lines[1 + i], Does.Match($@"^{System.Text.RegularExpressions.Regex.Escape(stages[i].Name)}\s+skipped\s+-\s+needs cuInit$"));
            Assert.That(lines[1 + stages.Count], Is.EqualTo($"{stages.Count} stages: 0 ok, 0 FAILED, {stages.Count} skipped"));
            Assert.That(lines[^1], Is.EqualTo($"detail log: {log}"));
            Assert.That(File.ReadAllText(log), Does.Contain("[1/").And.Contain("cuInit: skipped"));
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Test]
    public void TheDetailLogFollowsTheTableWithoutLog()
    {
        var stdout = new StringWriter();
        int code = Program.Execute(["device", "--probe"], stdout, new StringWriter());
        string text = stdout.ToString();
        Assert.That(text, Does.StartWith("stage "));
        int table = text.IndexOf(" stages: ", StringComparison.Ordinal), detail = text.IndexOf("\ndetail log:\n", StringComparison.Ordinal);
        Assert.That(table, Is.GreaterThan(0));
        Assert.That(detail, Is.GreaterThan(table), "the detail log comes after the table");
        Assert.That(text[detail..], Does.Contain("[1/").And.Contain("cuInit"));
        Assert.That(code, Is.EqualTo(text.Contains(" 0 FAILED, 0 skipped") ? Program.Ok : Program.Failed));
    }

    [TestCase("--log")]
    [TestCase("--log", "/nonexistent-folder/probe.log")]
    [TestCase("extra")]
    [TestCase("--bogus", "1")]
    public void BadProbeArgumentsAreOneLineAndExit2(params string[] extra)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Execute(["device", "--probe", .. extra], stdout, stderr);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(stdout.ToString(), Is.Empty, "no stage runs");
        Assert.That(stderr.ToString().TrimEnd(), Does.StartWith("error: artar device").And.Not.Contain('\n'));
    }

    [Test]
    [Category("Gpu")]
    public void ArtarDeviceProbePassesOnAGpu()
    {
        var found = CudaAvailability.Probe();
        if (!found.Available) Assert.Ignore($"no GPU: {found.Reason}");
        var (code, stdout, stderr) = RunArtar("device", "--probe");
        TestContext.Out.WriteLine(stdout);
        Assert.That(stderr, Is.Empty);
        Assert.That(code, Is.EqualTo(Program.Ok), "every stage ok");
    }

    private static (int Code, string Stdout, string Stderr) RunArtar(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TestData.ArtarDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.That(process.WaitForExit(120_000), Is.True, "artar did not finish within two minutes");
        return (process.ExitCode, stdout, stderr.Result);
    }
}

using ArTar.Cli.Runs;
using System.Runtime.Versioning;
using ArTar.Cli;
using ArTar.Cli.Sweeps;

namespace ArTar.Tests.Sweeps;

/// <summary>The sbatch script as text, and run by a real bash with a stand-in for artar that prints its arguments.</summary>
[Category("Slurm"), UnsupportedOSPlatform("windows")]
public class SlurmArrayTests
{
    private string _dir = "";

    [SetUp]
    public void MakeFolder() => _dir = TestData.TempFolder();

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_dir, recursive: true);

    private static readonly SelfCommand Artar = new("dotnet", ["/opt/artar/artar.dll"]);

    private SweepMember Member(string name, params string[] sets) =>
        new(name, Path.Combine(_dir, name + ".json"), Path.Combine(_dir, "sweep", name), sets);

    private string Script(IReadOnlyList<SweepMember> members, SlurmOptions? options = null, SelfCommand? self = null) =>
        SlurmArray.Text("grid", Path.Combine(_dir, "sweep"), members, options ?? new SlurmOptions(), self ?? Artar, _dir,
            [new("ARTAR_DATA", "/data/it's here")]);

    [Test]
    public void ThreeMembersAreAnArrayOfThreeThatResumesAndAsksForASignal()
    {
        string text = Script([Member("a", "epochs=1"), Member("b", "hidden=16"), Member("c")],
            new SlurmOptions("gpu", "04:00:00", 1, 4, "cuda"));
        var lines = text.Split('\n');
        Assert.That(lines[0], Is.EqualTo("#!/bin/bash"));
        Assert.That(lines, Does.Contain("#SBATCH --array=0-2"));
        Assert.That(lines, Does.Contain("#SBATCH --signal=B:USR1@300"));
        Assert.That(lines, Does.Contain($"#SBATCH --output=\"{Path.Combine(_dir, "sweep")}/slurm-%A_%a.out\""));
        Assert.That(lines, Does.Contain("#SBATCH --requeue").And.Contain("#SBATCH --open-mode=append"));
        Assert.That(lines, Does.Contain("#SBATCH --partition=gpu").And.Contain("#SBATCH --time=04:00:00"));
        Assert.That(lines, Does.Contain("#SBATCH --gpus-per-task=1").And.Contain("#SBATCH --cpus-per-task=4"));
        Assert.That(lines, Does.Contain("export ARTAR_DATA='/data/it'\\''s here'"));
        Assert.That(lines, Does.Contain("artar=('dotnet' '/opt/artar/artar.dll')").And.Contain("device=(--device 'cuda')"));
        Assert.That(lines.Count(l => l.StartsWith("  0) ") || l.StartsWith("  1) ") || l.StartsWith("  2) ")), Is.EqualTo(3));
        Assert.That(lines, Has.Some.StartWith("  1) member='b'; ").And.Some.EndsWith("sets=(--set 'hidden=16') ;;"));
        Assert.That(text, Does.Contain("train=(train --resume \"$dir\")").And.Contain("if [ -f \"$dir/last.safetensors\" ]"));
        // Every #SBATCH line comes before the first command: sbatch stops reading them there.
        int firstCommand = Array.FindIndex(lines, l => l.Length > 0 && !l.StartsWith('#'));
        Assert.That(Array.FindLastIndex(lines, l => l.StartsWith("#SBATCH")), Is.LessThan(firstCommand));
        Assert.That(SlurmCluster.Run("bash", ["-n", "-c", text], TimeSpan.FromSeconds(30)).Code, Is.Zero, "bash -n refused the script");
    }

    [Test]
    public void ANoTimeLimitSignalsFiveMinutesAheadAShortOneATenthAhead()
    {
        Assert.That(Script([Member("a")]), Does.Contain("#SBATCH --signal=B:USR1@300\n").And.Not.Contain("--time"));
        Assert.That(Script([Member("a")], new SlurmOptions(Time: "00:10:00")), Does.Contain("#SBATCH --signal=B:USR1@60\n"));
        Assert.That(Script([Member("a")], new SlurmOptions(Time: "2-00:00:00")), Does.Contain("#SBATCH --signal=B:USR1@300\n"));
    }

    /// <summary>Runs the script as Slurm would run array task <paramref name="task"/>; artar is printf, one argument a line.</summary>
    private SlurmCluster.ProcessResult RunTask(string text, int task)
    {
        string path = Path.Combine(_dir, "sweep.sbatch");
        File.WriteAllText(path, text);
        return SlurmCluster.Run("bash", [path], TimeSpan.FromSeconds(30),
            new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = $"{task}", ["SLURM_JOB_ID"] = "77", ["TMPDIR"] = _dir });
    }

    private static readonly SelfCommand PrintArguments = new("printf", ["<%s>\\n"]);

    [Test]
    public void NamesAndSetsWithSpacesQuotesAndDollarsReachArtarAsTheyWere()
    {
        string odd = "it's a \"b\" $HOME `id` \\ *";
        var members = new[] { Member("plain"), new SweepMember(odd, Path.Combine(_dir, odd + ".json"), Path.Combine(_dir, "sweep", odd),
            ["tag=" + odd, "lr=20"]) };
        var r = RunTask(Script(members, new SlurmOptions(Device: "cpu"), PrintArguments), 1);
        Assert.That(r.Code, Is.Zero, r.Output);
        string[] expected = ["train", Path.Combine(_dir, odd + ".json"), "--run-dir", Path.Combine(_dir, "sweep", odd),
            "--set", "tag=" + odd, "--set", "lr=20", "--device", "cpu"];
        Assert.That(r.Output, Does.Contain(string.Concat(expected.Select(a => $"<{a}>\n"))));
        Assert.That(r.Output, Does.Contain($"member {odd}: array task 1"));
    }

    [Test]
    public void AMemberWithALastCheckpointResumesAndOneWithASummaryIsLeftAlone()
    {
        var members = new[] { Member("a", "epochs=3"), Member("b") };
        string text = Script(members, self: PrintArguments);
        Directory.CreateDirectory(members[0].RunDirectory);
        File.WriteAllText(Path.Combine(members[0].RunDirectory, "last.safetensors"), "");
        var r = RunTask(text, 0);
        Assert.That(r.Code, Is.Zero, r.Output);
        // The folder is there, so the trainer's output went to its train.log; --set is not repeated (resume keeps the config).
        Assert.That(File.ReadAllText(Path.Combine(members[0].RunDirectory, "train.log")),
            Is.EqualTo($"<train>\n<--resume>\n<{members[0].RunDirectory}>\n"));

        Directory.CreateDirectory(members[1].RunDirectory);
        File.WriteAllText(Path.Combine(members[1].RunDirectory, "summary.json"), "{}");
        r = RunTask(text, 1);
        Assert.That(r.Code, Is.Zero);
        Assert.That(r.Output, Does.Contain("the run is finished").And.Not.Contain("<train>"));
        Assert.That(File.Exists(Path.Combine(members[1].RunDirectory, "train.log")), Is.False);
    }

    [Test]
    public void AFolderWithoutACheckpointIsMovedAsideNotOverwritten()
    {
        var member = Member("a");
        Directory.CreateDirectory(member.RunDirectory);
        File.WriteAllText(Path.Combine(member.RunDirectory, "config.json"), "{}");
        var r = RunTask(Script([member], self: PrintArguments), 0);
        Assert.That(r.Code, Is.Zero, r.Output);
        Assert.That(File.ReadAllText(Path.Combine(member.RunDirectory + ".unfinished-77", "config.json")), Is.EqualTo("{}"));
        Assert.That(r.Output, Does.Contain("<--run-dir>"));
    }

    [Test]
    public void ATaskBeyondTheMembersExitsTwo()
    {
        var r = RunTask(Script([Member("a")], self: PrintArguments), 5);
        Assert.That(r.Code, Is.EqualTo(2));
        Assert.That(r.Output.Trim(), Is.EqualTo("no member for array task 5 in sweep grid"));
    }

    [Test]
    public void SbatchLineValuesAreEscaped()
    {
        Assert.That(SlurmArray.SbatchArgument("/tmp/a b/\"c\"#d\\x%a"), Is.EqualTo("\"/tmp/a b/\\\"c\\\"#d\\\\x%a\""));
        Assert.That(SlurmArray.OutputPattern("/tmp/100%"), Is.EqualTo("/tmp/100%%/slurm-%A_%a.out"));
        Assert.That(SlurmArray.Quote("it's"), Is.EqualTo("'it'\\''s'"));
    }

    [TestCase("1:5")]
    [TestCase("25:00")]
    [TestCase("00:00:00")]
    [TestCase("1-24:00:00")]
    [TestCase("10:60:00")]
    [TestCase("4h")]
    public void ABadTimeIsOneLine(string time)
    {
        var e = Assert.Throws<UsageException>(() => new SlurmOptions(Time: time).Validate("artar sweep"))!;
        Assert.That(e.Message, Is.EqualTo($"artar sweep: --time {time}: expected HH:MM:SS or D-HH:MM:SS, more than zero (e.g. 04:00:00 or 1-12:00:00)"));
    }

    [TestCase("04:00:00", 14400)]
    [TestCase("100:00:00", 360000)]
    [TestCase("1-12:30:05", 131405)]
    public void TimeLimitsAreRead(string time, int seconds) => Assert.That(SlurmOptions.TimeLimitSeconds(time), Is.EqualTo(seconds));

    [TestCase(new[] { "--gpus-per-task", "0" }, "artar sweep: --gpus-per-task 0: expected a whole number, 1 or more (leave it out for no GPU)")]
    [TestCase(new[] { "--gpus-per-task", "two" }, "artar sweep: --gpus-per-task two: expected a whole number, 1 or more")]
    [TestCase(new[] { "--cpus-per-task", "-1" }, "artar sweep: --cpus-per-task -1: expected a whole number, 1 or more")]
    [TestCase(new[] { "--partition", "gpu; rm" }, "artar sweep: --partition gpu; rm: expected a Slurm partition name (letters, digits, '_', '-', '.'; several joined by ',')")]
    [TestCase(new[] { "--device", "tpu" }, "artar sweep: --device tpu: expected auto, cpu, cuda")]
    public void BadOptionsAreOneLine(string[] args, string expected)
    {
        var a = Arguments.Parse("sweep", args, SlurmOptions.OptionNames.ToArray());
        var e = Assert.Throws<UsageException>(() => SlurmOptions.Parse(a, "artar sweep"))!;
        Assert.That(e.Message, Is.EqualTo(expected));
    }

    [Test]
    public void GoodOptionsAreRead()
    {
        var a = Arguments.Parse("sweep", ["--partition", "gpu,debug", "--time", "1-00:00:00", "--gpus-per-task", "2", "--cpus-per-task", "8", "--device", "cuda"],
            SlurmOptions.OptionNames.ToArray());
        Assert.That(SlurmOptions.Parse(a, "artar sweep"), Is.EqualTo(new SlurmOptions("gpu,debug", "1-00:00:00", 2, 8, "cuda")));
    }

    [Test]
    public void NoMembersOrTwoOfOneNameAreOneLine()
    {
        Assert.That(() => Script([]), Throws.TypeOf<UsageException>().With.Message.Contains("sweep grid has no members"));
        Assert.That(() => Script([Member("a"), Member("a")]), Throws.TypeOf<UsageException>().With.Message.Contains("member name 'a' is empty or used twice"));
    }

    [Test]
    public void WithoutSbatchSubmitIsOneLineAndTheScriptStays()
    {
        string sweep = Path.Combine(_dir, "sweep");
        var output = new StringWriter();
        var e = Assert.Throws<UsageException>(() => SlurmCommand.Run("grid", sweep, [Member("a")], new SlurmOptions(), submit: true, output, Artar,
            sbatch: Path.Combine(_dir, "no-such-sbatch")))!;
        Assert.That(e.Message, Does.StartWith("--submit: ").And.Contain("no-such-sbatch was not found").And.Not.Contain("\n"));
        Assert.That(File.ReadAllText(Path.Combine(sweep, "sweep.sbatch")), Does.StartWith("#!/bin/bash\n"));
        Assert.That(output.ToString(), Does.StartWith($"wrote {Path.Combine(sweep, "sweep.sbatch")}: 1 array task, one per member of sweep grid"));
    }

    [Test]
    public void ARefusingSbatchIsOneLineWithItsReason()
    {
        // A real program standing in for sbatch: it refuses the way sbatch does.
        string fake = Path.Combine(_dir, "sbatch");
        File.WriteAllText(fake, "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var e = Assert.Throws<UsageException>(() => SlurmSubmit.Run(Path.Combine(_dir, "x.sbatch"), fake))!;
        Assert.That(e.Message, Does.EndWith("refused the job (exit 1): sbatch: error: Batch job submission failed: Invalid partition name specified"));
    }

    [TestCase("12345\n", 12345L)]
    [TestCase("678;cluster-a\n", 678L)]
    [TestCase("Submitted batch job 5\n", null)]
    [TestCase("", null)]
    public void JobIdsAreReadFromParsableOutput(string output, long? id) => Assert.That(SlurmSubmit.ParseJobId(output), Is.EqualTo(id));

    [Test]
    public void SelfCommandIsThisProcess()
    {
        var self = SelfCommand.Current();
        Assert.That(self.FileName, Is.EqualTo(Environment.ProcessPath));
        Assert.That(File.Exists(self.FileName), Is.True);
        if (Path.GetFileNameWithoutExtension(self.FileName) == "dotnet")
            Assert.That(self.PrefixArguments.Single(), Does.EndWith(".dll").And.Matches<string>(File.Exists));
        else
            Assert.That(self.PrefixArguments, Is.Empty);
    }

    [Test]
    public void WithoutSinfoTheClusterTestsSkipWithTheReason()
    {
        string? reason = SlurmCluster.Unavailable(Path.Combine(_dir, "no-such-sinfo"));
        Assert.That(reason, Does.Contain("no-such-sinfo is not on the PATH: Slurm is not installed"));
        File.WriteAllText(Path.Combine(_dir, "sinfo"), "#!/bin/sh\necho 'slurm_load_partitions: Unable to contact slurm controller' >&2\nexit 1\n");
        File.SetUnixFileMode(Path.Combine(_dir, "sinfo"), UnixFileMode.UserRead | UnixFileMode.UserExecute);
        Assert.That(SlurmCluster.Unavailable(Path.Combine(_dir, "sinfo")), Does.Contain("Unable to contact slurm controller").And.Contain("cluster.sh start"));
    }
}

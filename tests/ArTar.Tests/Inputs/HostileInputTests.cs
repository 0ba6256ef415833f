using System.Diagnostics;
using ArTar.Configuration;
using ArTar.Data;

namespace ArTar.Tests.Inputs;

/// <summary>
/// What a hostile user can hand the program — an empty option, /dev/zero or a FIFO as a config or corpus, a file over
/// its size limit, a megabyte value, a newline in a key, a full or read-only disk — is one line and an exit code
/// (2 bad input, 1 failed run), never a stack trace, a hang or a bare system message.
/// </summary>
[NonParallelizable]
public class HostileInputTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestData.TempFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>The folder of <see cref="SmallRun"/>'s corpus, given as --data (ARTAR_DATA would win over the config's path).</summary>
    private string Corpus => Path.Combine(_dir, "corpus");

    /// <summary>
    /// A corpus of <paramref name="words"/> distinct words (each twice in train.txt), so that its checkpoint is about
    /// 256·words bytes at hidden 64, and a config training it for one epoch.
    /// </summary>
    private string SmallRun(int words = 2000)
    {
        string data = Corpus;
        Directory.CreateDirectory(data);
        var vocabulary = Enumerable.Range(0, words).Select(i => $"w{i}").ToArray();
        string Lines(IEnumerable<string> ws) => string.Join("\n", ws.Chunk(10).Select(c => string.Join(' ', c))) + "\n";
        File.WriteAllText(Path.Combine(data, "train.txt"), Lines(vocabulary.Concat(vocabulary)));
        File.WriteAllText(Path.Combine(data, "valid.txt"), Lines(vocabulary.Take(400)));
        File.WriteAllText(Path.Combine(data, "test.txt"), Lines(vocabulary.Skip(400).Take(400)));
        string config = Path.Combine(_dir, "small.json");
        File.WriteAllText(config, $$"""
            {"model": "lstm", "layers": 1, "hidden": 64, "dropout": 0, "dropout_h": 0, "epochs": 1, "batch_size": 4,
             "eval_batch_size": 2, "bptt": 8, "log_interval": 1000, "data": "{{data}}"}
            """);
        return config;
    }

    private static void Mkfifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path])!;
        mkfifo.WaitForExit();
        Assert.That(mkfifo.ExitCode, Is.Zero, $"mkfifo {path}");
    }

    // --- empty option values --------------------------------------------------------------------------------

    [TestCase("--run-dir")]
    [TestCase("--data")]
    [TestCase("--set")]
    public void AnEmptyOptionValueIsOneLineAndExitsTwo(string option)
    {
        string config = SmallRun();
        var (code, _, err) = CliTests.Run("train", config, "--device", "cpu", "--data", Corpus, option, "");
        Assert.That(code, Is.EqualTo(Program.BadInput), err);
        Assert.That(ArtarProcess.OneLine(err), Is.EqualTo($"error: artar train: option {option} is given an empty value; give it a value or leave it out"));
        Assert.That(Directory.GetDirectories(_dir).Select(Path.GetFileName), Is.EqualTo(new[] { "corpus" }), "no run folder was made");
    }

    [Test]
    public void AnEmptyDataFolderForDataGetIsOneLineAndExitsTwo()
    {
        var (code, _, err) = CliTests.Run("data", "get", "ptb", "--data", "");
        Assert.That(code, Is.EqualTo(Program.BadInput), err);
        Assert.That(ArtarProcess.OneLine(err), Does.Contain("option --data is given an empty value"));
    }

    // --- files that are no regular files, or too large --------------------------------------------------------

    /// <summary>The real program: a regression opens the FIFO and waits for a writer, or reads /dev/zero until its heap limit.</summary>
    [TestCase("config", "fifo", "is a FIFO (named pipe), not a regular file; give a config file")]
    [TestCase("config", "zero", "is a character device, not a regular file; give a config file")]
    [TestCase("train.txt", "fifo", "is a FIFO (named pipe), not a regular file; give a text file of words")]
    [TestCase("train.txt", "zero", "is a character device, not a regular file; give a text file of words")]
    public void ASpecialFileAsInputIsOneLineAndExitsTwoWithoutHanging(string which, string kind, string expected)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        string config = SmallRun();
        string target = which == "config" ? Path.Combine(_dir, "special.json") : Path.Combine(_dir, "corpus", "train.txt");
        File.Delete(target);
        if (kind == "fifo") Mkfifo(target);
        else File.CreateSymbolicLink(target, "/dev/zero");
        var result = ArtarProcess.Run(["train", which == "config" ? target : config, "--device", "cpu", "--data", Corpus, "--run-dir", Path.Combine(_dir, "run")]);
        Assert.That(result.Code, Is.EqualTo(Program.BadInput), result.Err);
        Assert.That(ArtarProcess.OneLine(result.Err), Does.StartWith($"error: {target}: {expected}"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "run")), Is.False);
    }

    [TestCase("fifo", "is a FIFO (named pipe), not a regular file; give a sweep file")]
    [TestCase("zero", "is a character device, not a regular file; give a sweep file")]
    public void ASpecialFileAsASweepIsOneLineAndExitsTwoWithoutHanging(string kind, string expected)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        string sweep = Path.Combine(_dir, "special.json");
        if (kind == "fifo") Mkfifo(sweep);
        else File.CreateSymbolicLink(sweep, "/dev/zero");
        var result = ArtarProcess.Run(["sweep", sweep, "--device", "cpu", "--runs", Path.Combine(_dir, "runs")]);
        Assert.That(result.Code, Is.EqualTo(Program.BadInput), result.Err);
        Assert.That(ArtarProcess.OneLine(result.Err), Does.StartWith($"error: {sweep}: {expected}"));
    }

    /// <summary>A finished run whose metrics.jsonl or summary.json is then replaced by a FIFO: resume and report read them.</summary>
    [TestCase("metrics.jsonl", Program.Failed)]
    [TestCase("summary.json", Program.Ok)]
    public void AFifoInARunFolderIsNamedWithoutHanging(string file, int exitCode)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        string run = Path.Combine(_dir, "run");
        var (code, _, err) = CliTests.Run("train", SmallRun(1000), "--device", "cpu", "--data", Corpus, "--run-dir", run);
        Assert.That(code, Is.Zero, err);
        string fifo = Path.Combine(run, file);
        File.Delete(fifo);
        Mkfifo(fifo);
        string expected = $"{fifo}: is a FIFO (named pipe), not a regular file; a run folder's {file} is written by `artar train`";
        var result = file == "metrics.jsonl"
            ? ArtarProcess.Run(["train", "--resume", run, "--set", "epochs=2", "--device", "cpu", "--data", Corpus])
            : ArtarProcess.Run(["report", run, "--out", Path.Combine(_dir, "report")]);
        Assert.That(result.Code, Is.EqualTo(exitCode), result.Err);
        if (exitCode == Program.Failed)
            Assert.That(ArtarProcess.OneLine(result.Err), Is.EqualTo($"error: {expected}"));
        else
            Assert.That(result.Out, Does.Contain($"summary.json is damaged ({expected})"), "the report names the damaged file in the run's row");
    }

    [Test]
    public void AVocabularyThatIsAFifoIsRefusedWithoutWaitingForAWriter()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        string fifo = Path.Combine(_dir, "vocab.txt");
        Mkfifo(fifo);
        var load = Task.Run(() =>
        {
            try { Vocabulary.Load(fifo); return null; }
            catch (DataException e) { return e; }
        });
        if (!load.Wait(TimeSpan.FromSeconds(10)))
        {
            // Release the reader blocked in open(2), so the test run can end.
            using (new FileStream(fifo, FileMode.Open, FileAccess.Write)) { }
            Assert.Fail("Vocabulary.Load opened the FIFO and waited for a writer");
        }
        Assert.That(load.Result?.Message, Is.EqualTo($"{fifo}: is a FIFO (named pipe), not a regular file; give the vocab.txt `artar train` wrote"));
    }

    [Test]
    public void AConfigOverOneMegabyteIsRefusedUnread()
    {
        string path = Path.Combine(_dir, "huge.json");
        using (var f = File.Create(path)) f.SetLength(RunConfig.MaxFileBytes + 1);   // sparse: nothing is written
        var (code, _, err) = CliTests.Run("train", path, "--device", "cpu");
        Assert.That(code, Is.EqualTo(Program.BadInput), err);
        Assert.That(ArtarProcess.OneLine(err), Is.EqualTo($"error: {path}: is {RunConfig.MaxFileBytes + 1} bytes, over the {RunConfig.MaxFileBytes}-byte limit of a config file"));
    }

    /// <summary>The real program, under a 512 MB heap: a regression reads the gigabyte of zeros as one line.</summary>
    [Test]
    public void ACorpusSplitOverItsLimitIsRefusedUnread()
    {
        string config = SmallRun();
        string train = Path.Combine(_dir, "corpus", "train.txt");
        using (var f = File.Create(train)) f.SetLength(ArTar.Data.Corpus.MaxFileBytes + 1);
        var result = ArtarProcess.Run(["train", config, "--device", "cpu", "--data", Corpus, "--run-dir", Path.Combine(_dir, "run")]);
        Assert.That(result.Code, Is.EqualTo(Program.BadInput), result.Err);
        Assert.That(ArtarProcess.OneLine(result.Err), Is.EqualTo($"error: {train}: is {ArTar.Data.Corpus.MaxFileBytes + 1} bytes, over the {ArTar.Data.Corpus.MaxFileBytes}-byte limit of a corpus split"));
    }

    // --- quoted values: one short line, whatever they hold ----------------------------------------------------

    private static readonly string Megabyte = new('x', 1 << 20);

    private static IEnumerable<TestCaseData> LongOrMultiLineValues()
    {
        yield return new TestCaseData((object)new[] { Megabyte }).SetName("UnknownCommand");
        yield return new TestCaseData((object)new[] { "train", "x.json", "--" + Megabyte, "1" }).SetName("UnknownOption");
        yield return new TestCaseData((object)new[] { "train", "x.json", "--bad\noption", "1" }).SetName("UnknownOptionWithANewline");
        yield return new TestCaseData((object)new[] { "generate", "run", "--words", Megabyte }).SetName("BadNumber");
        yield return new TestCaseData((object)new[] { "eval", "a", Megabyte }).SetName("ExtraPositional");
        yield return new TestCaseData((object)new[] { "eval", "run", "--split", "va\nlid" }).SetName("SplitWithANewline");
        yield return new TestCaseData((object)new[] { "train", "x.json", "--device", Megabyte }).SetName("BadDevice");
        yield return new TestCaseData((object)new[] { "data", Megabyte }).SetName("UnknownSubcommand");
        yield return new TestCaseData((object)new[] { "data", "get", Megabyte }).SetName("UnknownCorpus");
        yield return new TestCaseData((object)new[] { "data", "get", "ptb", "--mirror", "ftp://" + Megabyte }).SetName("BadMirror");
        yield return new TestCaseData((object)new[] { "train", "a\nb.json" }).SetName("ConfigPathWithANewline");
        yield return new TestCaseData((object)new[] { "train", "/" + string.Concat(Enumerable.Repeat("long/", 2000)) + "x.json" }).SetName("LongConfigPath");
    }

    [TestCaseSource(nameof(LongOrMultiLineValues))]
    public void AQuotedCommandLineValueIsCutAndKeptOnOneLine(string[] args)
    {
        var (code, _, err) = CliTests.Run(args);
        Assert.That(code, Is.EqualTo(Program.BadInput), err.Length > 500 ? err[..500] : err);
        Assert.That(ArtarProcess.OneLine(err).Length, Is.LessThan(600), err[..Math.Min(err.Length, 600)]);
    }

    [Test]
    public void ALongMirrorUrlIsCutInTheDownloadError()
    {
        // Nothing listens on port 1: the connection is refused at once, and the error line quotes the URL.
        string mirror = "http://127.0.0.1:1/" + new string('m', 60_000) + "/";
        var (code, _, err) = CliTests.Run("data", "get", "ptb", "--mirror", mirror, "--data", _dir);
        Assert.That(code, Is.EqualTo(Program.Failed), err[..Math.Min(err.Length, 600)]);
        string line = err.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.That(line, Does.StartWith("error: ptb/train.txt from http://127.0.0.1:1/mmm"));
        Assert.That(line.Length, Is.LessThan(1000), line[..Math.Min(line.Length, 600)]);
        Assert.That(err.Length, Is.LessThan(2000), "the progress line quotes it cut too");
    }

    [TestCase("{\"hid\\nden\": 1}", "key \"hid\\u000aden\": unknown key")]
    [TestCase("{\"" + "k" + "\\u2028" + "ey\": 1}", "key \"k\\u2028ey\": unknown key")]
    public void AConfigKeyWithALineBreakIsEscapedOnOneLine(string json, string expected)
    {
        string path = Path.Combine(_dir, "c.json");
        File.WriteAllText(path, json);
        var (code, _, err) = CliTests.Run("train", path, "--device", "cpu");
        Assert.That(code, Is.EqualTo(Program.BadInput), err);
        Assert.That(ArtarProcess.OneLine(err), Does.Contain(expected));
    }

    [Test]
    public void AHugeConfigKeyOrSetValueIsCut()
    {
        string path = Path.Combine(_dir, "c.json");
        File.WriteAllText(path, $"{{\"{new string('k', 500_000)}\": 1}}");
        var (code, _, err) = CliTests.Run("train", path, "--device", "cpu");
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(ArtarProcess.OneLine(err).Length, Is.LessThan(600), err[..Math.Min(err.Length, 600)]);

        foreach (string set in new[] { Megabyte, Megabyte + "=1", "a\nb=1", "model=" + Megabyte })
        {
            (code, _, err) = CliTests.Run("train", SmallRun(), "--device", "cpu", "--set", set);
            Assert.That(code, Is.EqualTo(Program.BadInput));
            Assert.That(ArtarProcess.OneLine(err).Length, Is.LessThan(600), err[..Math.Min(err.Length, 600)]);
        }
    }

    [Test]
    public void AVocabularyWordListedTwiceIsQuotedCut()
    {
        string path = Path.Combine(_dir, "vocab.txt");
        string word = new('w', 200_000);
        File.WriteAllText(path, $"{word}\n{word}\n");
        var e = Assert.Throws<DataException>(() => Vocabulary.Load(path))!;
        Assert.That(e.Message, Does.Contain("appears twice"));
        Assert.That(e.Message.Length, Is.LessThan(600));
    }

    // --- a full or read-only disk: a failed run (exit 1) that says what could not be written and what to do ---

    [Test]
    public void ADiskThatFillsDuringTrainingIsAFailedRunNotBadInput()
    {
        string config = SmallRun();
        using var disk = Tmpfs.Mount(Path.Combine(_dir, "disk"), "128k");
        string run = Path.Combine(disk.Folder, "run");
        var (code, _, err) = CliTests.Run("train", config, "--device", "cpu", "--data", Corpus, "--run-dir", run);
        Assert.That(code, Is.EqualTo(Program.Failed), err);
        Assert.That(ArtarProcess.OneLine(err), Does.StartWith($"error: checkpoint {run}/").And.Contain("cannot write it (No space left on device")
            .And.Contain("any earlier file there is unchanged"));
        Assert.That(File.ReadAllText(Path.Combine(run, "config.json")), Does.Contain("\"hidden\": 64"), "what was written before is intact");
    }

    [TestCase("run", "cannot write into the run folder")]
    [TestCase("new", "cannot create the run folder")]
    public void AReadOnlyRunFolderIsAFailedRunThatSaysWhatToDo(string folder, string expected)
    {
        string config = SmallRun();
        using var disk = Tmpfs.Mount(Path.Combine(_dir, "disk"), "1m");
        Directory.CreateDirectory(Path.Combine(disk.Folder, "run"));
        disk.RemountReadOnly();
        string run = Path.Combine(disk.Folder, folder);
        var (code, _, err) = CliTests.Run("train", config, "--device", "cpu", "--data", Corpus, "--run-dir", run);
        Assert.That(code, Is.EqualTo(Program.Failed), err);
        Assert.That(ArtarProcess.OneLine(err), Does.StartWith($"error: {expected} {run}: ").And.Contain("Read-only file system")
            .And.EndWith("; nothing was overwritten; give a --run-dir in a writable folder with free space"));
    }

    /// <summary>/dev/full refuses every write with ENOSPC: the runtime's bare message gets what to do.</summary>
    [Test]
    public void AWriteToAFullDeviceSaysWhatToDo()
    {
        if (!File.Exists("/dev/full")) Assert.Ignore("no /dev/full here");
        var (code, _, err) = CliTests.Run("device", "--probe", "--log", "/dev/full");
        Assert.That(code, Is.EqualTo(Program.Failed), err);
        Assert.That(ArtarProcess.OneLine(err), Is.EqualTo(
            "error: No space left on device : '/dev/full'; the disk is full: free space there, or write somewhere else, and run the command again"));
    }

    /// <summary>A small tmpfs of its own (needs root; skipped with the reason where mount(8) is refused), unmounted on dispose.</summary>
    private sealed class Tmpfs : IDisposable
    {
        public string Folder { get; }

        private Tmpfs(string folder) => Folder = folder;

        public static Tmpfs Mount(string folder, string size)
        {
            if (!OperatingSystem.IsLinux()) Assert.Ignore("a full or read-only disk is made with a Linux tmpfs");
            Directory.CreateDirectory(folder);
            var (code, err) = Mount8("-t", "tmpfs", "-o", $"size={size}", "tmpfs", folder);
            if (code != 0) Assert.Ignore($"cannot mount a tmpfs here to make a full or read-only disk (needs root): {err.Trim()}");
            return new Tmpfs(folder);
        }

        public void RemountReadOnly()
        {
            var (code, err) = Mount8("-o", "remount,ro", Folder);
            Assert.That(code, Is.Zero, err);
        }

        private static (int Code, string Err) Mount8(params string[] args) => Tool("mount", args);

        private static (int Code, string Err) Tool(string name, string[] args)
        {
            var start = new ProcessStartInfo(name) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string a in args) start.ArgumentList.Add(a);
            try
            {
                using var p = Process.Start(start)!;
                string err = p.StandardError.ReadToEnd();
                p.WaitForExit();
                return (p.ExitCode, err);
            }
            catch (System.ComponentModel.Win32Exception e) { return (-1, $"{name}: {e.Message}"); }
        }

        public void Dispose() => Tool("umount", [Folder]);
    }
}

using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using ArTar.Backends;
using ArTar.Checkpoints;
using ArTar.Configuration;
using ArTar.Data;
using ArTar.Models;
using ArTar.Cli.Downloads;
using ArTar.Cli.Runs;
using ArTar.Cuda;
using ArTar.Training;

namespace ArTar.Cli;

/// <summary>One method per command: parse its arguments, check its input, run it.</summary>
public static class Commands
{
    public static int Train(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("train", args, ["--device", "--set", "--run-dir", "--resume", "--data"], ["--set"]);
        if (a.Help) { stdout.Write(Help.Train()); return Program.Ok; }
        // Ctrl-C, SIGTERM and SIGUSR1 (Slurm's --signal before a time limit) finish the current step, write
        // last.safetensors and exit (resume with --resume). Taken before the run folder is made: a stop while the run
        // starts up is then a stop at step 0, not a dead process.
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var onUsr1 = SigUsr1 is { } usr1 ? PosixSignalRegistration.Create(usr1, c => { c.Cancel = true; stop.Cancel(); }) : null;
        try { return Train(a, stderr, stop.Token); }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    private static int Train(Arguments a, TextWriter stderr, CancellationToken stop)
    {
        string device = Device(a, "train");
        string? resume = a.Get("--resume");
        RunDirectory run;
        RunConfig config;
        Corpus corpus;
        Checkpoint? last = null;
        if (resume is not null)
        {
            // The run folder holds the resolved config; only the number of epochs may change on resuming.
            if (a.Positionals.Count > 0 || a.Get("--run-dir") is not null)
                throw new UsageException("artar train --resume RUN_DIR: the config and folder come from RUN_DIR; leave out CONFIG and --run-dir");
            run = Inputs.OpenRun(resume);
            // Locked before anything in it is read: a second trainer on the folder stops here, naming the first.
            try { run.Lock(); }
            catch (RunInUseException e) { throw new UsageException(e.Message); }
            try
            {
                last = run.IsStarted ? Checkpoint.Load(run.LastCheckpointPath) : null;
                var saved = RunConfig.Load(run.ConfigPath);
                config = saved with { Name = last?.Metadata.ConfigName ?? ConfigName(run) };
                foreach (var assignment in a.All("--set"))
                {
                    // Read as any --set is (" epochs = 5" too); then only a change of epochs is let through.
                    var updated = config.WithOverride(assignment);
                    if (updated with { Epochs = config.Epochs, Source = config.Source } != config)
                        throw new UsageException($"artar train --resume: --set {Quote.Excerpt(assignment)}: only epochs may change when a run is resumed");
                    config = updated;
                }
                corpus = Inputs.LoadCorpus(config, a.Get("--data"));
                run.RemoveTemporaryFiles();
                // Saved, so that the "continue with" command a later stop prints goes on to these epochs, not the old ones.
                if (config.Epochs != saved.Epochs) run.WriteConfig(config.ToJson());
                if (last is null)
                {
                    // Stopped or crashed before its first checkpoint: nothing to continue from, so it trains from epoch 1.
                    run.WriteVocabulary(corpus.Vocabulary.Words);
                    run.Metrics.KeepEpochsThrough(0);
                }
            }
            catch
            {
                run.Dispose();   // the lock goes with the error, also when commands run in one process (tests)
                throw;
            }
        }
        else
        {
            config = Inputs.LoadConfig(a);
            corpus = Inputs.LoadCorpus(config, a.Get("--data"));
            try
            {
                run = a.Get("--run-dir") is { } dir
                    ? RunDirectory.CreateAt(dir, config.ToJson(), corpus.Vocabulary.Words)
                    : RunDirectory.Create("runs", config.Name, DateTime.Now, config.ToJson(), corpus.Vocabulary.Words);
            }
            // A --run-dir that is a file or holds a run is a refusal of RunDirectory's own (no inner exception): the
            // user's choice, exit 2. A folder that cannot be created or written (read-only, full) is a failed run.
            catch (IOException e) when (e is RunInUseException || e.InnerException is null) { throw new UsageException(e.Message); }
            catch (IOException e)
            { throw new IOException($"{e.Message}; nothing was overwritten; give a --run-dir in a writable folder with free space", e); }
        }

        using (run)
        {
            bool newRun = resume is null;
            using var backend = StartOrDiscard(() => DeviceSelection.Create(device, stderr), run, newRun);
            var observer = new RunObserver(ProgressReporter.ForConsole(config.LogInterval), run, $"{config.Name}: {new ModelShape(config.Model, corpus.Vocabulary.Count, config.Hidden, config.Layers)}");
            using var trainer = StartOrDiscard(() => new Trainer(config, corpus, backend, run.Files, observer), run, newRun);
            if (last is not null) trainer.Resume(last);
            else if (resume is not null) observer.Notice($"{run.LastCheckpointPath} does not exist (the run stopped before its first checkpoint): training it from epoch 1");
            try
            {
                return trainer.Run(stop) == RunOutcome.Finished ? Program.Ok : Program.Stopped;
            }
            finally { run.RemoveTemporaryFiles(); }
        }
    }

    public static int Eval(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("eval", args, ["--split", "--device", "--data"]);
        if (a.Help) { stdout.Write(Help.Eval); return Program.Ok; }
        string what = a.One("eval", "run directory or checkpoint");
        string split = a.Get("--split") ?? "test";
        if (split is not ("valid" or "test"))
            throw new UsageException($"artar eval: --split {Quote.Excerpt(split)}: expected valid or test");
        string device = Device(a, "eval");
        var saved = SavedModel.Open(what, a.Get("--data"));
        using var backend = DeviceSelection.Create(device, stderr);
        using var parameters = saved.Load(backend);
        int[] tokens = saved.Corpus!.Split(split);
        var data = new BatchedStream(tokens, saved.Config.EvalBatchSize, $"the {split} split of {saved.Corpus.Folder}");
        using var model = new LanguageModel(backend, parameters, saved.Config.EvalBatchSize, Math.Min(saved.Config.Bptt, data.Rows - 1));
        double loss = Trainer.Evaluate(model, data);
        // Finite weights can still overflow (huge values): a NaN perplexity is a failed evaluation, not a result.
        if (!double.IsFinite(loss))
            throw new TrainingException(string.Create(CultureInfo.InvariantCulture,
                $"{saved.Checkpoint.Path}: the {split} cross-entropy is {loss} (not finite): its weights overflow on this data, so there is no perplexity to report"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{saved.Checkpoint.Path}: {split} perplexity {Math.Exp(loss):F2} (cross-entropy {loss:F4} nats/token, {tokens.Length:N0} tokens, epoch {saved.Checkpoint.Metadata.Training.Epoch})"));
        return Program.Ok;
    }

    public static int Generate(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("generate", args, ["--words", "--temperature", "--seed", "--device", "--data"]);
        if (a.Help) { stdout.Write(Help.Generate); return Program.Ok; }
        string what = a.One("generate", "run directory or checkpoint");
        int words = a.Get("generate", "--words", 100, s => int.TryParse(s, out int n) && n > 0 ? n : null, "a positive integer");
        double temperature = a.Get("generate", "--temperature", 1.0, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double t) && t > 0 && double.IsFinite(t) ? t : null, "a number > 0");
        ulong seed = a.Get("generate", "--seed", 0UL, s => ulong.TryParse(s, out ulong v) ? v : null, "an integer ≥ 0");
        string device = Device(a, "generate");
        var saved = SavedModel.Open(what, a.Get("--data"), needCorpus: false);
        using var backend = DeviceSelection.Create(device, stderr);
        using var parameters = saved.Load(backend);
        var line = new StringBuilder();
        foreach (string word in TextGenerator.Sample(backend, parameters, saved.Vocabulary, words, temperature, seed))
        {
            // One paragraph, wrapped at 100 columns.
            if (line.Length + word.Length + 1 > 100) { stdout.WriteLine(line.ToString()); line.Clear(); }
            line.Append(line.Length > 0 ? " " : "").Append(word);
        }
        stdout.WriteLine(line.ToString());
        return Program.Ok;
    }

    /// <summary>What --device auto would find: the GPU and the files of its libraries, or the one-line reason there is none.</summary>
    public static int Device(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Contains("--probe")) return DeviceProbe([.. args.Where(x => x != "--probe")], stdout);
        var a = Arguments.Parse("device", args, []);
        if (a.Help) { stdout.Write(Help.Device); return Program.Ok; }
        if (a.Positionals.Count > 0) throw new UsageException("artar device takes no arguments");
        return ArTar.Cuda.DeviceReport.Write(stdout) ? Program.Ok : Program.Failed;
    }

    /// <summary>
    /// artar device --probe [--log PATH]: the bring-up probe's table (docs/cuda.md, "Bring-up probe"); exit 0 when every
    /// stage is ok, else 1. The detail log follows the table, or goes to PATH as the stages run.
    /// </summary>
    private static int DeviceProbe(string[] args, TextWriter stdout)
    {
        var a = Arguments.Parse("device", args, ["--log"]);
        if (a.Help) { stdout.Write(Help.Device); return Program.Ok; }
        if (a.Positionals.Count > 0) throw new UsageException($"artar device --probe: unexpected {a.Positionals[0]}; the one option is --log PATH");
        string? path = a.Get("--log");
        StreamWriter? file = null;
        // Opened before any stage runs: a bad path is one line, not a finished probe with nowhere to write.
        try { if (path is not null) file = new StreamWriter(path, append: false); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"artar device --probe --log {path}: {e.Message}; give a file in a writable folder");
        }
        using (file)
        {
            var log = (TextWriter?)file ?? new StringWriter();
            IReadOnlyList<ArTar.Cuda.Probe.StageRow> rows;
            using (var probe = new ArTar.Cuda.Probe.BringUpProbe(log)) rows = probe.Run();
            stdout.Write(ArTar.Cuda.Probe.BringUpRunner.FormatTable(rows));
            if (file is null) stdout.Write($"\ndetail log:\n{log}");
            else stdout.WriteLine($"detail log: {Path.GetFullPath(path!)}");
            return ArTar.Cuda.Probe.BringUpRunner.AllOk(rows) ? Program.Ok : Program.Failed;
        }
    }

    public static int Data(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("data", args, ["--data", "--mirror"]);
        if (a.Help || a.Positionals.Count == 0) { stdout.Write(Help.Data); return a.Help ? Program.Ok : Program.BadInput; }
        if (a.Positionals[0] != "get")
            throw new UsageException($"artar data: unknown subcommand \"{Quote.Excerpt(a.Positionals[0])}\"; the one subcommand is get (see `artar data --help`)");
        if (a.Positionals.Count != 2)
            throw new UsageException($"artar data get: name one corpus, {string.Join(" or ", CorpusSources.Names)}");
        Uri? mirror = null;
        if (a.Get("--mirror") is { } m && (!Uri.TryCreate(m, UriKind.Absolute, out mirror) || mirror.Scheme is not ("http" or "https")))
            throw new UsageException($"artar data get: --mirror {Quote.Excerpt(m)}: expected an http(s) URL serving <corpus>/<split>.txt");
        using var cancel = new CancellationTokenSource();
        // Removed again at the end, as in Train: tests run commands in one process, and a handler left behind would
        // cancel a disposed source on a later Ctrl-C. SIGTERM too: unhandled it ends the process before the .part
        // file is removed.
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cancel.Cancel(); });
        try
        {
            var options = new DownloadOptions { Mirror = mirror };
            return DataDownloader.GetAsync(a.Positionals[1], a.Get("--data") ?? "data", stderr, options, cancel.Token).GetAwaiter().GetResult();
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary>A step of starting a run; when it fails, a new run folder is removed so that it does not block the same --run-dir next time.</summary>
    private static T StartOrDiscard<T>(Func<T> start, RunDirectory run, bool newRun)
    {
        try { return start(); }
        catch when (newRun) { run.DiscardUnstarted(); throw; }
    }

    /// <summary>A run folder's config name: the folder name less its "-yyyyMMdd-HHmmss" suffix.</summary>
    internal static string ConfigName(RunDirectory run)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(run.Folder));
        var m = System.Text.RegularExpressions.Regex.Match(name, @"^(.*)-\d{8}-\d{6}(-\d+)?$");
        return m.Success ? m.Groups[1].Value : name;
    }

    /// <summary>SIGUSR1 as a raw signal number (PosixSignal has no name for it): 10 on Linux, 30 on macOS; none on Windows.</summary>
    private static PosixSignal? SigUsr1 =>
        OperatingSystem.IsLinux() ? (PosixSignal)10 : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? (PosixSignal)30 : null;

    private static string Device(Arguments a, string command)
    {
        string device = a.Get("--device") ?? "auto";
        if (!DeviceSelection.Devices.Contains(device))
            throw new UsageException($"artar {command}: --device {Quote.Excerpt(device)}: expected auto, cpu or cuda");
        return device;
    }

}

using System.Globalization;
using ArTar.Configuration;
using ArTar.Data;

namespace ArTar.Cli;

/// <summary>One method per command: parse its arguments, check its input, run it.</summary>
public static class Commands
{
    private static readonly string[] DeviceChoices = ["auto", "cpu", "cuda"];

    public static int Train(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("train", args, ["--device", "--set", "--run-dir", "--resume", "--data"], ["--set"]);
        if (a.Help) { stdout.Write(Help.Train()); return Program.Ok; }
        Device(a, "train");
        var config = LoadConfig(a);
        var corpus = LoadCorpus(config, a.Get("--data"));
        stderr.WriteLine($"artar train: {config.Name}: {config} on {corpus.Folder} ({corpus.Train.Length:N0} training tokens, vocabulary {corpus.Vocabulary.Count:N0}).");
        return NotBuilt("train", "the trainer", stderr);
    }

    public static int Eval(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("eval", args, ["--split", "--device", "--data"]);
        if (a.Help) { stdout.Write(Help.Eval); return Program.Ok; }
        a.One("eval", "run directory or checkpoint");
        if (a.Get("--split") is { } split && split is not ("valid" or "test"))
            throw new UsageException($"artar eval: --split {split}: expected valid or test");
        Device(a, "eval");
        return NotBuilt("eval", "checkpoint evaluation", stderr);
    }

    public static int Generate(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("generate", args, ["--words", "--temperature", "--seed", "--device"]);
        if (a.Help) { stdout.Write(Help.Generate); return Program.Ok; }
        a.One("generate", "run directory or checkpoint");
        a.Get("generate", "--words", 100, s => int.TryParse(s, out int n) && n > 0 ? n : null, "a positive integer");
        a.Get("generate", "--temperature", 1.0, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double t) && t > 0 && double.IsFinite(t) ? t : null, "a number > 0");
        a.Get("generate", "--seed", 0UL, s => ulong.TryParse(s, out ulong v) ? v : null, "an integer ≥ 0");
        Device(a, "generate");
        return NotBuilt("generate", "text generation", stderr);
    }

    public static int Data(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Arguments.Parse("data", args, ["--data", "--mirror"]);
        if (a.Help || a.Positionals.Count == 0) { stdout.Write(Help.Data); return a.Help ? Program.Ok : Program.BadInput; }
        if (a.Positionals[0] != "get")
            throw new UsageException($"artar data: unknown subcommand \"{a.Positionals[0]}\"; the one subcommand is get (see `artar data --help`)");
        if (a.Positionals.Count != 2)
            throw new UsageException($"artar data get: name one corpus, {string.Join(" or ", CorpusSources.Names)}");
        Uri? mirror = null;
        if (a.Get("--mirror") is { } m && (!Uri.TryCreate(m, UriKind.Absolute, out mirror) || mirror.Scheme is not ("http" or "https")))
            throw new UsageException($"artar data get: --mirror {m}: expected an http(s) URL serving <corpus>/<split>.txt");
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        var options = new DownloadOptions { Mirror = mirror };
        return DataDownloader.GetAsync(a.Positionals[1], a.Get("--data") ?? "data", stderr, options, cancel.Token).GetAwaiter().GetResult();
    }

    /// <summary>The config file, then each --set in order.</summary>
    public static RunConfig LoadConfig(Arguments a)
    {
        var config = RunConfig.Load(a.One("train", "config file"));
        foreach (var assignment in a.All("--set"))
            config = config.WithOverride(assignment);
        return config;
    }

    public static Corpus LoadCorpus(RunConfig config, string? cliData)
    {
        string folder = Corpus.ResolveFolder(config.Data, cliData, Environment.GetEnvironmentVariable("ARTAR_DATA"));
        return Corpus.Load(folder, config.MaxTrainTokens, config.MaxEvalTokens);
    }

    private static string Device(Arguments a, string command)
    {
        string device = a.Get("--device") ?? "auto";
        if (!DeviceChoices.Contains(device))
            throw new UsageException($"artar {command}: --device {device}: expected auto, cpu or cuda");
        return device;
    }

    // Said plainly, never pretended: the command exists, its engine does not yet.
    private static int NotBuilt(string command, string what, TextWriter stderr)
    {
        stderr.WriteLine($"artar {command}: {what} is not built yet in this version of ArTar; nothing was run.");
        return Program.Failed;
    }
}

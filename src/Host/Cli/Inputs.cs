using ArTar.Cli.Runs;
using ArTar.Configuration;
using ArTar.Data;

namespace ArTar.Cli;

/// <summary>What the commands read from the user: the config with its --set overrides, the corpus, a run folder.</summary>
public static class Inputs
{
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

    /// <summary>An existing run folder; not one is a usage error (exit 2).</summary>
    public static RunDirectory OpenRun(string path)
    {
        try { return RunDirectory.Open(path); }
        catch (IOException e) { throw new UsageException($"{e.Message}; give a folder under runs/ made by `artar train`"); }
    }
}

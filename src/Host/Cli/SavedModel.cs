using ArTar.Backends;
using ArTar.Checkpoints;
using ArTar.Configuration;
using ArTar.Data;
using ArTar.Cli.Runs;
using ArTar.Training;

namespace ArTar.Cli;

/// <summary>
/// A trained model for eval and generate: a checkpoint (a run folder's best.safetensors, or a file), the config in its
/// metadata, and the vocabulary it was trained with, checked against the checkpoint's vocabulary hash.
/// </summary>
internal sealed record SavedModel(RunConfig Config, Checkpoint Checkpoint, Vocabulary Vocabulary, Corpus? Corpus)
{
    public ModelShape Shape => Checkpoint.Metadata.Model;

    /// <param name="what">A run folder or a .safetensors file.</param>
    /// <param name="needCorpus">Eval needs the splits; generate needs only the vocabulary (vocab.txt beside the checkpoint will do).</param>
    public static SavedModel Open(string what, string? cliData, bool needCorpus = true)
    {
        string path = what;
        if (Directory.Exists(what))
        {
            var run = Inputs.OpenRun(what);
            path = File.Exists(run.BestCheckpointPath) ? run.BestCheckpointPath : run.LastCheckpointPath;
        }
        if (!File.Exists(path))
            throw new UsageException($"{what}: no checkpoint found; give a run folder (runs/…) or a .safetensors file written by `artar train`");
        var checkpoint = Checkpoint.Load(path);
        var config = RunConfig.Parse(checkpoint.Metadata.Config, $"{path} (its config)") with { Name = Path.GetFileNameWithoutExtension(path) };

        Corpus? corpus = needCorpus ? Inputs.LoadCorpus(config, cliData) : null;
        string vocabFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "vocab.txt");
        var vocabulary = corpus?.Vocabulary
            ?? (File.Exists(vocabFile) ? Vocabulary.Load(vocabFile)
                                       : Inputs.LoadCorpus(config, cliData).Vocabulary);
        checkpoint.CheckMatches(checkpoint.Metadata.Model, Checkpoint.VocabularySha256(vocabulary.Words));
        return new SavedModel(config, checkpoint, vocabulary, corpus);
    }

    /// <summary>The checkpoint's weights in a new parameter arena of <paramref name="backend"/>.</summary>
    public IParameterArena Load(IBackend backend)
    {
        var parameters = backend.CreateParameters(Shape);
        foreach (var t in Checkpoint.Tensors) parameters.Write(t.Name, t.Data);
        return parameters;
    }
}

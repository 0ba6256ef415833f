using System.Globalization;
using ArTar.Backends;
using ArTar.Configuration;
using ArTar.Data;

namespace ArTar.Training;

/// <summary>
/// The config checked against the data before anything is built: the model's shape, the three batched splits and the
/// longest windows a training and an evaluation step can have. Every mismatch is one <see cref="ConfigException"/> line
/// naming the key to change; nothing is allocated on a backend until the plan holds.
/// </summary>
public sealed record TrainingPlan(ModelShape Shape, BatchedStream Train, BatchedStream Valid, BatchedStream Test, int TrainSteps, int EvalSteps)
{
    public static TrainingPlan For(RunConfig config, Corpus corpus)
    {
        var shape = new ModelShape(config.Model, corpus.Vocabulary.Count, config.Hidden, config.Layers);
        var train = new BatchedStream(corpus.Train, config.BatchSize, $"the train split of {corpus.Folder}");
        var valid = new BatchedStream(corpus.Valid, config.EvalBatchSize, $"the valid split of {corpus.Folder}");
        var test = new BatchedStream(corpus.Test, config.EvalBatchSize, $"the test split of {corpus.Folder}");
        // No window runs past its stream's last row: a bptt longer than the data allocates only what a window can use.
        int trainSteps = Math.Min(config.Bptt, train.Rows - 1);
        int evalSteps = Math.Min(config.Bptt, Math.Max(valid.Rows, test.Rows) - 1);
        if (shape.ParameterCount > Array.MaxLength)
            throw new ConfigException(string.Create(CultureInfo.InvariantCulture,
                $"{config.Source}: {config.Model.ConfigName()} with hidden {shape.Hidden}, layers {shape.Layers} and vocabulary {shape.Vocab} has {shape.ParameterCount:N0} parameters, more than {Array.MaxLength:N0} in one arena; lower hidden or layers"));
        CheckWindowFits(config, shape, config.BatchSize, trainSteps, "batch_size");
        CheckWindowFits(config, shape, config.EvalBatchSize, evalSteps, "eval_batch_size");
        return new TrainingPlan(shape, train, valid, test, trainSteps, evalSteps);
    }

    /// <summary>A window's logits ([T·B, V]) or activations ([T·B, H]) must fit one array: a config error, not a failed allocation.</summary>
    private static void CheckWindowFits(RunConfig config, ModelShape shape, int batch, int steps, string batchKey)
    {
        long elements = (long)batch * steps * Math.Max(shape.Vocab, shape.Hidden);
        if (elements > Array.MaxLength)
            throw new ConfigException(string.Create(CultureInfo.InvariantCulture,
                $"{config.Source}: {batchKey} {batch} × bptt {steps} × {(shape.Vocab >= shape.Hidden ? $"vocabulary {shape.Vocab}" : $"hidden {shape.Hidden}")} = {elements:N0} values in one window's tensor, more than {Array.MaxLength:N0}; lower {batchKey} or bptt"));
    }
}

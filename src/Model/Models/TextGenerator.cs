using ArTar.Backends;
using ArTar.Data;
using ArTar.Training;

namespace ArTar.Models;

/// <summary>
/// Samples text from a trained model as the paper's examples were made: one word at a time from
/// softmax(z / temperature), fed back as the next input, starting after an &lt;eos&gt; (a sentence start);
/// &lt;eos&gt; and &lt;unk&gt; are never chosen, so a sample reads as one paragraph.
/// </summary>
public static class TextGenerator
{
    private const uint SamplingDomain = 0xFFFFFFFE;   // Philox counter word 3: neither a dropout site nor init

    public static IEnumerable<string> Sample(IBackend backend, IParameterArena parameters, Vocabulary vocabulary,
        int words, double temperature, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(temperature, 0);
        var shape = parameters.Shape;
        int v = shape.Vocab, h = shape.Hidden;
        var embedding = new float[(long)v * h];
        var bias = new float[v];
        parameters.Read(ModelShape.EncoderWeight, embedding);
        parameters.Read(ModelShape.DecoderBias, bias);
        vocabulary.TryGetId(Vocabulary.EndOfSentence, out int eos);
        if (!vocabulary.TryGetId(Vocabulary.Unknown, out int unk)) unk = -1;

        using var model = new LanguageModel(backend, parameters, batch: 1, maxSteps: 1);
        model.ResetState();
        var output = new float[h];
        var weights = new double[v];
        int[] input = [eos], target = [0];
        for (int i = 0; i < words; i++)
        {
            model.Evaluate(input, target, 1);
            backend.Download(model.Output, output);
            // z = o·Eᵀ + c (the tied decoder), then softmax(z / temperature) without the two excluded words.
            double max = double.NegativeInfinity;
            for (int j = 0; j < v; j++)
            {
                double z = bias[j];
                var row = embedding.AsSpan(j * h, h);
                for (int k = 0; k < h; k++) z += row[k] * output[k];
                weights[j] = z;
                if (j != eos && j != unk) max = Math.Max(max, z);
            }
            // No finite best word: NaN or +∞ logits (weights that overflow), or no word left after the exclusions.
            if (!double.IsFinite(max))
                throw new TrainingException(double.IsNegativeInfinity(max)
                    ? $"the model has no word to generate: its {v} words are only {Vocabulary.EndOfSentence} and {Vocabulary.Unknown}, which are never generated"
                    : $"the model's scores for word {i + 1} are not finite ({max}): its weights overflow or hold NaN, so there is no distribution to sample from");
            // (z - max) / temperature is ≤ 0 for any temperature > 0, however small: exp never sees ∞ - ∞ (a tiny
            // temperature is greedy decoding, not NaN weights).
            double sum = 0;
            for (int j = 0; j < v; j++)
                sum += weights[j] = j == eos || j == unk ? 0 : Math.Exp((weights[j] - max) / temperature);
            double u = Uniform(seed, i) * sum;
            int pick = 0;
            for (double acc = 0; pick < v - 1; pick++)
            {
                acc += weights[pick];
                if (acc > u && weights[pick] > 0) break;
            }
            while (weights[pick] == 0) pick--;   // u fell into the rounding slack at the end
            input[0] = pick;
            yield return vocabulary[pick];
        }
    }

    /// <summary>A uniform in [0, 1) with 53 random bits, a pure function of (seed, i).</summary>
    private static double Uniform(ulong seed, int i)
    {
        var block = Philox.Generate((uint)i, 0, 0, SamplingDomain, (uint)seed, (uint)(seed >> 32));
        ulong bits = ((ulong)block.X0 << 21) ^ (block.X1 >> 11);
        return (bits & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));
    }
}

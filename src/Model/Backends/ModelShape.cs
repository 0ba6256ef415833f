namespace ArTar.Backends;

/// <summary>The shape of a language model: cell, vocabulary V, hidden size H (= embedding size, tied), layers L.</summary>
public readonly record struct ModelShape(CellType Cell, int Vocab, int Hidden, int Layers)
{
    /// <summary>G of docs/design.md §2.</summary>
    public int Gates => Cell.Gates();

    /// <summary>Width of the input of layer <paramref name="layer"/> (0-based): H for every layer, the embedding being H wide.</summary>
    public int LayerInput(int layer) => Hidden;

    /// <summary>
    /// The parameters under their canonical names and shapes (docs/design.md §2, PyTorch word_language_model
    /// <c>RNNModel.state_dict()</c>), in canonical order. There is no <c>decoder.weight</c>: the decoder is tied to the encoder.
    /// </summary>
    public IReadOnlyList<ParameterSpec> Parameters()
    {
        if (Vocab <= 0 || Hidden <= 0 || Layers <= 0)
            throw new ArgumentException($"model shape needs V, H and L above zero (got V={Vocab}, H={Hidden}, L={Layers})");
        int gh = Gates * Hidden;
        var specs = new List<ParameterSpec> { new(EncoderWeight, [Vocab, Hidden]) };
        for (int k = 0; k < Layers; k++)
        {
            specs.Add(new(WeightIh(k), [gh, LayerInput(k)]));
            specs.Add(new(WeightHh(k), [gh, Hidden]));
            specs.Add(new(BiasIh(k), [gh]));
            specs.Add(new(BiasHh(k), [gh]));
        }
        specs.Add(new(DecoderBias, [Vocab]));
        return specs;
    }

    /// <summary>The number of trainable scalars (the tied decoder weight counted once).</summary>
    public long ParameterCount => Parameters().Sum(p => p.Count);

    /// <summary>"lstm, 2 layers, hidden 650, vocabulary 10000".</summary>
    public override string ToString() =>
        $"{Cell.ConfigName()}, {Layers} layer{(Layers == 1 ? "" : "s")}, hidden {Hidden}, vocabulary {Vocab}";

    /// <summary>"cell lstm vs gru, hidden 650 vs 1500": the fields where this (a checkpoint's) and <paramref name="other"/> (the model) differ.</summary>
    public string Differences(ModelShape other)
    {
        var parts = new List<string>();
        if (Cell != other.Cell) parts.Add($"cell {Cell.ConfigName()} vs {other.Cell.ConfigName()}");
        if (Layers != other.Layers) parts.Add($"layers {Layers} vs {other.Layers}");
        if (Hidden != other.Hidden) parts.Add($"hidden {Hidden} vs {other.Hidden}");
        if (Vocab != other.Vocab) parts.Add($"vocabulary {Vocab} vs {other.Vocab} words");
        return string.Join(", ", parts);
    }

    public const string EncoderWeight = "encoder.weight";
    public const string DecoderBias = "decoder.bias";
    public static string WeightIh(int layer) => $"rnn.weight_ih_l{layer}";
    public static string WeightHh(int layer) => $"rnn.weight_hh_l{layer}";
    public static string BiasIh(int layer) => $"rnn.bias_ih_l{layer}";
    public static string BiasHh(int layer) => $"rnn.bias_hh_l{layer}";
}

/// <summary>One parameter tensor: canonical name and row-major dimensions.</summary>
public sealed record ParameterSpec(string Name, int[] Dimensions)
{
    public long Count => Dimensions.Aggregate(1L, (a, d) => a * d);
}

namespace ArTar.Checkpoints;

/// <summary>
/// What fixes a model's parameter names and shapes (DESIGN §2): cell, layers L, hidden H, vocabulary V.
/// The embedding is H wide (tied decoder), so every layer's input is H wide.
/// </summary>
public sealed record ModelLayout(CellType Cell, int Layers, int Hidden, int VocabSize)
{
    /// <summary>
    /// The parameters under PyTorch word_language_model's <c>RNNModel.state_dict()</c> names, in its order:
    /// encoder.weight [V,H]; per layer k rnn.weight_ih_lk [G·H,H], rnn.weight_hh_lk [G·H,H], rnn.bias_ih_lk [G·H],
    /// rnn.bias_hh_lk [G·H]; decoder.bias [V]. decoder.weight is encoder.weight (tied) and is not listed.
    /// </summary>
    public IReadOnlyList<TensorInfo> Tensors()
    {
        int gh = Cell.Gates() * Hidden;
        var tensors = new List<TensorInfo> { new("encoder.weight", [VocabSize, Hidden]) };
        for (int k = 0; k < Layers; k++)
        {
            tensors.Add(new($"rnn.weight_ih_l{k}", [gh, Hidden]));
            tensors.Add(new($"rnn.weight_hh_l{k}", [gh, Hidden]));
            tensors.Add(new($"rnn.bias_ih_l{k}", [gh]));
            tensors.Add(new($"rnn.bias_hh_l{k}", [gh]));
        }
        tensors.Add(new("decoder.bias", [VocabSize]));
        return tensors;
    }

    /// <summary>The number of trainable scalars (the tied decoder weight counted once).</summary>
    public long ParameterCount => Tensors().Sum(t => (long)t.ElementCount);

    /// <summary>"lstm, 2 layers, hidden 650, vocabulary 10000".</summary>
    public override string ToString() =>
        $"{Cell.ConfigName()}, {Layers} layer{(Layers == 1 ? "" : "s")}, hidden {Hidden}, vocabulary {VocabSize}";

    /// <summary>"cell lstm vs gru, hidden 650 vs 1500": the fields where this (a checkpoint's) and <paramref name="other"/> (the model) differ.</summary>
    internal string Differences(ModelLayout other)
    {
        var parts = new List<string>();
        if (Cell != other.Cell) parts.Add($"cell {Cell.ConfigName()} vs {other.Cell.ConfigName()}");
        if (Layers != other.Layers) parts.Add($"layers {Layers} vs {other.Layers}");
        if (Hidden != other.Hidden) parts.Add($"hidden {Hidden} vs {other.Hidden}");
        if (VocabSize != other.VocabSize) parts.Add($"vocabulary {VocabSize} vs {other.VocabSize} words");
        return string.Join(", ", parts);
    }
}

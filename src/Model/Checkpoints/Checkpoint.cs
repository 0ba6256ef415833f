using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using ArTar.Backends;
using ArTar.Training;
using static ArTar.Quote;

namespace ArTar.Checkpoints;

/// <summary>
/// What a checkpoint's <c>__metadata__</c> holds besides the tensors: the run's config, the vocabulary's hash, the model's
/// shape (so PyTorch users can read cell, layers, hidden and vocab_size directly) and the <see cref="TrainingState"/>,
/// which with the weights and (for a run stopped mid-epoch) the <see cref="Checkpoint.StatePrefix"/> tensors is all a
/// resumed run needs (docs/checkpoints.md).
/// </summary>
public sealed record CheckpointMetadata
{
    /// <summary>The run's resolved configuration, as JSON (the text of the run's config.json).</summary>
    public required string Config { get; init; }

    /// <summary>SHA-256 of the vocabulary words joined by '\n', lowercase hex (<see cref="Checkpoint.VocabularySha256"/>).</summary>
    public required string VocabularySha256 { get; init; }

    public required ModelShape Model { get; init; }

    public required TrainingState Training { get; init; }

    /// <summary>The config's name (its file name), so a resumed run's summary.json names it; null in older checkpoints.</summary>
    public string? ConfigName { get; init; }

    /// <summary>Split → SHA-256 of its corpus file (<see cref="CorpusFiles"/>); null in older checkpoints and for corpora not in files.</summary>
    public IReadOnlyDictionary<string, string>? CorpusSha256 { get; init; }
}

/// <summary>
/// A model's parameters in a safetensors file under PyTorch word_language_model's names (docs/design.md §2), with
/// <see cref="CheckpointMetadata"/>. Only encoder.weight is stored for the tied decoder; see docs/checkpoints.md.
/// </summary>
public sealed class Checkpoint
{
    /// <summary>
    /// The format version this code writes, under <see cref="FormatKey"/>. Version 2 keeps the training counters in one
    /// typed <see cref="TrainingState"/> entry; version 1 files (one string entry per counter) are still read.
    /// </summary>
    public const int FormatVersion = 2;

    /// <summary>The metadata key that marks an ArTar checkpoint.</summary>
    public const string FormatKey = "artar_format";

    private const string DecoderWeight = "decoder.weight";

    /// <summary>
    /// Tensors named "state.…" are training state, not parameters: the hidden state carried into the next window
    /// when a run stops mid-epoch (state.h_l0, state.c_l0, …). PyTorch's load_state_dict(strict=False) ignores them.
    /// </summary>
    public const string StatePrefix = "state.";

    private readonly Dictionary<string, NamedTensor> _byName;

    private Checkpoint(string path, CheckpointMetadata metadata, IReadOnlyList<NamedTensor> tensors, IReadOnlyList<NamedTensor> state)
    {
        Path = path;
        Metadata = metadata;
        Tensors = tensors;
        State = state;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file it was loaded from.</summary>
    public string Path { get; }

    public CheckpointMetadata Metadata { get; }

    /// <summary>The parameters in <see cref="ModelShape.Parameters"/> order, shapes checked.</summary>
    public IReadOnlyList<NamedTensor> Tensors { get; }

    /// <summary>The training-state tensors (<see cref="StatePrefix"/>), empty for a checkpoint taken at an epoch's end.</summary>
    public IReadOnlyList<NamedTensor> State { get; }

    /// <summary>The tensor of that canonical name.</summary>
    public NamedTensor this[string name] => _byName.TryGetValue(name, out NamedTensor? t)
        ? t : throw new KeyNotFoundException($"checkpoint {Path} has no tensor {name}");

    /// <summary>SHA-256 (lowercase hex) of the words in id order joined by '\n', UTF-8.</summary>
    public static string VocabularySha256(IEnumerable<string> words) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', words))));

    /// <summary>Saves <paramref name="tensors"/>, which must be exactly <c>Infos(metadata.Model)</c> (names and shapes, any order).</summary>
    public static void Save(string path, CheckpointMetadata metadata, IReadOnlyList<NamedTensor> tensors)
    {
        IReadOnlyList<TensorInfo> expected = Infos(metadata.Model);
        var byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (TensorInfo e in expected)
        {
            if (!byName.TryGetValue(e.Name, out NamedTensor? t))
                throw new ArgumentException($"no tensor {e.Name} for a model of {metadata.Model}", nameof(tensors));
            if (!t.Shape.SequenceEqual(e.Shape))
                throw new ArgumentException($"tensor {e.Name} has shape {SafeTensors.FormatShape(t.Shape)}, a model of {metadata.Model} has {SafeTensors.FormatShape(e.Shape)}", nameof(tensors));
        }
        if (byName.Count != expected.Count)
            throw new ArgumentException($"tensor {byName.Keys.Except(expected.Select(e => e.Name)).First()} is not a parameter of a model of {metadata.Model}", nameof(tensors));
        SafeTensors.Write(path, tensors, ToDictionary(metadata));
    }

    /// <summary>
    /// Saves the parameters of <c>metadata.Model</c>, asking <paramref name="read"/> for each by canonical name
    /// (a backend's read-by-name), one at a time. Atomic: if <paramref name="read"/> throws, the destination is unchanged.
    /// </summary>
    public static void Save(string path, CheckpointMetadata metadata, TensorReader read, IReadOnlyList<NamedTensor>? state = null)
    {
        state ??= [];
        if (state.FirstOrDefault(t => !t.Name.StartsWith(StatePrefix, StringComparison.Ordinal)) is { } bad)
            throw new ArgumentException($"training-state tensor {bad.Name} must be named {StatePrefix}…", nameof(state));
        var byName = state.ToDictionary(t => t.Name, StringComparer.Ordinal);
        SafeTensors.Write(path, [.. Infos(metadata.Model), .. state.Select(t => t.Info)],
            (name, destination) =>
            {
                if (byName.TryGetValue(name, out NamedTensor? t)) t.Data.CopyTo(destination);
                else read(name, destination);
            },
            ToDictionary(metadata));
    }

    /// <summary>
    /// Loads an ArTar checkpoint and checks it is whole: every parameter its own metadata implies, with that shape,
    /// and nothing else (a decoder.weight equal to encoder.weight is accepted and dropped), every value finite.
    /// </summary>
    public static Checkpoint Load(string path)
    {
        SafeTensorsFile file = SafeTensors.Read(path);
        CheckpointMetadata metadata = ParseMetadata(path, file);
        var byName = file.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        CheckSizeAgainstTensors(path, metadata.Model, byName);
        if (byName.Remove(DecoderWeight, out NamedTensor? decoder))
        {
            // A file that also holds the tied decoder weight (e.g. re-saved from PyTorch) is fine if it is truly tied.
            if (!byName.TryGetValue("encoder.weight", out NamedTensor? encoder) || !decoder.Shape.SequenceEqual(encoder.Shape)
                || !decoder.Data.AsSpan().SequenceEqual(encoder.Data))
                throw new CheckpointException(path, "decoder.weight differs from encoder.weight, but ArTar ties them (docs/design.md §2)");
        }
        var state = byName.Values.Where(t => t.Name.StartsWith(StatePrefix, StringComparison.Ordinal)).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        foreach (NamedTensor t in state) byName.Remove(t.Name);
        var tensors = new List<NamedTensor>();
        foreach (TensorInfo e in Infos(metadata.Model))
        {
            if (!byName.Remove(e.Name, out NamedTensor? t))
                throw new CheckpointException(path, $"has no tensor {e.Name}, which its metadata ({metadata.Model}) implies");
            if (!t.Shape.SequenceEqual(e.Shape))
                throw new CheckpointException(path, $"{e.Name} has shape {SafeTensors.FormatShape(t.Shape)}, but its metadata ({metadata.Model}) implies {SafeTensors.FormatShape(e.Shape)}");
            tensors.Add(t);
        }
        if (byName.Count > 0)
            throw new CheckpointException(path, $"holds tensor {Excerpt(byName.Keys.Order(StringComparer.Ordinal).First())}, which is not a parameter of its model ({metadata.Model})");
        foreach (NamedTensor t in tensors.Concat(state))
            CheckFinite(path, t);
        return new Checkpoint(path, metadata, tensors, state);
    }

    /// <summary>
    /// The metadata's layers, hidden and vocab_size must be those of the tensors present, before anything is sized by
    /// them: <see cref="ModelShape.Parameters"/> lists four tensors per layer and a backend allocates V·H floats, so
    /// 'layers' = 2147483647 must be an error, not 15 GB. The file's size (<see cref="SafeTensors.MaxFileBytes"/>) bounds the tensors.
    /// </summary>
    private static void CheckSizeAgainstTensors(string path, ModelShape model, Dictionary<string, NamedTensor> byName)
    {
        string weightIh = ModelShape.WeightIh(0)[..^1];
        int layers = byName.Keys.Count(name => name.StartsWith(weightIh, StringComparison.Ordinal));
        if (layers != model.Layers)
            throw new CheckpointException(path, $"its metadata 'layers' is {model.Layers}, but it holds {layers} {weightIh}… tensors");
        if (byName.TryGetValue(ModelShape.EncoderWeight, out NamedTensor? encoder)
            && (encoder.Shape is not [int vocab, int hidden] || vocab != model.Vocab || hidden != model.Hidden))
            throw new CheckpointException(path, $"{ModelShape.EncoderWeight} has shape {Excerpt(SafeTensors.FormatShape(encoder.Shape))}, but its metadata ({model}) implies [{model.Vocab},{model.Hidden}]");
    }

    /// <summary>NaN or ±∞ in a weight or a carried state is a diverged or damaged model: eval would print NaN and generate repeat one word.</summary>
    private static void CheckFinite(string path, NamedTensor tensor)
    {
        float[] data = tensor.Data;
        for (int i = 0; i < data.Length; i++)
        {
            if (float.IsFinite(data[i])) continue;
            string value = float.IsNaN(data[i]) ? "NaN" : data[i] > 0 ? "+∞" : "-∞";
            throw new CheckpointException(path,
                $"{tensor.Name} holds {value} at index {Index(tensor.Shape, i)}; a model with non-finite values cannot be used: take an earlier checkpoint (last.safetensors or best.safetensors) or train anew");
        }
    }

    /// <summary>"[2,1]": the row-major index of element <paramref name="flat"/> in a tensor of <paramref name="shape"/>.</summary>
    private static string Index(int[] shape, int flat)
    {
        var index = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        return SafeTensors.FormatShape(index);
    }

    /// <summary>
    /// Loads a checkpoint for a model of <paramref name="expected"/> trained on the vocabulary with hash
    /// <paramref name="vocabularySha256"/>; any difference is one <see cref="CheckpointException"/> line.
    /// </summary>
    public static Checkpoint Load(string path, ModelShape expected, string vocabularySha256)
    {
        Checkpoint checkpoint = Load(path);
        checkpoint.CheckMatches(expected, vocabularySha256);
        return checkpoint;
    }

    /// <summary>Throws a one-line <see cref="CheckpointException"/> saying how this checkpoint differs from the model expected.</summary>
    public void CheckMatches(ModelShape expected, string vocabularySha256)
    {
        ModelShape actual = Metadata.Model;
        string why = actual == expected ? "" : $" (checkpoint vs model: {actual.Differences(expected)})";
        IReadOnlyList<TensorInfo> wanted = Infos(expected);
        foreach (TensorInfo e in wanted)
        {
            if (!_byName.TryGetValue(e.Name, out NamedTensor? t))
                throw new CheckpointException(Path, $"has no tensor {e.Name}, which the model has{why}");
            if (!t.Shape.SequenceEqual(e.Shape))
                throw new CheckpointException(Path, $"{e.Name} has shape {SafeTensors.FormatShape(t.Shape)}, the model expects {SafeTensors.FormatShape(e.Shape)}{why}");
        }
        string? extra = _byName.Keys.Except(wanted.Select(e => e.Name)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (extra is not null)
            throw new CheckpointException(Path, $"holds tensor {extra}, which the model does not have{why}");
        // Equal shapes with another cell cannot happen (G differs), but say it plainly if it ever does.
        if (actual.Cell != expected.Cell)
            throw new CheckpointException(Path, $"is a {actual.Cell.ConfigName()} model, the config asks for {expected.Cell.ConfigName()}");
        if (!string.Equals(Metadata.VocabularySha256, vocabularySha256, StringComparison.OrdinalIgnoreCase))
            throw new CheckpointException(Path,
                $"its vocabulary (sha256 {Short(Metadata.VocabularySha256)}) is not the data's (sha256 {Short(vocabularySha256)}): it was trained on other data; use that data or train anew");
    }

    /// <summary>The parameters of a model as safetensors entries, in canonical order.</summary>
    private static IReadOnlyList<TensorInfo> Infos(ModelShape shape) => [.. shape.Parameters().Select(p => new TensorInfo(p.Name, p.Dimensions))];

    private static string Short(string hash) => Excerpt(hash, 12);

    private static Dictionary<string, string> ToDictionary(CheckpointMetadata m)
    {
        var d = Required(m);
        if (m.ConfigName is not null) d[ConfigNameKey] = m.ConfigName;
        if (m.CorpusSha256 is not null) d[CorpusKey] = System.Text.Json.JsonSerializer.Serialize(m.CorpusSha256);
        return d;
    }

    // Optional entries: format 2 files written before them still load, and readers that do not know them ignore them.
    private const string ConfigNameKey = "config_name", CorpusKey = "corpus_sha256";

    private static Dictionary<string, string> Required(CheckpointMetadata m) => new(StringComparer.Ordinal)
    {
        [FormatKey] = FormatVersion.ToString(CultureInfo.InvariantCulture),
        ["config"] = m.Config,
        ["vocab_sha256"] = m.VocabularySha256,
        ["cell"] = m.Model.Cell.ConfigName(),
        ["layers"] = Invariant(m.Model.Layers),
        ["hidden"] = Invariant(m.Model.Hidden),
        ["vocab_size"] = Invariant(m.Model.Vocab),
        [TrainingState.MetadataKey] = m.Training.ToJson(),
    };

    private static string Invariant<T>(T value) where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    private static CheckpointMetadata ParseMetadata(string path, SafeTensorsFile file)
    {
        IReadOnlyDictionary<string, string> d = file.Metadata;
        if (!d.TryGetValue(FormatKey, out string? format))
        {
            string names = string.Join(", ", file.Tensors.Take(3).Select(t => Excerpt(t.Name))) + (file.Tensors.Count > 3 ? ", …" : "");
            throw new CheckpointException(path,
                $"not an ArTar checkpoint: its header has no ArTar metadata ('{FormatKey}'; tensors: {(names.Length == 0 ? "none" : names)})");
        }
        if (!int.TryParse(format, NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version is < 1 or > FormatVersion)
            throw new CheckpointException(path, $"has ArTar checkpoint format '{Excerpt(format)}', this ArTar reads formats 1 to {FormatVersion}");

        string Get(string key) => d.TryGetValue(key, out string? v) ? v
            : throw new CheckpointException(path, $"its ArTar metadata has no '{key}'");
        T Parse<T>(string key, string what) where T : ISpanParsable<T>
        {
            string v = Get(key);
            return T.TryParse(v, CultureInfo.InvariantCulture, out T? result) ? result
                : throw new CheckpointException(path, $"its metadata '{key}' is '{Excerpt(v)}', not {what}");
        }
        int Positive(string key)
        {
            int v = Parse<int>(key, "an integer");
            return v > 0 ? v : throw new CheckpointException(path, $"its metadata '{key}' is {v}, not a positive integer");
        }

        string cellName = Get("cell");
        CellType cell = Enum.GetValues<CellType>().FirstOrDefault(c => c.ConfigName() == cellName, (CellType)(-1));
        if (!Enum.IsDefined(cell))
            throw new CheckpointException(path, $"its metadata 'cell' is '{Excerpt(cellName)}', not one of lstm, gru, rnn");
        return new CheckpointMetadata
        {
            Config = Get("config"),
            VocabularySha256 = Get("vocab_sha256"),
            Model = new ModelShape(cell, Positive("vocab_size"), Positive("hidden"), Positive("layers")),
            Training = version == 1 ? FormatOneState() : TrainingState.FromJson(Get(TrainingState.MetadataKey), path),
            ConfigName = d.GetValueOrDefault(ConfigNameKey),
            CorpusSha256 = d.TryGetValue(CorpusKey, out string? corpus) ? CorpusHashes(corpus) : null,
        };

        IReadOnlyDictionary<string, string> CorpusHashes(string json)
        {
            Dictionary<string, string>? hashes = null;
            try { hashes = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(json); }
            catch (System.Text.Json.JsonException) { }
            return hashes is not null && hashes.Values.All(h => h is not null) ? hashes
                : throw new CheckpointException(path, $"its metadata '{CorpusKey}' is '{Excerpt(json)}', not a JSON object of split → sha256; the file is damaged");
        }

        // Format 1 kept each counter as its own string entry.
        TrainingState FormatOneState() => new TrainingState
        {
            Epoch = Parse<int>("epoch", "an integer"),
            Window = Parse<int>("window", "an integer"),
            Step = Parse<long>("step", "an integer"),
            Lr = Parse<double>("lr", "a number"),
            BestValidLoss = Parse<double>("best_valid_loss", "a number"),
            BestEpoch = Parse<int>("best_epoch", "an integer"),
            Seconds = d.ContainsKey("seconds") ? Parse<double>("seconds", "a number") : 0,
            EpochCeSum = Parse<double>("epoch_ce_sum", "a number"),
            EpochRows = Parse<long>("epoch_rows", "an integer"),
        }.Checked(path);
    }
}

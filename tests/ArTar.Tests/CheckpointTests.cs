using ArTar.Backends;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using ArTar.Checkpoints;
using ArTar.Training;
using NUnit.Framework;

namespace ArTar.Tests;

public class CheckpointTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("artar-ckpt-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Words = ["<eos>", "the", "cat", "sat", "on"];
    private static readonly string VocabHash = Checkpoint.VocabularySha256(Words);

    private static ModelShape Layout(CellType cell = CellType.Lstm, int layers = 2, int hidden = 3, int vocab = 5) => new(cell, vocab, hidden, layers);

    private static CheckpointMetadata Metadata(ModelShape layout, string vocabHash) => new()
    {
        Config = """{"name": "tiny", "model": "lstm", "lr": 20, "note": "quotes \" and <eos> survive"}""",
        VocabularySha256 = vocabHash,
        Model = layout,
        Training = new TrainingState
        {
            Epoch = 7,
            Window = 3,
            Step = 12_345_678_901,
            Lr = 20.0 / 3.0,
            BestValidLoss = Math.Log(123.456),
            BestEpoch = 6,
            Seconds = 0.1 + 0.2,
            EpochCeSum = 1234.5 / 7.0,
            EpochRows = 60,
        },
    };

    private static CheckpointMetadata AtEpoch(ModelShape layout, int epoch) =>
        Metadata(layout, VocabHash) is var m ? m with { Training = m.Training with { Epoch = epoch } } : null!;

    private static List<NamedTensor> Parameters(ModelShape layout, int seed = 1)
    {
        var random = new Random(seed);
        var tensors = new List<NamedTensor>();
        foreach (ParameterSpec t in layout.Parameters())
        {
            var data = new float[t.Count];
            for (int i = 0; i < data.Length; i++)
                data[i] = (float)(random.NextDouble() * 2 - 1);
            tensors.Add(new NamedTensor(t.Name, t.Dimensions, data));
        }
        // Values whose bits must survive exactly: -0, a subnormal, the extremes (±∞ and NaN a checkpoint refuses; see
        // NonFiniteValuesSurviveSafetensorsButNoCheckpoint).
        float[] special = [-0f, float.Epsilon, 1.17549435e-38f, float.MaxValue, float.MinValue];
        special.CopyTo(tensors[0].Data, 0);
        return tensors;
    }

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static CheckpointException Fails(TestDelegate load)
    {
        var e = Assert.Throws<CheckpointException>(load)!;
        Assert.That(e.Message, Does.Not.Contain('\n'), "a user error is one line");
        return e;
    }

    [Test]
    public void RoundTripIsBitExact()
    {
        ModelShape layout = Layout();
        List<NamedTensor> saved = Parameters(layout);
        CheckpointMetadata meta = Metadata(layout, VocabHash);
        string path = PathOf("best.safetensors");
        Checkpoint.Save(path, meta, saved);

        Checkpoint loaded = Checkpoint.Load(path, layout, VocabHash);
        Assert.That(loaded.Tensors.Select(t => t.Name), Is.EqualTo(layout.Parameters().Select(t => t.Name)));
        foreach (NamedTensor s in saved)
        {
            NamedTensor l = loaded[s.Name];
            Assert.That(l.Shape, Is.EqualTo(s.Shape), s.Name);
            Assert.That(l.Data.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(s.Data.Select(BitConverter.SingleToInt32Bits)), s.Name);
        }
        CheckpointMetadata m = loaded.Metadata;
        Assert.That(m.Config, Is.EqualTo(meta.Config));
        Assert.That(m.VocabularySha256, Is.EqualTo(meta.VocabularySha256));
        Assert.That(m.Model, Is.EqualTo(layout));
        // Record equality compares every counter; the doubles must come back bit for bit (a resumed run anneals as the original).
        Assert.That(m.Training, Is.EqualTo(meta.Training));
        Assert.That(BitConverter.DoubleToInt64Bits(m.Training.Lr), Is.EqualTo(BitConverter.DoubleToInt64Bits(meta.Training.Lr)));
        Assert.That(BitConverter.DoubleToInt64Bits(m.Training.EpochCeSum), Is.EqualTo(BitConverter.DoubleToInt64Bits(meta.Training.EpochCeSum)));
        // For tools/load_in_pytorch.py: keep the file to load it into PyTorch by hand.
        if (Environment.GetEnvironmentVariable("ARTAR_KEEP_CHECKPOINT") is { Length: > 0 } keep)
            File.Copy(path, keep, overwrite: true);
    }

    [Test]
    public void BestValidLossBeforeAnyEvaluationRoundTrips()
    {
        ModelShape layout = Layout(CellType.Rnn, layers: 1);
        string path = PathOf("x.safetensors");
        var start = Metadata(layout, VocabHash) with { Training = TrainingState.Start(20) };
        Checkpoint.Save(path, start, Parameters(layout));
        Assert.That(Checkpoint.Load(path).Metadata.Training.BestValidLoss, Is.EqualTo(double.PositiveInfinity));
    }

    [Test]
    public void SavingByNameWritesTheSameBytesAsSavingAList()
    {
        ModelShape layout = Layout(CellType.Gru);
        List<NamedTensor> tensors = Parameters(layout);
        CheckpointMetadata meta = Metadata(layout, VocabHash);
        Checkpoint.Save(PathOf("list.safetensors"), meta, tensors);
        var asked = new List<string>();
        Checkpoint.Save(PathOf("byname.safetensors"), meta, (name, destination) =>
        {
            asked.Add(name);
            tensors.Single(t => t.Name == name).Data.CopyTo(destination);
        });
        Assert.That(asked, Is.EquivalentTo(layout.Parameters().Select(t => t.Name)));
        Assert.That(File.ReadAllBytes(PathOf("byname.safetensors")), Is.EqualTo(File.ReadAllBytes(PathOf("list.safetensors"))));
    }

    /// <summary>Parses the file by the safetensors spec, without our reader, and checks what the writer promises.</summary>
    [Test]
    public void HeaderIsValidSafetensors()
    {
        ModelShape layout = Layout(CellType.Lstm, layers: 3, hidden: 4, vocab: 7);
        List<NamedTensor> tensors = Parameters(layout);
        string path = PathOf("spec.safetensors");
        Checkpoint.Save(path, Metadata(layout, VocabHash), tensors);

        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.That(n % 8, Is.Zero, "header padded to 8 bytes");
        Assert.That(8 + (long)n, Is.LessThanOrEqualTo(bytes.Length));
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.That(header, Does.StartWith("{"));
        Assert.That(header.TrimEnd(' '), Does.EndWith("}"), "padding is spaces only");

        using JsonDocument doc = JsonDocument.Parse(header);
        var names = new List<string>();
        long expectedBegin = 0;
        int dataStart = 8 + (int)n;
        foreach (JsonProperty p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                Assert.That(p.Value.EnumerateObject().All(kv => kv.Value.ValueKind == JsonValueKind.String), "metadata maps strings to strings");
                Assert.That(p.Value.GetProperty("cell").GetString(), Is.EqualTo("lstm"));
                Assert.That(p.Value.GetProperty("artar_format").GetString(), Is.EqualTo("2"));
                continue;
            }
            names.Add(p.Name);
            Assert.That(p.Value.GetProperty("dtype").GetString(), Is.EqualTo("F32"));
            int[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            long begin = p.Value.GetProperty("data_offsets")[0].GetInt64();
            long end = p.Value.GetProperty("data_offsets")[1].GetInt64();
            Assert.That(begin, Is.EqualTo(expectedBegin), $"{p.Name} starts where the previous tensor ended");
            Assert.That(end - begin, Is.EqualTo(4L * shape.Aggregate(1, (a, b) => a * b)));
            NamedTensor t = tensors.Single(t => t.Name == p.Name);
            Assert.That(shape, Is.EqualTo(t.Shape));
            for (int i = 0; i < t.Data.Length; i++)
            {
                int bits = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(dataStart + (int)begin + 4 * i));
                Assert.That(bits, Is.EqualTo(BitConverter.SingleToInt32Bits(t.Data[i])), $"{p.Name}[{i}]");
            }
            expectedBegin = end;
        }
        Assert.That(dataStart + expectedBegin, Is.EqualTo(bytes.Length), "data covers the rest of the file exactly");
        Assert.That(names, Is.EqualTo(names.Order(StringComparer.Ordinal)), "tensors sorted by name");
        Assert.That(names, Is.EquivalentTo(layout.Parameters().Select(t => t.Name)));
        Assert.That(names, Does.Not.Contain("decoder.weight"), "the tied decoder weight is stored once, as encoder.weight");
    }

    [Test]
    public void CanonicalNamesAndShapesMatchPyTorchWordLanguageModel()
    {
        var shapes = Layout(CellType.Lstm, layers: 2, hidden: 650, vocab: 10000).Parameters().ToDictionary(t => t.Name, t => t.Dimensions);
        Assert.That(shapes["encoder.weight"], Is.EqualTo(new[] { 10000, 650 }));
        Assert.That(shapes["rnn.weight_ih_l0"], Is.EqualTo(new[] { 2600, 650 }));
        Assert.That(shapes["rnn.weight_hh_l1"], Is.EqualTo(new[] { 2600, 650 }));
        Assert.That(shapes["rnn.bias_ih_l1"], Is.EqualTo(new[] { 2600 }));
        Assert.That(shapes["decoder.bias"], Is.EqualTo(new[] { 10000 }));
        Assert.That(shapes, Has.Count.EqualTo(1 + 4 * 2 + 1));
        Assert.That(Layout(CellType.Gru, 1, 650, 10000).Parameters().Single(t => t.Name == "rnn.bias_hh_l0").Dimensions, Is.EqualTo(new[] { 1950 }));
        Assert.That(Layout(CellType.Rnn, 1, 10, 20).ParameterCount, Is.EqualTo(20 * 10 + 10 * 10 * 2 + 10 * 2 + 20));
    }

    [Test]
    public void VocabularyHashIsSha256OfWordsJoinedByNewline()
    {
        // Computed independently: printf 'a\nb' | sha256sum
        Assert.That(Checkpoint.VocabularySha256(["a", "b"]), Is.EqualTo("7e18f737311b2dc3b2f269dd78396b0351f14fb66efa879f768cb23181883c78"));
        Assert.That(Checkpoint.VocabularySha256(["a", "b"]), Is.Not.EqualTo(Checkpoint.VocabularySha256(["b", "a"])));
    }

    [Test]
    public void TruncatedDataIsOneLineError()
    {
        string path = SaveGood("t.safetensors");
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        var e = Fails(() => Checkpoint.Load(path));
        Assert.That(e.Message, Does.StartWith($"checkpoint {path}:").And.Contain("truncated"));
    }

    [Test]
    public void TruncatedHeaderIsOneLineError()
    {
        string path = SaveGood("t.safetensors");
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..40]);
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.Contain("header length").And.Contain("runs past the end of the file (40 bytes)"));
    }

    [Test]
    public void TooShortFileIsOneLineError()
    {
        string path = PathOf("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.Contain("too short").And.Contain("5 bytes"));
    }

    [Test]
    public void MissingFileIsOneLineError() =>
        Assert.That(Fails(() => Checkpoint.Load(PathOf("nope.safetensors"))).Message, Does.EndWith("no such file"));

    [Test]
    public void CorruptedHeaderIsOneLineError()
    {
        string path = SaveGood("c.safetensors");
        byte[] bytes = File.ReadAllBytes(path);
        int colon = Array.IndexOf(bytes, (byte)':', 8);
        bytes[colon] = (byte)'#';
        File.WriteAllBytes(path, bytes);
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.Contain("header is not valid JSON"));
    }

    [Test]
    public void HeaderThatIsNotJsonObjectIsRejected()
    {
        string path = Craft("[1, 2, 3]", 0);
        Assert.That(Fails(() => SafeTensors.Read(path)).Message, Does.Contain("does not start with '{'"));
    }

    [TestCase("""{"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}""", 4, "tensor w has dtype F16; ArTar checkpoints hold F32 only")]
    [TestCase("""{"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}""", 8, "tensor w has unknown dtype 'Q7'")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}""", 8, "tensor w has shape [3] (3 floats, 12 bytes) but data_offsets [0,8] span 8 bytes")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [-3], "data_offsets": [0, 8]}}""", 8, "not a list of non-negative integers")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 0]}}""", 8, "not [begin, end] with 0 <= begin <= end")]
    [TestCase("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}""", 12, "tensors a and b overlap")]
    [TestCase("""{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}""", 12, "bytes 4..8 of the data belong to no tensor")]
    [TestCase("""{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}""", 12, "8 bytes after the last tensor belong to no tensor")]
    [TestCase("""{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}""", 12, "tensor a ends at data byte 16, past the 12 bytes of data")]
    [TestCase("""{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}""", 8, "names 'a' twice")]
    [TestCase("""{"__metadata__": {"k": 3}}""", 0, "entry 'k' is not a string")]
    [TestCase("""{"w": {"shape": [1], "data_offsets": [0, 4]}}""", 4, "tensor w has no dtype")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}}""", 8, "tensor w has data_offsets [\"0\", \"8\"], not [begin, end]")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0.0, 8.0]}}""", 8, "data_offsets [0.0, 8.0], not [begin, end]")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 1e30]}}""", 8, "data_offsets [0, 1e30], not [begin, end]")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}""", 8, "not [begin, end] with 0 <= begin <= end")]
    [TestCase("""{"w": {"dtype": "F32", "shape": [65536, 65536], "data_offsets": [0, 8]}}""", 8, "tensor w has shape [65536,65536], too large")]
    [TestCase("""{"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}}""", 8, "has shape [\"2\"], not a list of non-negative integers")]
    [TestCase("""{"w": {"dtype": "F32", "dtype": "F16", "shape": [2], "data_offsets": [0, 8]}}""", 8, "tensor w names 'dtype' twice")]
    [TestCase("""{"w": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]}}""", 8, "tensor w has no dtype")]
    [TestCase("""{"__metadata__": {"k": {"nested": ["x"]}}}""", 0, "entry 'k' is not a string but {\"nested\": [\"x\"]}")]
    [TestCase("""{"__metadata__": ["k", "v"]}""", 0, "its __metadata__ is not a JSON object")]
    [TestCase("""{"w": [1, 2]}""", 0, "header entry 'w' is not a JSON object")]
    [TestCase("""{"w\u000a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}""", 8, "tensor w\\u000a has unknown dtype 'Q7'")]
    [TestCase("""{"\ud800": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}""", 8, "its header has a name at its top level that is not valid Unicode")]
    [TestCase("""{"__metadata__": {"k": "a\udc00"}}""", 0, "its header has the string \"a\\udc00\" in 'k' that is not valid Unicode")]
    [TestCase("""{"__metadata__": {"\ud83d\ude00": "\ud83d"}}""", 0, "in '\ud83d\ude00' that is not valid Unicode")]
    public void InvalidSafetensorsIsOneLineError(string header, int dataBytes, string problem)
    {
        string path = Craft(header, dataBytes);
        var e = Fails(() => SafeTensors.Read(path));
        Assert.That(e.Message, Does.StartWith($"checkpoint {path}: ").And.Contain(problem));
    }

    [Test]
    public void HeaderLengthOverTheLimitIsRejected()
    {
        string path = PathOf("huge.safetensors");
        byte[] bytes = new byte[8 + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(path, bytes);
        Assert.That(Fails(() => SafeTensors.Read(path)).Message, Does.Contain("runs past the end"));
    }

    [Test]
    public void ForeignSafetensorsIsOneLineError()
    {
        string path = PathOf("foreign.safetensors");
        SafeTensors.Write(path, [new NamedTensor("fc.weight", [2, 2], [1, 2, 3, 4]), new NamedTensor("fc.bias", [2], [0, 0])]);
        Assert.That(Fails(() => Checkpoint.Load(path, Layout(), VocabHash)).Message,
            Does.Contain("not an ArTar checkpoint").And.Contain("fc.bias, fc.weight"));
    }

    [Test]
    public void ArTarMetadataWithOtherTensorNamesIsOneLineError()
    {
        ModelShape layout = Layout();
        var tensors = Parameters(layout).Select(t => t.Name == "encoder.weight" ? t with { Name = "embedding.weight" } : t).ToList();
        string path = PathOf("renamed.safetensors");
        SafeTensors.Write(path, tensors, MetadataOf(layout));
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.Contain("has no tensor encoder.weight, which its metadata (lstm, 2 layers, hidden 3, vocabulary 5) implies"));
    }

    [Test]
    public void NewerFormatIsOneLineError()
    {
        ModelShape layout = Layout();
        var meta = MetadataOf(layout);
        meta[Checkpoint.FormatKey] = "3";
        string path = PathOf("v3.safetensors");
        SafeTensors.Write(path, Parameters(layout), meta);
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.Contain("format '3', this ArTar reads formats 1 to 2"));
    }

    [TestCase("layers", "two", "its metadata 'layers' is 'two', not an integer")]
    [TestCase("cell", "transformer", "its metadata 'cell' is 'transformer', not one of lstm, gru, rnn")]
    [TestCase("training", "fast", "its metadata 'training' is not a training state")]
    [TestCase("training", "{}", "its metadata 'training' is not a training state")]
    [TestCase("hidden", "0", "its metadata 'hidden' is 0, not a positive integer")]
    [TestCase("cell", "lstm\nrnn", "its metadata 'cell' is 'lstm\\u000arnn', not one of")]
    [TestCase("layers", "2147483647", "its metadata 'layers' is 2147483647, but it holds 2 rnn.weight_ih_l… tensors")]
    [TestCase("layers", "1", "its metadata 'layers' is 1, but it holds 2 rnn.weight_ih_l… tensors")]
    [TestCase("hidden", "2147483647", "encoder.weight has shape [5,3], but its metadata (lstm, 2 layers, hidden 2147483647, vocabulary 5) implies [5,2147483647]")]
    [TestCase("vocab_size", "1000000000", "encoder.weight has shape [5,3], but its metadata (lstm, 2 layers, hidden 3, vocabulary 1000000000) implies [1000000000,3]")]
    public void BadMetadataValueIsOneLineError(string key, string value, string problem)
    {
        ModelShape layout = Layout();
        var meta = MetadataOf(layout);
        meta[key] = value;
        string path = PathOf("bad.safetensors");
        SafeTensors.Write(path, Parameters(layout), meta);
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.Contain(problem));
    }

    [Test]
    public void MissingMetadataKeyIsOneLineError()
    {
        ModelShape layout = Layout();
        var meta = MetadataOf(layout);
        meta.Remove("training");
        string path = PathOf("nostate.safetensors");
        SafeTensors.Write(path, Parameters(layout), meta);
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.EndWith("its ArTar metadata has no 'training'"));
    }

    [TestCase("\"lr\":-1", "lr -1")]
    [TestCase("\"epoch\":-5", "epoch -5")]
    [TestCase("\"step\":-1", "step -1")]
    [TestCase("\"best_valid_loss\":\"NaN\"", "best_valid_loss NaN")]
    [TestCase("\"best_valid_loss\":-1", "best_valid_loss -1")]
    [TestCase("\"epoch_rows\":-1", "epoch_rows -1")]
    [TestCase("\"seconds\":\"NaN\"", "seconds NaN")]
    public void TrainingStateOutOfRangeIsOneLineError(string field, string problem)
    {
        ModelShape layout = Layout();
        var meta = MetadataOf(layout);
        string name = field[1..field.IndexOf('"', 1)];
        var state = System.Text.Json.Nodes.JsonNode.Parse(meta["training"])!.AsObject();
        state[name] = System.Text.Json.Nodes.JsonNode.Parse(field[(field.IndexOf(':') + 1)..]);
        meta["training"] = state.ToJsonString();
        string path = PathOf("range.safetensors");
        SafeTensors.Write(path, Parameters(layout), meta);
        Assert.That(Fails(() => Checkpoint.Load(path)).Message, Does.Contain($"its training state has {problem}"));
    }

    [Test]
    public void FormatOneCheckpointsStillLoad()
    {
        ModelShape layout = Layout();
        var meta = MetadataOf(layout);
        var state = Metadata(layout, VocabHash).Training;
        meta.Remove("training");
        meta[Checkpoint.FormatKey] = "1";
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["epoch"] = "7", ["window"] = "3", ["step"] = "12345678901", ["dropout_step"] = "12345678901", ["seed"] = "1111",
            ["lr"] = state.Lr.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["best_valid_loss"] = state.BestValidLoss.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["best_epoch"] = "6", ["seconds"] = state.Seconds.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["epoch_ce_sum"] = state.EpochCeSum.ToString("R", System.Globalization.CultureInfo.InvariantCulture), ["epoch_rows"] = "60",
        })
            meta[key] = value;
        string path = PathOf("v1.safetensors");
        SafeTensors.Write(path, Parameters(layout), meta);
        Assert.That(Checkpoint.Load(path).Metadata.Training, Is.EqualTo(state));
    }

    [Test]
    public void OtherCellIsOneLineErrorNamingTensorShapesAndCells()
    {
        string path = SaveGood("lstm.safetensors", Layout(CellType.Lstm, hidden: 650, layers: 1, vocab: 5));
        var e = Fails(() => Checkpoint.Load(path, Layout(CellType.Gru, hidden: 650, layers: 1, vocab: 5), VocabHash));
        Assert.That(e.Message, Is.EqualTo(
            $"checkpoint {path}: rnn.weight_ih_l0 has shape [2600,650], the model expects [1950,650] (checkpoint vs model: cell lstm vs gru)"));
    }

    [Test]
    public void OtherHiddenSizeIsOneLineError()
    {
        string path = SaveGood("h3.safetensors", Layout(hidden: 3));
        Assert.That(Fails(() => Checkpoint.Load(path, Layout(hidden: 4), VocabHash)).Message,
            Does.EndWith("encoder.weight has shape [5,3], the model expects [5,4] (checkpoint vs model: hidden 3 vs 4)"));
    }

    [Test]
    public void FewerLayersIsOneLineError()
    {
        string path = SaveGood("l2.safetensors", Layout(layers: 2));
        Assert.That(Fails(() => Checkpoint.Load(path, Layout(layers: 3), VocabHash)).Message,
            Does.EndWith("has no tensor rnn.weight_ih_l2, which the model has (checkpoint vs model: layers 2 vs 3)"));
    }

    [Test]
    public void MoreLayersIsOneLineError()
    {
        string path = SaveGood("l3.safetensors", Layout(layers: 3));
        Assert.That(Fails(() => Checkpoint.Load(path, Layout(layers: 2), VocabHash)).Message,
            Does.EndWith("holds tensor rnn.bias_hh_l2, which the model does not have (checkpoint vs model: layers 3 vs 2)"));
    }

    [Test]
    public void OtherVocabularyIsOneLineError()
    {
        string path = SaveGood("v.safetensors");
        string other = Checkpoint.VocabularySha256(["<eos>", "a", "dog", "ran", "off"]);
        var e = Fails(() => Checkpoint.Load(path, Layout(), other));
        Assert.That(e.Message, Does.Contain($"its vocabulary (sha256 {VocabHash[..12]}…) is not the data's (sha256 {other[..12]}…)"));
    }

    [Test]
    public void TiedDecoderWeightIsAcceptedOnlyWhenEqualToEncoder()
    {
        ModelShape layout = Layout();
        List<NamedTensor> tensors = Parameters(layout);
        NamedTensor encoder = tensors.Single(t => t.Name == "encoder.weight");
        string tied = PathOf("tied.safetensors");
        SafeTensors.Write(tied, [.. tensors, encoder with { Name = "decoder.weight", Data = (float[])encoder.Data.Clone() }], MetadataOf(layout));
        Assert.That(Checkpoint.Load(tied, layout, VocabHash).Tensors.Select(t => t.Name), Does.Not.Contain("decoder.weight"));

        float[] untiedData = (float[])encoder.Data.Clone();
        untiedData[^1] += 1;
        string untied = PathOf("untied.safetensors");
        SafeTensors.Write(untied, [.. tensors, encoder with { Name = "decoder.weight", Data = untiedData }], MetadataOf(layout));
        Assert.That(Fails(() => Checkpoint.Load(untied)).Message, Does.Contain("decoder.weight differs from encoder.weight"));
    }

    [Test]
    public void SaveRefusesTensorsThatAreNotTheModels()
    {
        ModelShape layout = Layout();
        List<NamedTensor> tensors = Parameters(layout);
        Assert.Throws<ArgumentException>(() => Checkpoint.Save(PathOf("a"), Metadata(layout, VocabHash), tensors.Skip(1).ToList()));
        Assert.Throws<ArgumentException>(() => Checkpoint.Save(PathOf("b"), Metadata(layout, VocabHash), [.. tensors, new NamedTensor("x", [1], [0])]));
        Assert.Throws<ArgumentException>(() => Checkpoint.Save(PathOf("c"), Metadata(Layout(hidden: 4), VocabHash), tensors));
        Assert.That(Directory.GetFiles(_dir), Is.Empty);
    }

    [Test]
    public void FailureMidwayLeavesThePreviousCheckpointIntact()
    {
        ModelShape layout = Layout();
        string path = SaveGood("last.safetensors", layout);
        byte[] good = File.ReadAllBytes(path);

        int asked = 0;
        Assert.Throws<InvalidOperationException>(() => Checkpoint.Save(path, AtEpoch(layout, 8), (name, destination) =>
        {
            if (++asked == 4)
                throw new InvalidOperationException("device lost");
            destination.Fill(asked);
        }));
        Assert.That(asked, Is.EqualTo(4), "the failure came after the header and some tensors were written");
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(good), "the good checkpoint is unchanged");
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { path }), "no temporary file is left behind");
        Assert.That(Checkpoint.Load(path).Metadata.Training.Epoch, Is.EqualTo(7));
    }

    [Test]
    public void UnwritableDestinationIsOneLineErrorAndLeavesNothing()
    {
        ModelShape layout = Layout();
        string path = Path.Combine(_dir, "missing-folder", "best.safetensors");
        // A write that fails is a failed run (IOException, exit 1), not a bad checkpoint.
        var e = Assert.Throws<IOException>(() => Checkpoint.Save(path, Metadata(layout, VocabHash), Parameters(layout)))!;
        Assert.That(e.Message, Does.StartWith($"checkpoint {path}: cannot write it").And.Not.Contain('\n'));
        Assert.That(Directory.GetFileSystemEntries(_dir), Is.Empty);
    }

    [Test]
    public void OverwritingReplacesTheFileWhole()
    {
        ModelShape layout = Layout();
        string path = SaveGood("best.safetensors", layout);
        Checkpoint.Save(path, AtEpoch(layout, 9), Parameters(layout, seed: 2));
        Checkpoint loaded = Checkpoint.Load(path, layout, VocabHash);
        Assert.That(loaded.Metadata.Training.Epoch, Is.EqualTo(9));
        Assert.That(loaded["decoder.bias"].Data, Is.EqualTo(Parameters(layout, seed: 2).Single(t => t.Name == "decoder.bias").Data));
        Assert.That(Directory.GetFiles(_dir), Has.Length.EqualTo(1));
    }

    [Test]
    public void MetadataAskingForAHugeModelIsRefusedWithoutAllocatingIt()
    {
        ModelShape layout = Layout();
        var meta = MetadataOf(layout);
        meta["layers"] = int.MaxValue.ToString();
        string path = PathOf("huge.safetensors");
        SafeTensors.Write(path, Parameters(layout), meta);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Fails(() => Checkpoint.Load(path));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20), "a few times the file's size, not 4 tensors per claimed layer");
    }

    [Test]
    public void ValueQuotedFromTheFileIsCutShort()
    {
        string name = new('w', 5000);
        string path = Craft($$$"""{"{{{name}}}": {"dtype": "Q{{{name}}}", "shape": [2], "data_offsets": [0, 8]}}""", 8);
        var e = Fails(() => SafeTensors.Read(path));
        Assert.That(e.Problem, Is.EqualTo($"tensor {name[..60]}… has unknown dtype 'Q{name[..59]}…'"));
    }

    [TestCase(new byte[] { 0xFF })]
    [TestCase(new byte[] { 0xC3 })]
    [TestCase(new byte[] { 0xED, 0xA0, 0x80 })]   // a surrogate, UTF-8-encoded
    [TestCase(new byte[] { 0xC0, 0x80 })]         // an overlong NUL
    public void HeaderThatIsNotUtf8IsOneLineError(byte[] bad)
    {
        byte[] json = [.. "{\"w"u8, .. bad, .. "\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}"u8];
        string path = Craft(json, 8);
        Assert.That(Fails(() => SafeTensors.Read(path)).Problem, Is.EqualTo("its header is not valid UTF-8 (byte 11 of the file)"));
    }

    [Test]
    public void NonFiniteValuesSurviveSafetensorsButNoCheckpoint()
    {
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7FC01234), BitConverter.Int32BitsToSingle(unchecked((int)0xFF800001))];
        string raw = PathOf("raw.safetensors");
        SafeTensors.Write(raw, [new NamedTensor("x", [special.Length], special)]);
        Assert.That(SafeTensors.Read(raw).Tensors[0].Data.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(special.Select(BitConverter.SingleToInt32Bits)));

        ModelShape layout = Layout();
        List<NamedTensor> tensors = Parameters(layout);
        tensors.Single(t => t.Name == "rnn.weight_hh_l1").Data[4 * 3 + 2] = float.NaN;
        string path = PathOf("nan.safetensors");
        SafeTensors.Write(path, tensors, MetadataOf(layout));
        Assert.That(Fails(() => Checkpoint.Load(path)).Problem, Does.StartWith("rnn.weight_hh_l1 holds NaN at index [4,2]; "));

        // The carried hidden state of a run stopped mid-epoch is checked too.
        NamedTensor[] state = [new("state.h_l0", [2, 3], [0, 0, 0, 0, float.NegativeInfinity, 0])];
        Checkpoint.Save(path, Metadata(layout, VocabHash), (name, destination) => Parameters(layout).Single(t => t.Name == name).Data.CopyTo(destination), state);
        Assert.That(Fails(() => Checkpoint.Load(path)).Problem, Does.StartWith("state.h_l0 holds -∞ at index [1,1]; "));
    }

    [TestCase("")]
    [TestCase("a\0b.safetensors")]
    public void PathThatIsNoPathIsOneLineError(string path) =>
        Assert.That(Fails(() => Checkpoint.Load(path)).Problem, Does.StartWith("is not a usable file path"));

    [Test]
    public void FileOverTheSizeLimitIsRefusedBeforeItIsRead()
    {
        string path = PathOf("huge.safetensors");
        // Sparse: no disk is used, and a reader that read it would allocate 2 GB.
        using (var stream = new FileStream(path, FileMode.CreateNew)) stream.SetLength(SafeTensors.MaxFileBytes + 1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(Fails(() => Checkpoint.Load(path)).Problem, Is.EqualTo($"is {SafeTensors.MaxFileBytes + 1} bytes, over the {SafeTensors.MaxFileBytes}-byte limit of a checkpoint"));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20));
    }

    [TestCase("/dev/zero", "is a character device, not a regular file")]
    [TestCase("/dev/null", "is a character device, not a regular file")]
    [TestCase("/tmp", "is a directory, not a regular file")]
    public void NonRegularFileIsOneLineError(string path, string problem)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        Assert.That(Fails(() => Checkpoint.Load(path)).Problem, Does.StartWith(problem));
    }

    [Test]
    public void FifoIsRefusedWithoutOpeningIt()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the file type is asked of statx(2), on Linux");
        string fifo = PathOf("pipe.safetensors");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo])) mkfifo.WaitForExit();
        // Opening a FIFO for reading blocks until a writer comes; run it aside so a regression fails instead of hanging.
        var load = Task.Run(() => Checkpoint.Load(fifo));
        Assert.That(Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(10))).Result, Is.SameAs(load), "Checkpoint.Load of a FIFO did not return in 10 s");
        Assert.That(load.Exception?.InnerException, Is.TypeOf<CheckpointException>());
        Assert.That(((CheckpointException)load.Exception!.InnerException!).Problem, Does.StartWith("is a FIFO (named pipe), not a regular file"));
    }

    private string SaveGood(string name, ModelShape? layout = null)
    {
        ModelShape shape = layout ?? Layout();
        string path = PathOf(name);
        Checkpoint.Save(path, Metadata(shape, VocabHash), Parameters(shape));
        return path;
    }

    /// <summary>The metadata dictionary a real Save writes, read back from a saved file, to tamper with.</summary>
    private Dictionary<string, string> MetadataOf(ModelShape layout)
    {
        string path = PathOf("template.safetensors");
        Checkpoint.Save(path, Metadata(layout, VocabHash), Parameters(layout));
        var d = SafeTensors.Read(path).Metadata.ToDictionary();
        File.Delete(path);
        return d;
    }

    /// <summary>A file with this header text (padded to 8) and this many zero bytes of data.</summary>
    private string Craft(string header, int dataBytes) => Craft(Encoding.UTF8.GetBytes(header), dataBytes);

    private string Craft(byte[] json, int dataBytes)
    {
        int padded = (json.Length + 7) / 8 * 8;
        byte[] bytes = new byte[8 + padded + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        json.CopyTo(bytes, 8);
        bytes.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        string path = PathOf("crafted.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ArTar.Backends;
using ArTar.Checkpoints;
using ArTar.Training;
using NUnit.Framework;

namespace ArTar.Tests.Checkpoints;

/// <summary>
/// Seeded mutations of a real checkpoint (written by <see cref="Checkpoint.Save(string, CheckpointMetadata, TensorReader, IReadOnlyList{NamedTensor})"/>
/// for a tiny model): every case either loads, and then holds exactly what its bytes say, or is one
/// <see cref="CheckpointException"/> line of bounded length. Any other exception fails with the seed and the mutation.
/// </summary>
public class SafeTensorsFuzzTests
{
    private const int Seed = 20261201;

    // The longest problem a message may state: the longest fixed text plus a few excerpts of 60 characters.
    private const int MaxProblemChars = 600;

    // No size read from the file is trusted: what reading allocates is bounded by the file's own size.
    private const int AllocationPerFileByte = 16, AllocationAllowance = 256 << 10;

    private static readonly ModelShape Shape = new(CellType.Lstm, Vocab: 5, Hidden: 3, Layers: 2);
    private static readonly string[] Words = ["<eos>", "<unk>", "the", "cat", "sat"];

    private string _dir = "", _path = "";
    private byte[] _good = [];
    private byte[] _data = [];
    private string _header = "";

    [OneTimeSetUp]
    public void SaveTinyCheckpoint()
    {
        _dir = TestData.TempFolder();
        string good = Path.Combine(_dir, "good.safetensors");
        var random = new Random(Seed);
        var meta = new CheckpointMetadata
        {
            Config = """{"name": "tiny", "model": "lstm", "layers": 2, "hidden": 3}""",
            VocabularySha256 = Checkpoint.VocabularySha256(Words),
            Model = Shape,
            Training = new TrainingState
            {
                Epoch = 3, Window = 7, Step = 1234, Lr = 5, BestValidLoss = 4.5, BestEpoch = 2, Seconds = 1.25, EpochCeSum = 12.5, EpochRows = 21,
            },
        };
        NamedTensor[] state = [new("state.h_l0", [1, 3], [0.5f, -0.25f, 0.125f]), new("state.h_l1", [1, 3], [1, 2, 3])];
        Checkpoint.Save(good, meta, (name, destination) =>
        {
            for (int i = 0; i < destination.Length; i++) destination[i] = (float)(random.NextDouble() * 2 - 1);
        }, state);
        _good = File.ReadAllBytes(good);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(_good);
        _header = Encoding.UTF8.GetString(_good, 8, n);
        _data = _good[(8 + n)..];
        _path = Path.Combine(_dir, "mutant.safetensors");
    }

    [OneTimeTearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void EveryMutationLoadsTrulyOrIsOneLine()
    {
        var families = new (string Name, int Cases, Func<Random, byte[]> Mutate)[]
        {
            ("header byte", 150, r => SetBytes(r, 8, 8 + _header.Length, (rr, b) => (byte)rr.Next(256))),
            ("header bit", 100, r => SetBytes(r, 8, 8 + _header.Length, (rr, b) => (byte)(b ^ (1 << rr.Next(8))))),
            ("data byte", 80, r => SetBytes(r, 8 + _header.Length, _good.Length, (rr, b) => (byte)rr.Next(256))),
            ("non-finite value", 20, NonFiniteValue),
            ("truncation", 120, r => _good[..r.Next(_good.Length)]),
            ("header length", 60, HeaderLength),
            ("tensor entry", 150, r => Assemble(MutateEntry(r), _data)),
            ("metadata", 150, r => Assemble(MutateMetadata(r), _data)),
            ("tensor set", 60, TensorSet),
            ("text", 100, r => Assemble(MutateText(r), _data)),
            ("root", 10, r => Assemble(Encoding.UTF8.GetBytes(Roots[r.Next(Roots.Length)]), _data)),
        };

        var failures = new List<string>();
        int loaded = 0, refused = 0;
        long mostAllocated = 0;
        string mostAllocatedBy = "";
        for (int f = 0; f < families.Length; f++)
        {
            for (int c = 0; c < families[f].Cases; c++)
            {
                int seed = Seed + 1000 * f + c;
                string mutation = $"{families[f].Name} #{c} (seed {seed})";
                byte[] bytes = families[f].Mutate(new Random(seed));
                File.WriteAllBytes(_path, bytes);
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    Checkpoint checkpoint = Checkpoint.Load(_path);
                    if (TrueTo(checkpoint, bytes) is { } lie) failures.Add($"{mutation}: loaded, but {lie}");
                    loaded++;
                }
                catch (CheckpointException e)
                {
                    if (e.Message.Any(char.IsControl) || e.Message.Contains('\u2028'))
                        failures.Add($"{mutation}: message not one line: {JsonSerializer.Serialize(e.Message)}");
                    else if (e.Problem.Length > MaxProblemChars)
                        failures.Add($"{mutation}: message of {e.Problem.Length} characters: {e.Message[..200]}…");
                    else if (!e.Message.StartsWith($"checkpoint {_path}: ", StringComparison.Ordinal))
                        failures.Add($"{mutation}: message does not name the file: {e.Message}");
                    refused++;
                }
                catch (Exception e)
                {
                    failures.Add($"{mutation}: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}");
                }
                // Beyond a fixed allowance (JsonDocument, dictionaries, the exception), a small multiple of the file's size.
                long beyond = GC.GetAllocatedBytesForCurrentThread() - before - AllocationPerFileByte * bytes.Length;
                if (beyond > mostAllocated) (mostAllocated, mostAllocatedBy) = (beyond, $"{mutation}, {bytes.Length} bytes");
            }
        }
        TestContext.Out.WriteLine($"{loaded} loaded, {refused} refused, {failures.Count} failed; most allocated beyond {AllocationPerFileByte} bytes per byte of file: {mostAllocated} bytes ({mostAllocatedBy})");
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(20)));
        Assert.That(loaded, Is.GreaterThan(20), "some mutations are harmless (a changed data byte, a space) and must load");
        Assert.That(refused, Is.GreaterThan(500));
        Assert.That(mostAllocated, Is.LessThan(AllocationAllowance), $"reading allocates at most {AllocationPerFileByte}× the file's size + {AllocationAllowance} bytes");
    }

    /// <summary>Null if the loaded checkpoint holds what the file's bytes say; otherwise what differs.</summary>
    private static string? TrueTo(Checkpoint checkpoint, byte[] bytes)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, n));
        var entries = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ToDictionary(p => p.Name, p => p.Value);
        foreach (NamedTensor t in checkpoint.Tensors.Concat(checkpoint.State))
        {
            if (!entries.TryGetValue(t.Name, out JsonElement entry)) return $"{t.Name} is not in the header";
            int[] shape = [.. entry.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32())];
            if (!shape.SequenceEqual(t.Shape)) return $"{t.Name} has shape {SafeTensors.FormatShape(t.Shape)}, the header says {SafeTensors.FormatShape(shape)}";
            long begin = entry.GetProperty("data_offsets")[0].GetInt64();
            for (int i = 0; i < t.Data.Length; i++)
            {
                int bits = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8 + n + (int)begin + 4 * i));
                if (bits != BitConverter.SingleToInt32Bits(t.Data[i])) return $"{t.Name}[{i}] is {t.Data[i]}, the bytes say {BitConverter.Int32BitsToSingle(bits)}";
                if (!float.IsFinite(t.Data[i])) return $"{t.Name}[{i}] is {t.Data[i]}";
            }
        }
        JsonElement m = header.RootElement.GetProperty("__metadata__");
        int Int(string key) => int.Parse(m.GetProperty(key).GetString()!, CultureInfo.InvariantCulture);
        var model = new ModelShape(checkpoint.Metadata.Model.Cell, Int("vocab_size"), Int("hidden"), Int("layers"));
        if (model != checkpoint.Metadata.Model) return $"its model is {checkpoint.Metadata.Model}, the metadata says {model}";
        if (checkpoint.Tensors.Count != model.Parameters().Count) return $"it has {checkpoint.Tensors.Count} parameters, a model of {model} {model.Parameters().Count}";
        var training = TrainingState.FromJson(m.GetProperty(TrainingState.MetadataKey).GetString()!, "check");
        if (checkpoint.Metadata.Training != training) return $"its training state is {checkpoint.Metadata.Training}, the metadata says {training}";
        return null;
    }

    private byte[] SetBytes(Random r, int from, int to, Func<Random, byte, byte> change)
    {
        byte[] bytes = (byte[])_good.Clone();
        for (int k = r.Next(1, 4); k > 0; k--)
        {
            int at = r.Next(from, to);
            bytes[at] = change(r, bytes[at]);
        }
        return bytes;
    }

    private byte[] NonFiniteValue(Random r)
    {
        byte[] bytes = (byte[])_good.Clone();
        float[] bad = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7FC01234)];
        int at = 8 + _header.Length + 4 * r.Next(_data.Length / 4);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(at), bad[r.Next(bad.Length)]);
        return bytes;
    }

    private byte[] HeaderLength(Random r)
    {
        byte[] bytes = (byte[])_good.Clone();
        ulong n = (ulong)_header.Length;
        ulong[] lengths = [0, 1, 7, n - 1, n + 1, n - 8, n + 8, n + (ulong)_data.Length, (ulong)bytes.Length, 1UL << 31, 1UL << 32 | n,
            ulong.MaxValue, long.MaxValue, 100_000_001, (ulong)r.NextInt64(), n + (ulong)r.Next(-64, 64)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lengths[r.Next(lengths.Length)]);
        return bytes;
    }

    private static readonly JsonNode?[] Dtypes = ["F16", "f32", "", "I64", "F32 ", 5, null, new JsonObject(), new JsonArray("F32")];

    private static readonly Func<Random, JsonNode?>[] Shapes =
    [
        _ => new JsonArray(), _ => new JsonArray(0), _ => new JsonArray(-1), _ => new JsonArray("3"), _ => new JsonArray(1.5),
        _ => new JsonArray(2147483648L), _ => new JsonArray(65536, 65536, 65536), _ => new JsonArray(1 << 16, 1 << 15),
        _ => JsonValue.Create("[3]"), _ => null, r => new JsonArray(r.Next(0, 20), r.Next(0, 20)), r => new JsonArray(r.Next(0, 40)),
        _ => new JsonArray(new JsonArray(3)), _ => new JsonArray(1e300),
    ];

    private static readonly Func<Random, long, long, JsonNode?>[] Offsets =
    [
        (_, b, e) => new JsonArray($"{b}", $"{e}"), (_, b, e) => new JsonArray((double)b + 0.5, (double)e),
        (_, _, _) => new JsonArray(1e30, 1e31), (_, b, e) => new JsonArray(b - 4, e - 4), (_, b, e) => new JsonArray(b + 4, e + 4),
        (_, b, e) => new JsonArray(e, b), (_, b, _) => new JsonArray(b), (_, b, e) => new JsonArray(b, e, e), (_, _, _) => JsonValue.Create("x"),
        (_, _, _) => null, (_, b, e) => new JsonArray(b, long.MaxValue), (_, _, _) => new JsonArray(long.MaxValue - 3, long.MaxValue + 1.0),
        (_, _, _) => new JsonArray(-1, 3), (r, b, e) => new JsonArray(b + r.Next(-8, 9), e + r.Next(-8, 9)),
    ];

    private JsonObject Root() => JsonNode.Parse(_header)!.AsObject();

    private static List<string> TensorNames(JsonObject root) => [.. root.Select(p => p.Key).Where(k => k != "__metadata__")];

    private byte[] MutateEntry(Random r)
    {
        JsonObject root = Root();
        List<string> names = TensorNames(root);
        JsonObject entry = root[names[r.Next(names.Count)]]!.AsObject();
        long begin = entry["data_offsets"]![0]!.GetValue<long>(), end = entry["data_offsets"]![1]!.GetValue<long>();
        switch (r.Next(6))
        {
            case 0: entry["dtype"] = Dtypes[r.Next(Dtypes.Length)]?.DeepClone(); break;
            case 1: entry["shape"] = Shapes[r.Next(Shapes.Length)](r); break;
            case 2: entry["data_offsets"] = Offsets[r.Next(Offsets.Length)](r, begin, end); break;
            case 3: entry.Remove(new[] { "dtype", "shape", "data_offsets" }[r.Next(3)]); break;
            case 4: entry["extra"] = r.Next(2) == 0 ? "ignored" : new JsonObject { ["deep"] = new JsonArray(1, 2) }; break;
            default:
                // Another tensor's offsets: an overlap, and a gap where this one was.
                string other = names[r.Next(names.Count)];
                entry["data_offsets"] = root[other]!["data_offsets"]!.DeepClone();
                break;
        }
        return Serialize(root);
    }

    private static readonly string[] NumberKeys = ["layers", "hidden", "vocab_size", "epoch", "step", "dropout_step", "seed", "lr", "best_valid_loss", "seconds", "artar_format"];

    private static readonly string[] BadNumbers =
    [
        "2147483647", "-1", "0", "1e9", " 3", "3 ", "0x10", "٣", "NaN", "Infinity", "-Infinity", "99999999999999999999", "", "2.5", "+2",
        "1", "4", "6", "01",
    ];

    private byte[] MutateMetadata(Random r)
    {
        JsonObject root = Root();
        JsonObject meta = root["__metadata__"]!.AsObject();
        string key = r.Next(4) == 0 ? meta.Select(p => p.Key).ElementAt(r.Next(meta.Count)) : NumberKeys[r.Next(NumberKeys.Length)];
        switch (r.Next(5))
        {
            case 0: meta[key] = BadNumbers[r.Next(BadNumbers.Length)]; break;
            case 1:
                JsonNode?[] values = [3, null, true, new JsonObject { ["a"] = "b" }, new JsonArray("2"), 2.5, Nest(r.Next(10, 80))];
                meta[key] = values[r.Next(values.Length)];
                break;
            case 2: meta.Remove(key); break;
            case 3: meta["cell"] = new[] { "LSTM", "gru", "rnn", "lstm ", "", "transformer" }[r.Next(6)]; break;
            default: root["__metadata__"] = r.Next(2) == 0 ? new JsonArray() : JsonValue.Create("metadata"); break;
        }
        return Serialize(root);
    }

    private static JsonNode Nest(int depth)
    {
        JsonNode node = "x";
        for (int i = 0; i < depth; i++) node = new JsonArray(node);
        return node;
    }

    /// <summary>Tensors missing, added (with data), duplicated, renamed.</summary>
    private byte[] TensorSet(Random r)
    {
        JsonObject root = Root();
        List<string> names = TensorNames(root);
        string name = names[r.Next(names.Count)];
        switch (r.Next(5))
        {
            case 0:
                root.Remove(name);
                return Assemble(Serialize(root), _data);
            case 1:
            {
                // An extra tensor after the data: valid safetensors, not a parameter (or decoder.weight / a state tensor).
                string extra = new[] { "extra.weight", "decoder.weight", "state.c_l0", "rnn.weight_ih_l2", "encoder.weight2" }[r.Next(5)];
                int count = extra == "decoder.weight" ? Shape.Vocab * Shape.Hidden : r.Next(0, 5);
                root[extra] = new JsonObject
                {
                    ["dtype"] = "F32",
                    ["shape"] = extra == "decoder.weight" ? new JsonArray(Shape.Vocab, Shape.Hidden) : new JsonArray(count),
                    ["data_offsets"] = new JsonArray(_data.Length, _data.Length + 4 * count),
                };
                byte[] more = new byte[4 * count];
                if (extra == "decoder.weight" && r.Next(2) == 0)
                {
                    // The tied copy, bit for bit: the loader accepts and drops it.
                    JsonNode encoder = root["encoder.weight"]!["data_offsets"]!;
                    _data.AsSpan(encoder[0]!.GetValue<int>(), more.Length).CopyTo(more);
                }
                return Assemble(Serialize(root), [.. _data, .. more]);
            }
            case 2:
            {
                // A duplicate name: JsonObject cannot hold one, so write it into the text.
                string text = Encoding.UTF8.GetString(Serialize(root));
                string entry = $"\"{name}\":{root[name]!.ToJsonString()}";
                return Assemble(Encoding.UTF8.GetBytes(text.Insert(1, entry + ",")), _data);
            }
            case 3:
            {
                JsonNode entry = root[name]!;
                root.Remove(name);
                root[new[] { "", "__metadata__x", "rnn.weight_ih_l", "ENCODER.WEIGHT", new string('w', 5000), "state.", name + "\n" }[r.Next(7)]] = entry;
                return Assemble(Serialize(root), _data);
            }
            default:
                // Two tensors swap places in the data: shapes and offsets stay consistent only where the sizes agree.
                string other = names[r.Next(names.Count)];
                (root[name]!["data_offsets"], root[other]!["data_offsets"]) = (root[other]!["data_offsets"]!.DeepClone(), root[name]!["data_offsets"]!.DeepClone());
                return Assemble(Serialize(root), _data);
        }
    }

    private static readonly string[] Escapes = ["\\ud800", "\\udc00", "\\ud800\\u0041", "\\udbff", "\\u0000", "\\n", "\\u2028", "\\\\", "\\\"", "\\ud83d\\ude00"];

    private static readonly byte[][] RawBytes = [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0x80], [0xE2, 0x82], [0x80], [0x00], [0x0A]];

    /// <summary>Escapes that are valid JSON but no text (lone surrogates), control characters, and raw bytes that are not UTF-8, inside a string.</summary>
    private byte[] MutateText(Random r)
    {
        byte[] text = Serialize(Root());
        // A position just after an opening quote: inside a tensor name, a metadata key or value, a dtype.
        int[] quotes = [.. Enumerable.Range(0, text.Length).Where(i => text[i] == (byte)'"')];
        int at = quotes[r.Next(quotes.Length)] + 1;
        byte[] insert = r.Next(2) == 0 ? Encoding.UTF8.GetBytes(Escapes[r.Next(Escapes.Length)]) : RawBytes[r.Next(RawBytes.Length)];
        return [.. text[..at], .. insert, .. text[at..]];
    }

    private static readonly string[] Roots =
    [
        "[]", "\"x\"", "1", "{}", "{\"a\":1}", "{\"__metadata__\":{}}", "{" + new string('[', 100) + new string(']', 100) + "}",
        "{\"a\":" + new string('[', 200) + new string(']', 200) + "}", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", "{\"a\":1} x",
    ];

    private static byte[] Serialize(JsonObject root) =>
        Encoding.UTF8.GetBytes(root.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));

    /// <summary>A safetensors file of this header (padded with spaces to 8 bytes, as the writer pads) and data.</summary>
    private static byte[] Assemble(byte[] header, byte[] data)
    {
        int padded = (header.Length + 7) / 8 * 8;
        byte[] bytes = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.CopyTo(bytes, 8);
        bytes.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        data.CopyTo(bytes, 8 + padded);
        return bytes;
    }
}

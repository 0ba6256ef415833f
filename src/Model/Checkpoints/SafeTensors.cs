using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using static ArTar.Quote;

namespace ArTar.Checkpoints;

/// <summary>A tensor's name and shape (row-major, as in PyTorch).</summary>
public sealed record TensorInfo(string Name, int[] Shape)
{
    /// <summary>The number of elements: the product of the shape (1 for a scalar).</summary>
    public int ElementCount => SafeTensors.ElementCount(Shape);

    public override string ToString() => $"{Name} {SafeTensors.FormatShape(Shape)}";
}

/// <summary>A float32 tensor: name, shape and data in row-major order.</summary>
public sealed record NamedTensor(string Name, int[] Shape, float[] Data)
{
    public TensorInfo Info => new(Name, Shape);

    public override string ToString() => $"{Name} {SafeTensors.FormatShape(Shape)}";
}

/// <summary>The tensors of a safetensors file (sorted by name) and its <c>__metadata__</c>.</summary>
public sealed record SafeTensorsFile(IReadOnlyList<NamedTensor> Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>Fills <paramref name="destination"/> (of the tensor's element count) with the named tensor's data.</summary>
public delegate void TensorReader(string name, Span<float> destination);

/// <summary>
/// The safetensors format, float32 only: an 8-byte little-endian header length N, N bytes of JSON
/// <c>{"__metadata__": {string: string}, name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}</c>
/// padded with spaces to a multiple of 8, then the tensors' raw little-endian bytes, contiguous, in name order.
/// </summary>
public static class SafeTensors
{
    /// <summary>The reference implementation refuses larger headers; so do we, before allocating one.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    /// <summary>The largest file <see cref="Read"/> accepts (2 GB): it reads the file whole into one array, then decodes it.</summary>
    public const long MaxFileBytes = 2_000_000_000;

    private const string MetadataKey = "__metadata__";

    // Every dtype the reference implementation knows, so a foreign file gets "not F32" rather than "unknown".
    private static readonly HashSet<string> KnownDtypes =
    [
        "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
        "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64", "C64",
    ];

    /// <summary>Writes <paramref name="tensors"/> atomically (temporary file, flush, rename).</summary>
    public static void Write(string path, IReadOnlyList<NamedTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var byName = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (NamedTensor t in tensors)
        {
            if (t.Data.Length != ElementCount(t.Shape))
                throw new ArgumentException($"tensor {t.Name} has shape {FormatShape(t.Shape)} but {t.Data.Length} values", nameof(tensors));
            if (!byName.TryAdd(t.Name, t))
                throw new ArgumentException($"tensor {t.Name} appears twice", nameof(tensors));
        }
        Write(path, tensors.Select(t => t.Info).ToArray(), (name, destination) => byName[name].Data.CopyTo(destination), metadata);
    }

    /// <summary>
    /// Writes the tensors <paramref name="tensors"/> describes, asking <paramref name="read"/> for each one's data in turn
    /// (so a backend can copy one parameter at a time), atomically: if anything throws, the destination is unchanged.
    /// I/O failures become one <see cref="IOException"/> naming the file; exceptions of <paramref name="read"/> pass through.
    /// </summary>
    public static void Write(string path, IReadOnlyList<TensorInfo> tensors, TensorReader read, IReadOnlyDictionary<string, string>? metadata = null)
    {
        TensorInfo[] ordered = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        for (int i = 0; i < ordered.Length; i++)
        {
            if (ordered[i].Name.Length == 0 || ordered[i].Name == MetadataKey)
                throw new ArgumentException($"'{ordered[i].Name}' is not a tensor name", nameof(tensors));
            if (i > 0 && ordered[i].Name == ordered[i - 1].Name)
                throw new ArgumentException($"tensor {ordered[i].Name} appears twice", nameof(tensors));
        }
        byte[] header = Header(ordered, metadata);
        int largest = ordered.Length == 0 ? 0 : ordered.Max(t => t.ElementCount);
        try
        {
            AtomicFile.Write(path, stream =>
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                float[] buffer = ArrayPool<float>.Shared.Rent(Math.Max(largest, 1));
                try
                {
                    foreach (TensorInfo t in ordered)
                    {
                        Span<float> data = buffer.AsSpan(0, t.ElementCount);
                        data.Clear();
                        read(t.Name, data);
                        WriteLittleEndian(stream, data);
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(buffer);
                }
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A full disk or a read-only folder is a failed run (exit 1), not a bad checkpoint (exit 2).
            throw new IOException($"checkpoint {Quote.Path(path)}: cannot write it ({Excerpt(e.Message, 200)}); any earlier file there is unchanged; free space there or make the folder writable", e);
        }
    }

    /// <summary>
    /// Reads and validates a whole file; every problem is a one-line <see cref="CheckpointException"/>. Only a regular file
    /// of at most <see cref="MaxFileBytes"/> is read, and its type is checked before it is opened (a FIFO would block).
    /// </summary>
    public static SafeTensorsFile Read(string path)
    {
        byte[] bytes;
        try
        {
            using var stream = InputFile.OpenRegular(path, MaxFileBytes, "a checkpoint", "give a .safetensors file written by `artar train`",
                problem => new CheckpointException(path, problem));
            // Exactly the size the file system reports, never more: a file that grows meanwhile is not read to its end.
            bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            if (stream.ReadByte() >= 0)
                throw new CheckpointException(path, "grew while it was read; read it again once nothing writes it");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CheckpointException(path, "no such file", e);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException(path, $"is not a usable file path ({Excerpt(e.Message, 200)})", e);
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointException(path, "shrank while it was read; read it again once nothing writes it", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"cannot read it ({Excerpt(e.Message, 200)})", e);
        }
        return Parse(path, bytes);
    }

    /// <summary>Validates and decodes the bytes of a safetensors file; <paramref name="path"/> only names it in errors.</summary>
    public static SafeTensorsFile Parse(string path, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8)
            throw new CheckpointException(path, $"too short to be a safetensors file ({bytes.Length} bytes; the header length alone takes 8)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8))
            throw new CheckpointException(path, $"its header length ({headerLength} bytes) runs past the end of the file ({bytes.Length} bytes): truncated, or not a safetensors file");
        if (headerLength > MaxHeaderBytes)
            throw new CheckpointException(path, $"its header length ({headerLength} bytes) is over the safetensors limit of {MaxHeaderBytes}");
        ReadOnlySpan<byte> header = bytes.Slice(8, (int)headerLength);
        ReadOnlySpan<byte> data = bytes[(8 + (int)headerLength)..];
        if (header.Length == 0 || header[0] != (byte)'{')
            throw new CheckpointException(path, "its header does not start with '{': not a safetensors file");
        // System.Text.Json parses invalid UTF-8 inside strings and fails only when one is decoded; check it all first.
        if (!Utf8.IsValid(header))
            throw new CheckpointException(path, $"its header is not valid UTF-8 (byte {8 + FirstInvalidUtf8(header)} of the file)");

        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"its header is not valid JSON ({Excerpt(e.Message, 200)})", e);
        }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(path, "its header is not a JSON object");
            CheckText(path, json.RootElement, "at its top level");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<(TensorInfo Info, long Begin, long End)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in json.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new CheckpointException(path, $"its header names '{Excerpt(property.Name)}' twice");
                if (property.Name == MetadataKey)
                    ReadMetadata(path, property.Value, metadata);
                else
                    entries.Add(ReadEntry(path, property.Name, property.Value));
            }
            return new SafeTensorsFile(ReadData(path, entries, data), metadata);
        }
    }

    /// <summary>The index of the first byte that does not begin a valid UTF-8 sequence.</summary>
    private static int FirstInvalidUtf8(ReadOnlySpan<byte> text)
    {
        int i = 0;
        while (i < text.Length && Rune.DecodeFromUtf8(text[i..], out _, out int used) == OperationStatus.Done)
            i += used;
        return i;
    }

    /// <summary>
    /// Decodes every name and string of the header once, so that a later GetString cannot throw: a lone surrogate
    /// escape such as "\ud800" is valid JSON but no text, and System.Text.Json throws when it decodes one.
    /// </summary>
    private static void CheckText(string path, JsonElement element, string where)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    string name;
                    try { name = property.Name; }
                    catch (Exception e) when (e is InvalidOperationException or ArgumentException)
                    {
                        throw NotText(path, $"a name {where}", e);
                    }
                    CheckText(path, property.Value, $"in '{Excerpt(name)}'");
                }
                break;
            case JsonValueKind.Array:
                foreach (JsonElement item in element.EnumerateArray())
                    CheckText(path, item, where);
                break;
            case JsonValueKind.String:
                try { element.GetString(); }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException)
                {
                    throw NotText(path, $"the string {Excerpt(element.GetRawText())} {where}", e);
                }
                break;
        }
    }

    private static CheckpointException NotText(string path, string what, Exception e) =>
        new(path, $"its header has {what} that is not valid Unicode (an unpaired surrogate escape such as \\ud800)", e);

    /// <summary>"[2600,650]"; "[]" for a scalar.</summary>
    public static string FormatShape(IReadOnlyList<int> shape) => "[" + string.Join(",", shape) + "]";

    /// <summary>The product of the dimensions; an <see cref="ArgumentException"/> if negative or over int.MaxValue.</summary>
    public static int ElementCount(IReadOnlyList<int> shape)
    {
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"shape {FormatShape(shape)} has a negative dimension");
            count *= d;
            if (count > int.MaxValue)
                throw new ArgumentException($"shape {FormatShape(shape)} has more than {int.MaxValue} elements");
        }
        return (int)count;
    }

    private static byte[] Header(IReadOnlyList<TensorInfo> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps '<', '>', '+' and quotes inside the config readable; it is still strict JSON.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (KeyValuePair<string, string> kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    json.WriteString(kv.Key, kv.Value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (TensorInfo t in ordered)
            {
                long end = offset + 4L * t.ElementCount;
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int d in t.Shape)
                    json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }
            json.WriteEndObject();
        }
        // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, $"its {MetadataKey} is not a JSON object");
        foreach (JsonProperty kv in value.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointException(path, $"its {MetadataKey} entry '{Excerpt(kv.Name)}' is not a string but {Excerpt(kv.Value.GetRawText())}");
            if (!metadata.TryAdd(kv.Name, kv.Value.GetString()!))
                throw new CheckpointException(path, $"its {MetadataKey} names '{Excerpt(kv.Name)}' twice");
        }
    }

    private static (TensorInfo Info, long Begin, long End) ReadEntry(string path, string name, JsonElement value)
    {
        string shown = Excerpt(name);
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, $"header entry '{shown}' is not a JSON object");
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty key in value.EnumerateObject())
        {
            // Which of two "data_offsets" would count is a guess; refuse it as the reference refuses duplicate fields.
            if (!keys.Add(key.Name))
                throw new CheckpointException(path, $"tensor {shown} names '{Excerpt(key.Name)}' twice");
        }
        if (!value.TryGetProperty("dtype", out JsonElement dtype) || dtype.ValueKind != JsonValueKind.String)
            throw new CheckpointException(path, $"tensor {shown} has no dtype");
        string type = dtype.GetString()!;
        if (type != "F32")
            throw new CheckpointException(path, KnownDtypes.Contains(type)
                ? $"tensor {shown} has dtype {type}; ArTar checkpoints hold F32 only"
                : $"tensor {shown} has unknown dtype '{Excerpt(type)}'");
        if (!value.TryGetProperty("shape", out JsonElement shapeJson) || shapeJson.ValueKind != JsonValueKind.Array)
            throw new CheckpointException(path, $"tensor {shown} has no shape");
        var shape = new int[shapeJson.GetArrayLength()];
        int i = 0;
        foreach (JsonElement d in shapeJson.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out shape[i]) || shape[i] < 0)
                throw new CheckpointException(path, $"tensor {shown} has shape {Excerpt(shapeJson.GetRawText())}, not a list of non-negative integers");
            i++;
        }
        if (!value.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !Offset(offsets[0], out long begin) || !Offset(offsets[1], out long end) || end < begin)
            throw new CheckpointException(path, $"tensor {shown} has data_offsets {(value.TryGetProperty("data_offsets", out JsonElement o) ? Excerpt(o.GetRawText()) : "missing")}, not [begin, end] with 0 <= begin <= end");
        int count;
        try
        {
            count = ElementCount(shape);
        }
        catch (ArgumentException)
        {
            throw new CheckpointException(path, $"tensor {shown} has shape {Excerpt(FormatShape(shape))}, too large");
        }
        if (4L * count != end - begin)
            throw new CheckpointException(path, $"tensor {shown} has shape {Excerpt(FormatShape(shape))} ({count} floats, {4L * count} bytes) but data_offsets [{begin},{end}] span {end - begin} bytes");
        return (new TensorInfo(name, shape), begin, end);
    }

    /// <summary>A data offset: a JSON integer ≥ 0 that fits a long (a string, a fraction or 1e30 is none).</summary>
    private static bool Offset(JsonElement element, out long offset)
    {
        offset = 0;
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out offset) && offset >= 0;
    }

    private static NamedTensor[] ReadData(string path, List<(TensorInfo Info, long Begin, long End)> entries, ReadOnlySpan<byte> data)
    {
        // The data must be covered exactly: in offset order each tensor starts where the previous one ended.
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        string? previous = null;
        foreach ((TensorInfo info, long begin, long end) in entries)
        {
            if (begin < expected)
                throw new CheckpointException(path, $"tensors {Excerpt(previous!)} and {Excerpt(info.Name)} overlap (bytes {begin}..{expected})");
            if (begin > expected)
                throw new CheckpointException(path, $"bytes {expected}..{begin} of the data belong to no tensor (before {Excerpt(info.Name)})");
            if (end > data.Length)
                throw new CheckpointException(path, $"tensor {Excerpt(info.Name)} ends at data byte {end}, past the {data.Length} bytes of data: the file is truncated");
            expected = end;
            previous = info.Name;
        }
        if (expected != data.Length)
            throw new CheckpointException(path, $"{data.Length - expected} bytes after the last tensor belong to no tensor");

        var tensors = new NamedTensor[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            (TensorInfo info, long begin, long end) = entries[i];
            var values = new float[info.ElementCount];
            ReadLittleEndian(data[(int)begin..(int)end], values);
            tensors[i] = new NamedTensor(info.Name, info.Shape, values);
        }
        Array.Sort(tensors, (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return tensors;
    }

    private static void WriteLittleEndian(Stream stream, ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        Span<byte> four = stackalloc byte[4];
        foreach (float v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(four, v);
            stream.Write(four);
        }
    }

    private static void ReadLittleEndian(ReadOnlySpan<byte> bytes, Span<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            bytes.CopyTo(MemoryMarshal.AsBytes(values));
            return;
        }
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
    }
}

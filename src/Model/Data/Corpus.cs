using System.Text;

namespace ArTar.Data;

/// <summary>A user-facing data error: one line, naming the file and what to do.</summary>
public sealed class DataException(string message) : Exception(message);

/// <summary>Words in order of first appearance over train, valid, test (PyTorch word_language_model's Dictionary).</summary>
public sealed class Vocabulary
{
    public const string EndOfSentence = "<eos>";
    public const string Unknown = "<unk>";

    private readonly List<string> _words = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    public int Count => _words.Count;
    public IReadOnlyList<string> Words => _words;
    public string this[int id] => _words[id];

    public int Add(string word)
    {
        if (!_ids.TryGetValue(word, out int id))
        {
            id = _words.Count;
            _ids.Add(word, id);
            _words.Add(word);
        }
        return id;
    }

    public bool TryGetId(string word, out int id) => _ids.TryGetValue(word, out id);

    public static Vocabulary FromWords(IEnumerable<string> words) => FromWords(words, "vocabulary");

    private static Vocabulary FromWords(IEnumerable<string> words, string source)
    {
        var v = new Vocabulary();
        foreach (var w in words)
        {
            int next = v.Count;
            if (v.Add(w) != next)
                throw new DataException($"{Quote.Path(source)}: the word \"{Quote.Excerpt(w)}\" appears twice; a vocabulary lists each word once");
        }
        return v;
    }

    /// <summary>The largest vocab.txt <see cref="Load"/> reads (WikiText-103's 267,735 words take 2.5 MB).</summary>
    public const long MaxFileBytes = 100_000_000;

    /// <summary>A run's vocab.txt: one word per line, in id order.</summary>
    public static Vocabulary Load(string path)
    {
        string text;
        try
        {
            using var stream = InputFile.OpenRegular(path, MaxFileBytes, "a vocabulary", "give the vocab.txt `artar train` wrote",
                problem => new DataException($"{Quote.Path(path)}: {problem}"));
            using var reader = new StreamReader(stream, Encoding.UTF8);
            text = reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new DataException($"{Quote.Path(path)}: cannot read the vocabulary ({Quote.Excerpt(e.Message, 200)})"); }
        return FromWords(text.Length == 0 ? [] : text.TrimEnd('\n').Split('\n'), path);
    }
}

/// <summary>The three splits of a corpus as token ids, each line's words followed by &lt;eos&gt; (docs/design.md §1).</summary>
public sealed class Corpus
{
    /// <summary>
    /// The largest split file <see cref="Load"/> reads: WikiText-103's train split (540 MB) fits; a bigger file is not
    /// one of the corpora this trainer is for, and would take several times its size in memory as tokens.
    /// </summary>
    public const long MaxFileBytes = 1_000_000_000;

    public required string Folder { get; init; }
    public required Vocabulary Vocabulary { get; init; }
    public required int[] Train { get; init; }
    public required int[] Valid { get; init; }
    public required int[] Test { get; init; }

    public int[] Split(string name) => name switch
    {
        "train" => Train,
        "valid" => Valid,
        "test" => Test,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "expected train, valid or test"),
    };

    /// <summary>Reads folder/{train,valid,test}.txt; the vocabulary grows over the splits in that order.</summary>
    /// <param name="maxTrainTokens">keep only the first N training tokens (0 = all); the vocabulary still covers every split.</param>
    public static Corpus Load(string folder, long maxTrainTokens = 0, long maxEvalTokens = 0)
    {
        var vocab = new Vocabulary();
        var splits = new int[3][];
        for (int s = 0; s < 3; s++)
        {
            string path = Path.Combine(folder, CorpusSources.Splits[s] + ".txt");
            if (!File.Exists(path))
                throw new DataException(Directory.Exists(folder)
                    ? $"{Quote.Path(path)}: file not found; the corpus folder needs train.txt, valid.txt and test.txt (`artar data get ptb` downloads PTB)"
                    : $"{Quote.Path(folder)}: data folder not found; run `artar data get ptb` (or wikitext-2), pass --data DIR, or set ARTAR_DATA");
            splits[s] = Tokenize(path, vocab);
            if (splits[s].Length < 2)
                throw new DataException($"{Quote.Path(path)}: holds fewer than 2 tokens; is it the right file?");
        }
        return new Corpus
        {
            Folder = folder,
            Vocabulary = vocab,
            Train = Truncate(splits[0], maxTrainTokens),
            Valid = Truncate(splits[1], maxEvalTokens),
            Test = Truncate(splits[2], maxEvalTokens),
        };
    }

    // Throws on invalid bytes rather than reading them as U+FFFD words: a binary file is refused, not trained on.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Each line split on whitespace, plus &lt;eos&gt; — blank lines too, as word_language_model does.</summary>
    public static int[] Tokenize(string path, Vocabulary vocab)
    {
        var ids = new List<int>(1 << 20);
        int lineNumber = 0;
        string shown = Quote.Path(path);
        try
        {
            using var stream = InputFile.OpenRegular(path, MaxFileBytes, "a corpus split", "give a text file of words (`artar data get ptb` downloads PTB)",
                problem => new DataException($"{shown}: {problem}"));
            using var reader = new StreamReader(stream, StrictUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (line.Contains('\0'))
                    throw new DataException($"{shown}: line {lineNumber} holds a NUL byte: a binary file, not a text corpus; is it the right file?");
                foreach (var word in line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                    ids.Add(vocab.Add(word));
                ids.Add(vocab.Add(Vocabulary.EndOfSentence));
            }
        }
        catch (DecoderFallbackException)
        {
            throw new DataException($"{shown}: not UTF-8 text (invalid bytes at or after line {lineNumber + 1}); is it the right file?");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{shown}: cannot read ({Quote.Excerpt(e.Message, 200)})");
        }
        return [.. ids];
    }

    private static int[] Truncate(int[] tokens, long max) => max > 0 && max < tokens.Length ? tokens[..(int)max] : tokens;

    /// <summary>
    /// The corpus folder to read: --data, else ARTAR_DATA, else the config's path. The first two may name the
    /// corpus folder itself (it holds train.txt) or a root holding it under the config's folder name (…/ptb).
    /// </summary>
    public static string ResolveFolder(string configData, string? cliData, string? environmentData)
    {
        string? root = !string.IsNullOrEmpty(cliData) ? cliData : !string.IsNullOrEmpty(environmentData) ? environmentData : null;
        if (root is null) return configData;
        if (File.Exists(Path.Combine(root, "train.txt"))) return root;
        return Path.Combine(root, Path.GetFileName(Path.TrimEndingDirectorySeparator(configData)));
    }
}

/// <summary>
/// A token stream laid out as B contiguous columns (word_language_model's batchify): row t, column b holds
/// stream[b·Rows + t]; the stream is cut to a multiple of B.
/// </summary>
public sealed class BatchedStream
{
    private readonly int[] _data;   // [Rows, Columns] row-major

    public int Rows { get; }
    public int Columns { get; }

    /// <param name="name">What the stream is, for the error when it is too short ("the valid split of data/ptb").</param>
    public BatchedStream(ReadOnlySpan<int> stream, int columns, string name = "the split")
    {
        if (columns < 1) throw new ArgumentOutOfRangeException(nameof(columns));
        Columns = columns;
        Rows = stream.Length / columns;
        if (Rows < 2)
            throw new DataException($"{name} has {stream.Length} tokens, too few for batch size {columns}; use a smaller batch size or more data");
        _data = new int[Rows * columns];
        for (int b = 0; b < columns; b++)
            for (int t = 0; t < Rows; t++)
                _data[t * columns + b] = stream[b * Rows + t];
    }

    public int this[int row, int column] => _data[row * Columns + column];

    /// <summary>Windows of up to T rows; window k covers rows kT..kT+T-1, its targets one row later; the last may be shorter.</summary>
    public IEnumerable<Window> Windows(int bptt)
    {
        for (int start = 0; start < Rows - 1; start += bptt)
            yield return new Window(start, Math.Min(bptt, Rows - 1 - start));
    }

    public int WindowCount(int bptt) => (Rows - 1 + bptt - 1) / bptt;

    /// <summary>Copies the window's inputs, [Length, Columns] row-major (x[t,b]).</summary>
    public void Inputs(Window w, Span<int> destination) => _data.AsSpan(w.Start * Columns, w.Length * Columns).CopyTo(destination);

    /// <summary>Copies the window's targets, y[t,b] = x[t+1,b].</summary>
    public void Targets(Window w, Span<int> destination) => _data.AsSpan((w.Start + 1) * Columns, w.Length * Columns).CopyTo(destination);
}

/// <summary>Rows Start..Start+Length-1 of a <see cref="BatchedStream"/>.</summary>
public readonly record struct Window(int Start, int Length);

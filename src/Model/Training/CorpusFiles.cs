using System.Security.Cryptography;
using ArTar.Data;

namespace ArTar.Training;

/// <summary>
/// The identity of a corpus: SHA-256 of each split's file (train.txt, valid.txt, test.txt) as it is on disk, kept in
/// every checkpoint so that a resume on other text with the same vocabulary is refused (<see cref="Trainer.Resume"/>).
/// </summary>
public static class CorpusFiles
{
    /// <summary>Split name → lowercase hex hash, for each split file in <paramref name="folder"/>; none for a corpus that is not in files.</summary>
    public static IReadOnlyDictionary<string, string> Sha256(string folder)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);   // in the order of CorpusSources.Splits
        foreach (string split in CorpusSources.Splits)
        {
            string path = Path.Combine(folder, split + ".txt");
            if (!File.Exists(path))
                continue;
            using var file = File.OpenRead(path);
            hashes[split] = Convert.ToHexStringLower(SHA256.HashData(file));
        }
        return hashes;
    }
}

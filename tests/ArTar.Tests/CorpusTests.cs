using ArTar.Data;

namespace ArTar.Tests;

public class CorpusTests
{
    // The table of docs/data.md: tokens = words + one <eos> per line; vocabulary over all splits.
    [Test]
    public void PtbHasTheDocumentedCounts()
    {
        var c = TestData.Ptb;
        Assert.That((c.Train.Length, c.Valid.Length, c.Test.Length, c.Vocabulary.Count), Is.EqualTo((929_589, 73_760, 82_430, 10_000)));
        Assert.That(c.Vocabulary.TryGetId("<eos>", out _) && c.Vocabulary.TryGetId("<unk>", out _), Is.True);
    }

    [Test]
    public void WikiText2HasTheDocumentedCounts()
    {
        var c = TestData.WikiText2;
        Assert.That((c.Train.Length, c.Valid.Length, c.Test.Length, c.Vocabulary.Count), Is.EqualTo((2_088_628, 217_646, 245_569, 33_278)));
    }

    [Test]
    public void VocabularyIsInOrderOfFirstAppearanceAndTokensFollowTheText()
    {
        var c = TestData.Ptb;
        string firstLine = File.ReadLines(Path.Combine(c.Folder, "train.txt")).First();
        var words = firstLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < words.Length; i++)
            Assert.That(c.Vocabulary[c.Train[i]], Is.EqualTo(words[i]));
        Assert.That(c.Vocabulary[c.Train[words.Length]], Is.EqualTo("<eos>"));
        // first appearance: id k is first used after ids 0..k-1
        int next = 0;
        foreach (int id in c.Train.Take(5000))
        {
            Assert.That(id, Is.LessThanOrEqualTo(next));
            if (id == next) next++;
        }
    }

    [Test]
    public void BatchifyLaysTheStreamOutInContiguousColumnsAndCutsTheRemainder()
    {
        int[] stream = [.. Enumerable.Range(0, 23)];
        var b = new BatchedStream(stream, 4);   // 23 → 20 tokens, 5 rows
        Assert.That((b.Rows, b.Columns), Is.EqualTo((5, 4)));
        Assert.Multiple(() =>
        {
            for (int col = 0; col < 4; col++)
                for (int row = 0; row < 5; row++)
                    Assert.That(b[row, col], Is.EqualTo(col * 5 + row));
        });
    }

    [Test]
    public void WindowsShiftTargetsByOneAndTheLastIsShorter()
    {
        int[] stream = [.. Enumerable.Range(100, 3 * 11)];   // 11 rows of 3 columns
        var b = new BatchedStream(stream, 3);
        var windows = b.Windows(4).ToList();
        Assert.That(windows, Is.EqualTo(new[] { new Window(0, 4), new Window(4, 4), new Window(8, 2) }));
        Assert.That(b.WindowCount(4), Is.EqualTo(3));
        foreach (var w in windows)
        {
            var x = new int[w.Length * 3];
            var y = new int[w.Length * 3];
            b.Inputs(w, x);
            b.Targets(w, y);
            for (int t = 0; t < w.Length; t++)
                for (int col = 0; col < 3; col++)
                {
                    Assert.That(x[t * 3 + col], Is.EqualTo(b[w.Start + t, col]));
                    Assert.That(y[t * 3 + col], Is.EqualTo(x[t * 3 + col] + 1), "targets are the next token of the same column");
                }
        }
        // every target row is covered exactly once: rows 1..Rows-1
        Assert.That(windows.Sum(w => w.Length), Is.EqualTo(b.Rows - 1));
    }

    [Test]
    public void PtbTrainingWindowsHaveThePaperShapes()
    {
        var b = new BatchedStream(TestData.Ptb.Train, 20);
        // 929,589 / 20 = 46,479 rows; 46,478 target rows = 1,327 windows of 35 and a last one of 33.
        Assert.That(b.Rows, Is.EqualTo(46_479));
        Assert.That(b.WindowCount(35), Is.EqualTo(1_328));
        Assert.That(b.Windows(35).Last(), Is.EqualTo(new Window(1_327 * 35, 33)));
    }

    [Test]
    public void MissingFolderAndFilesAreOneLineErrors()
    {
        string dir = TestData.TempFolder();
        try
        {
            var e1 = Assert.Throws<DataException>(() => Corpus.Load(Path.Combine(dir, "nope")))!;
            Assert.That(e1.Message, Does.Contain("data folder not found").And.Contain("artar data get"));
            File.WriteAllText(Path.Combine(dir, "train.txt"), "a b c\n");
            var e2 = Assert.Throws<DataException>(() => Corpus.Load(dir))!;
            Assert.That(e2.Message, Does.Contain("valid.txt: file not found"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void ABinaryFileIsRefusedNotTrainedOn()
    {
        string dir = TestData.TempFolder();
        try
        {
            string path = Path.Combine(dir, "train.txt");
            File.WriteAllBytes(path, [(byte)'a', (byte)' ', (byte)'b', (byte)'\n', 0xC3, 0x28, (byte)'\n']);   // 0xC3 0x28: not UTF-8
            var e1 = Assert.Throws<DataException>(() => Corpus.Tokenize(path, new Vocabulary()))!;
            Assert.That(e1.Message, Does.StartWith(path).And.Contain("not UTF-8 text"));
            File.WriteAllBytes(path, [(byte)'M', (byte)'Z', 0, 0, (byte)'\n']);
            var e2 = Assert.Throws<DataException>(() => Corpus.Tokenize(path, new Vocabulary()))!;
            Assert.That(e2.Message, Does.Contain("line 1 holds a NUL byte"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void AVocabularyWithAWordTwiceIsRefusedNamingTheFile()
    {
        Assert.That(Assert.Throws<DataException>(() => Vocabulary.FromWords(["a", "b", "a"]))!.Message, Does.Contain("the word \"a\" appears twice"));
        string dir = TestData.TempFolder();
        try
        {
            string path = Path.Combine(dir, "vocab.txt");
            File.WriteAllText(path, "<eos>\nthe\n<eos>\n");
            Assert.That(Assert.Throws<DataException>(() => Vocabulary.Load(path))!.Message, Does.StartWith($"{path}: the word \"<eos>\" appears twice"));
            File.WriteAllText(path, "<eos>\nthe\ncat\n");
            Assert.That(Vocabulary.Load(path).Words, Is.EqualTo(new[] { "<eos>", "the", "cat" }));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void DataFolderPrecedenceIsCliThenEnvironmentThenConfig()
    {
        Assert.That(Corpus.ResolveFolder("data/ptb", null, null), Is.EqualTo("data/ptb"));
        Assert.That(Corpus.ResolveFolder("data/ptb", null, "/env"), Is.EqualTo(Path.Combine("/env", "ptb")));
        Assert.That(Corpus.ResolveFolder("data/ptb", "/cli", "/env"), Is.EqualTo(Path.Combine("/cli", "ptb")));
        string folder = TestData.Folder("ptb");
        Assert.That(Corpus.ResolveFolder("data/wikitext-2", folder, null), Is.EqualTo(folder), "a corpus folder given directly is used as is");
    }

    [Test]
    public void MaxTokensCutsSplitsButNotTheVocabulary()
    {
        var c = Corpus.Load(TestData.Folder("ptb"), 1000, 500);
        Assert.That((c.Train.Length, c.Valid.Length, c.Test.Length, c.Vocabulary.Count), Is.EqualTo((1000, 500, 500, 10_000)));
        Assert.That(c.Train, Is.EqualTo(TestData.Ptb.Train[..1000]));
    }
}

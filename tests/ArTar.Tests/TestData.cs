using ArTar.Data;

namespace ArTar.Tests;

/// <summary>The shared corpora (ARTAR_DATA, as CI sets it); tests that need them are ignored with the reason when absent.</summary>
internal static class TestData
{
    public static string Root
    {
        get
        {
            // ARTAR_DATA (CI sets it; docs/data.md), else the data/ folder `artar data get` fills.
            string? root = Environment.GetEnvironmentVariable("ARTAR_DATA");
            if (string.IsNullOrEmpty(root)) root = Path.Combine(RepoRoot, "data");
            if (!Directory.Exists(root))
                Assert.Ignore($"no data: set ARTAR_DATA to a folder holding ptb/ and wikitext-2/, or run `artar data get ptb` ({root} is missing)");
            return root;
        }
    }

    public static string Folder(string corpus)
    {
        string folder = Path.Combine(Root, corpus);
        if (!File.Exists(Path.Combine(folder, "train.txt")))
            Assert.Ignore($"{folder}/train.txt is missing");
        return folder;
    }

    private static readonly Lazy<Corpus>[] Cache = [new(() => Corpus.Load(Folder("ptb"))), new(() => Corpus.Load(Folder("wikitext-2")))];

    public static Corpus Ptb { get { Folder("ptb"); return Cache[0].Value; } }
    public static Corpus WikiText2 { get { Folder("wikitext-2"); return Cache[1].Value; } }

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ArTar.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("ArTar.sln not found above the test directory");
        }
    }

    /// <summary>
    /// The built program (artar.dll), for tests that run it as a real process: <c>dotnet ArtarDll train …</c>.
    /// Tests and tools that start artar themselves take it from here, so there is one place to change when the build moves.
    /// </summary>
    public static string ArtarDll { get; } = typeof(TestData).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
        .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == "ArtarDll").Value!;

    /// <summary>A fresh temporary folder, deleted by the caller's TearDown.</summary>
    public static string TempFolder()
    {
        string dir = Path.Combine(Path.GetTempPath(), "artar-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}

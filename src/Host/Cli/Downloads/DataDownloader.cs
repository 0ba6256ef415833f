using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;

using ArTar.Data;

namespace ArTar.Cli.Downloads;

/// <summary>How download progress is shown.</summary>
public enum ProgressStyle
{
    /// <summary>A redrawn bar when the log is the console's stdout or stderr and that is a terminal; plain lines otherwise.</summary>
    Auto,
    /// <summary>Always a bar redrawn with carriage returns.</summary>
    Bar,
    /// <summary>Plain lines only: one when a download starts, one when it is verified.</summary>
    Lines,
}

public sealed record DownloadOptions
{
    /// <summary>
    /// Fetch from <c>{Mirror}/{corpus}/{split}.txt</c> instead of the public sources (a static HTTP server over a
    /// copy of a data folder is such a mirror). The md5s checked are the same.
    /// </summary>
    public Uri? Mirror { get; init; }

    public ProgressStyle Progress { get; init; } = ProgressStyle.Auto;

    /// <summary>A download that receives nothing for this long (headers or body) fails instead of hanging.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// <c>artar data get ptb|wikitext-2</c>: fetches a corpus's three files into <c>{dataRoot}/{corpus}/{split}.txt</c>,
/// verifying each against its published md5 (docs/data.md). Each file is streamed to a hidden temporary file in the
/// same folder, hashed on the way, and renamed over the target only once complete and verified, so a failed,
/// truncated or corrupt download never replaces or deletes a file and leaves no temporary file behind.
/// </summary>
public static class DataDownloader
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitUsage = 2;

    public static Task<int> GetAsync(string corpus, string dataRoot, TextWriter log, CancellationToken cancel = default)
        => GetAsync(corpus, dataRoot, log, new DownloadOptions(), cancel);

    /// <summary>
    /// Downloads <paramref name="corpus"/> (ptb or wikitext-2) under <paramref name="dataRoot"/>; progress, results and
    /// any error (one line starting "error: ") go to <paramref name="log"/>. Returns <see cref="ExitOk"/>,
    /// <see cref="ExitFailed"/> (network, HTTP, size or md5 failure, cancellation, local I/O) or <see cref="ExitUsage"/>
    /// (unknown corpus). Files already present with the right md5 are not fetched again; it stops at the first failure.
    /// </summary>
    public static Task<int> GetAsync(string corpus, string dataRoot, TextWriter log, DownloadOptions options, CancellationToken cancel = default)
    {
        if (!CorpusSources.IsKnown(corpus))
        {
            log.WriteLine($"error: unknown corpus '{Quote.Excerpt(corpus)}'; expected one of: {string.Join(", ", CorpusSources.Names)}");
            return Task.FromResult(ExitUsage);
        }
        return GetFilesAsync(CorpusSources.Files(corpus, options.Mirror), dataRoot, log, options, cancel);
    }

    /// <summary>The work of <see cref="GetAsync(string,string,TextWriter,DownloadOptions,CancellationToken)"/> for any
    /// list of files; tests pass files whose md5s are those of bytes they serve themselves.</summary>
    internal static async Task<int> GetFilesAsync(IReadOnlyList<CorpusFile> files, string dataRoot, TextWriter log,
        DownloadOptions options, CancellationToken cancel)
    {
        bool bar = UseBar(options.Progress, log);
        using var http = CreateClient();
        foreach (var file in files)
        {
            string dir = Path.GetFullPath(Path.Combine(dataRoot, file.Corpus));
            string target = Path.Combine(dir, file.FileName);
            try
            {
                Directory.CreateDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.WriteLine($"error: cannot create the folder {Quote.Path(dir)}: {OneLine(e)}; choose another data folder or fix its permissions");
                return ExitFailed;
            }

            if (File.Exists(target))
            {
                string? have = await Md5OfFileAsync(target, cancel);
                if (have == file.Md5)
                {
                    log.WriteLine($"{file.DisplayName}: present, md5 ok, skipped");
                    continue;
                }
                log.WriteLine($"{file.DisplayName}: present but its md5 is {have ?? "unreadable"}, not {file.Md5}; downloading it again");
            }

            string? error = await DownloadAsync(http, file, target, log, bar, options.IdleTimeout, cancel);
            if (error is not null)
            {
                log.WriteLine("error: " + error);
                return ExitFailed;
            }
        }
        if (files.Count > 0)
            log.WriteLine($"{files[0].Corpus}: {files.Count} files verified in {Path.GetFullPath(Path.Combine(dataRoot, files[0].Corpus))}");
        return ExitOk;
    }

    /// <summary>Fetches one file to a temporary name, verifies it and renames it over <paramref name="target"/>;
    /// returns null on success, else the one-line reason (what, where, what to do).</summary>
    static async Task<string?> DownloadAsync(HttpClient http, CorpusFile file, string target, TextWriter log, bool bar,
        TimeSpan idleTimeout, CancellationToken cancel)
    {
        string dir = Path.GetDirectoryName(target)!;
        // Same folder as the target, so the final File.Move is a rename on one file system (atomic).
        string temp = Path.Combine(dir, $".{file.FileName}.{Guid.NewGuid():N}.part");
        // The mirror and the data folder are the user's: quoted cut, as every value an error line quotes.
        string what = $"{file.DisplayName} from {Quote.Path(file.Url.AbsoluteUri)}";
        string kept = File.Exists(target) ? $"{Quote.Path(target)} was left as it was" : $"no {file.FileName} was written";
        string retry = $"run `artar data get {file.Corpus}` again";
        var progress = new ProgressLine(log, file.DisplayName, bar);
        long? length = null;
        long received = 0;
        bool writing = false;
        // Cancelled by the caller or, re-armed before every wait, when the server goes quiet for idleTimeout.
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        try
        {
            idle.CancelAfter(idleTimeout);
            using var response = await http.GetAsync(file.Url, HttpCompletionOption.ResponseHeadersRead, idle.Token);
            if (!response.IsSuccessStatusCode)
                return $"{what}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}; check that the URL opens in a browser and {retry}; {kept}";
            length = response.Content.Headers.ContentLength;
            if (length is long announced && announced != file.Bytes)
                return $"{what}: the server announces {announced:N0} bytes, the published file has {file.Bytes:N0}; it is not that file, check the URL (or --mirror) and {retry}; {kept}";
            progress.Start(file.Url, file.Bytes);

            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            await using (var body = await response.Content.ReadAsStreamAsync(idle.Token))
            {
                writing = true;
                await using var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                writing = false;
                var buffer = new byte[1 << 16];
                while (true)
                {
                    idle.CancelAfter(idleTimeout);
                    int n = await body.ReadAsync(buffer, idle.Token);
                    if (n == 0)
                        break;
                    // Bounded by the published size, not by the server: one with no Content-Length could send forever.
                    if (received + n > file.Bytes)
                        return $"{what}: the server sent more than the {file.Bytes:N0} bytes of the published file; it is not that file, check the URL (or --mirror) and {retry}; {kept}";
                    md5.AppendData(buffer, 0, n);
                    writing = true;
                    await output.WriteAsync(buffer.AsMemory(0, n), cancel);
                    writing = false;
                    received += n;
                    progress.Report(received);
                }
                writing = true;
                output.Flush(flushToDisk: true); // the bytes are on disk before the name points at them
                writing = false;
            }
            progress.End();

            if (received != file.Bytes)
                return Truncated(what, received, file.Bytes, retry, kept);
            string got = Convert.ToHexStringLower(md5.GetHashAndReset());
            if (got != file.Md5)
                return $"{what}: md5 {got} of the {received:N0} bytes received, expected {file.Md5}; the download is corrupt or the source changed, {retry} or fetch the file by hand and compare with docs/data.md; {kept}";

            writing = true;
            File.Move(temp, target, overwrite: true);
            log.WriteLine($"{file.DisplayName}: {received:N0} bytes, md5 ok, saved as {Quote.Path(target)}");
            return null;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return $"cancelled while downloading {what}; {kept}";
        }
        catch (OperationCanceledException)
        {
            return $"{what}: no data for {idleTimeout.TotalSeconds:0.#} s (after {received:N0} bytes); check the network connection and {retry}; {kept}";
        }
        catch (Exception e) when (writing && e is IOException or UnauthorizedAccessException)
        {
            return $"cannot write {file.DisplayName} in {Quote.Path(dir)}: {OneLine(e)}; check free space and permissions there; {kept}";
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            // HttpClient throws (ResponseEnded) when the connection closes before Content-Length bytes arrived.
            if (length is not null && received < file.Bytes)
                return Truncated(what, received, file.Bytes, retry, kept);
            return $"{what}: {OneLine(e)}; check the network connection (a proxy is taken from HTTPS_PROXY) and {retry}; {kept}";
        }
        finally
        {
            progress.End();
            try { File.Delete(temp); } // no-op when renamed or never created
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.WriteLine($"warning: could not remove the temporary file {Quote.Path(temp)}: {OneLine(e)}"); }
        }
    }

    static string Truncated(string what, long received, long expected, string retry, string kept)
        => $"{what}: the download ended after {received:N0} of {expected:N0} bytes (truncated); {retry}; {kept}";

    /// <summary>Lower-case hex md5 of a file, or null when it cannot be read (then it is fetched again).</summary>
    internal static async Task<string?> Md5OfFileAsync(string path, CancellationToken cancel)
    {
        try
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            return Convert.ToHexStringLower(await MD5.HashDataAsync(stream, cancel));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    static HttpClient CreateClient()
    {
        // No automatic decompression: Content-Length then counts the very bytes hashed and saved.
        var handler = new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None };
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }; // the idle timeout bounds every wait instead
        http.DefaultRequestHeaders.UserAgent.ParseAdd("ArTar-data-get/1.0");
        return http;
    }

    static bool UseBar(ProgressStyle style, TextWriter log) => style switch
    {
        ProgressStyle.Bar => true,
        ProgressStyle.Lines => false,
        _ => Environment.GetEnvironmentVariable("TERM") != "dumb"
             && ((ReferenceEquals(log, Console.Error) && !Console.IsErrorRedirected)
                 || (ReferenceEquals(log, Console.Out) && !Console.IsOutputRedirected)),
    };

    // .NET messages end in a full stop; ours go on after them with "; what to do".
    static string OneLine(Exception e) => Quote.Excerpt(e.Message.ReplaceLineEndings(" ").Trim().TrimEnd('.'), 400);

    /// <summary>One file's progress: a bar redrawn in place (at most 10 times a second), or nothing between the
    /// start line and the result line.</summary>
    sealed class ProgressLine(TextWriter log, string name, bool bar)
    {
        const int Width = 30;
        readonly Stopwatch clock = new();
        long? total;
        long lastDraw = long.MinValue;
        bool drawn;

        public void Start(Uri url, long? length)
        {
            total = length;
            log.WriteLine($"{name}: downloading {Quote.Path(url.AbsoluteUri)} ({(length is long n ? $"{n:N0} bytes" : "size unknown")})");
            clock.Start();
            Report(0);
        }

        public void Report(long received)
        {
            if (!bar)
                return;
            long now = clock.ElapsedMilliseconds;
            bool done = total is long t && received >= t;
            if (!done && now - lastDraw < 100)
                return;
            lastDraw = now;
            double seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-3);
            string rate = $"{received / 1e6 / seconds,6:0.0} MB/s";
            string line = total is long all && all > 0
                ? $"\r{name}  [{new string('#', (int)(Width * received / all)).PadRight(Width, '.')}] {100 * received / all,3}%  {received / 1e6:0.0}/{all / 1e6:0.0} MB  {rate}"
                : $"\r{name}  {received / 1e6:0.0} MB  {rate}";
            log.Write(line);
            log.Flush();
            drawn = true;
        }

        public void End()
        {
            if (drawn)
                log.WriteLine();
            drawn = false;
        }
    }
}

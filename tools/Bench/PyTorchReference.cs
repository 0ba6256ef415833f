// The GPU reference: tools/pytorch_reference.py (the same model and step in PyTorch with cuDNN) run by python3 when
// `import torch` works there; its JSON line gives tokens/s, and ours/theirs goes in the throughput table.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ArTar.Configuration;

namespace ArTar.Bench;

internal static class PyTorchReference
{
    // The GPU check runs two configs inside its benchmark stage: the script caps its own timed loops, and a run past
    // the cap plus start-up (import torch, cuDNN's first call) is killed.
    private const int ScriptSeconds = 12, KillAfterSeconds = 30, ImportSeconds = 20;

    /// <summary>tools/pytorch_reference.py from the working folder (the repository root) or beside the build.</summary>
    public static string? Script() =>
        new[] { Path.Combine("tools", "pytorch_reference.py"), Path.Combine(AppContext.BaseDirectory, "..", "tools", "pytorch_reference.py"),
                Path.Combine(AppContext.BaseDirectory, "pytorch_reference.py") }.FirstOrDefault(File.Exists);

    public static ThroughputRow Compare(OurThroughput ours, RunConfig config)
    {
        const string who = "pytorch cudnn";
        if (Script() is not { } script) return new ThroughputRow(ours, who, null, null, null, null, "tools/pytorch_reference.py not found (run from the repository root)", null);
        var (ok, output) = Python(["-c", "import torch; print(torch.__version__)"], ImportSeconds);
        if (!ok) return new ThroughputRow(ours, who, null, null, null, null, $"python3 cannot import torch: {Last(output)}", null);
        string configPath = Machine.ConfigPath(config.Name);
        var (ran, json) = Python([script, "--config", configPath, "--vocab", ours.Vocab.ToString(CultureInfo.InvariantCulture),
            "--max-seconds", ScriptSeconds.ToString(CultureInfo.InvariantCulture)], KillAfterSeconds);
        if (!ran) return new ThroughputRow(ours, who, null, null, null, null, $"pytorch_reference.py failed: {Last(json)}", null);
        try
        {
            using var doc = JsonDocument.Parse(json.Trim().Split('\n')[^1]);
            var root = doc.RootElement;
            if (root.TryGetProperty("skipped", out var skipped)) return new ThroughputRow(ours, who, null, null, null, null, skipped.GetString(), null);
            double train = root.GetProperty("train_tokens_per_sec").GetDouble(), eval = root.GetProperty("eval_tokens_per_sec").GetDouble();
            return new ThroughputRow(ours, $"{who} {root.GetProperty("torch").GetString()}", train, eval,
                ours.TrainTokensPerSec / train, ours.EvalTokensPerSec / eval, null, JsonSerializer.Deserialize<Dictionary<string, object>>(root.GetRawText()));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new ThroughputRow(ours, who, null, null, null, null, $"pytorch_reference.py printed no usable JSON: {Last(json)}", null);
        }
    }

    private static string Last(string text) => text.Trim().Split('\n')[^1].Trim();

    /// <summary>Runs python3 with a time limit; (exit 0, stdout) or (false, stderr + stdout).</summary>
    private static (bool Ok, string Output) Python(string[] args, int seconds)
    {
        try
        {
            var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(seconds * 1000))
            {
                p.Kill(entireProcessTree: true);
                return (false, $"timed out after {seconds} s");
            }
            return p.ExitCode == 0 ? (true, stdout.Result) : (false, stderr.Result + stdout.Result + $" (exit {p.ExitCode})");
        }
        catch (System.ComponentModel.Win32Exception e) { return (false, $"python3 not found: {e.Message}"); }
    }
}

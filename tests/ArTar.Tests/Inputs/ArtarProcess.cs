using System.Diagnostics;
using System.Globalization;

namespace ArTar.Tests.Inputs;

/// <summary>
/// `dotnet artar.dll …` as its own process, for input that could hang or exhaust memory: a timeout makes a regression
/// a failure rather than a hung test run, and a GC heap limit makes reading /dev/zero fail fast rather than take the machine.
/// </summary>
internal static class ArtarProcess
{
    public sealed record Result(int Code, string Out, string Err);

    public static Process Start(IEnumerable<string> args, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        start.Environment["DOTNET_GCHeapHardLimit"] = "0x20000000";   // 512 MB
        start.ArgumentList.Add(TestData.ArtarDll);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        return Process.Start(start)!;
    }

    /// <summary>Runs to the end, or fails the test when it takes longer than <paramref name="seconds"/>.</summary>
    public static Result Run(IEnumerable<string> args, int seconds = 60, string? workingDirectory = null)
    {
        var list = args.ToList();
        using var process = Start(list, workingDirectory);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(seconds)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"artar {string.Join(' ', list)} did not exit in {seconds} s (it waits on its input)");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>kill -TERM, as a scheduler stops a job.</summary>
    public static void Terminate(Process process)
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>The one line of <paramref name="err"/>; asserts there is exactly one.</summary>
    public static string OneLine(string err)
    {
        var lines = err.TrimEnd('\n').Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1), err.Length > 2000 ? err[..2000] + "…" : err);
        return lines[0];
    }
}

using System.Diagnostics;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>
/// The GPU's dropout masks come from kernels/philox.cuh (dropout_philox, dropout_keep), the same source dropout.cu
/// compiles. Built for the host with clang++-14 it must reproduce Random123's known answers and the docs/backend.md
/// contract, transcribed independently below — so masks are checked in CI without a GPU.
/// </summary>
public class PhiloxContractTests
{
    private const string Harness = """
        #include <cstdio>
        #include <cstdlib>
        #include <cstring>
        #include "philox.cuh"
        int main(int argc, char** argv)
        {
            if (argc == 8 && !strcmp(argv[1], "kat"))
            {
                unsigned v[6];
                for (int i = 0; i < 6; i++) v[i] = (unsigned)strtoul(argv[2 + i], 0, 16);
                philox4x32 r = philox4x32_10(v[0], v[1], v[2], v[3], v[4], v[5]);
                printf("%08x %08x %08x %08x\n", r.v[0], r.v[1], r.v[2], r.v[3]);
                return 0;
            }
            // mask seed step site n threshold: the loop of dropout_apply (dropout.cu), one character an element
            unsigned long long seed = strtoull(argv[2], 0, 10), step = strtoull(argv[3], 0, 10);
            unsigned site = (unsigned)strtoul(argv[4], 0, 10), threshold = (unsigned)strtoul(argv[6], 0, 10);
            long long n = strtoll(argv[5], 0, 10);
            for (long long j = 0; j < (n + 3) >> 2; j++)
            {
                philox4x32 r = dropout_philox(seed, step, site, j);
                for (int lane = 0; lane < 4 && 4 * j + lane < n; lane++) putchar(dropout_keep(r.v[lane], threshold) ? '1' : '0');
            }
            putchar('\n');
            return 0;
        }
        """;

    private string _executable = "";

    [OneTimeSetUp]
    public void BuildHarness()
    {
        var kernels = PtxModuleTestsPaths.KernelDirectory;
        var directory = Directory.CreateTempSubdirectory("artar-philox-").FullName;
        File.WriteAllText(Path.Combine(directory, "harness.cpp"), Harness);
        _executable = Path.Combine(directory, "harness");
        try
        {
            var (code, output) = Run("clang++-14", "-O1", "-I", kernels, Path.Combine(directory, "harness.cpp"), "-o", _executable);
            Assert.That(code, Is.Zero, "philox.cuh does not compile for the host:\n" + output);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Ignore("clang++-14 is not on the PATH: the CUDA-side Philox cannot be checked on this machine");
        }
    }

    [OneTimeTearDown]
    public void RemoveHarness()
    {
        if (_executable.Length > 0) Directory.Delete(Path.GetDirectoryName(_executable)!, recursive: true);
    }

    // Random123's kat_vectors for philox4x32_10: counter (4 words), key (2 words) → output.
    [TestCase("00000000 00000000 00000000 00000000 00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8")]
    [TestCase("ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd")]
    [TestCase("243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1")]
    public void KnownAnswers(string input, string expected)
    {
        var (_, output) = Run(_executable, ["kat", .. input.Split(' ')]);
        Assert.That(output.Trim(), Is.EqualTo(expected));
        var w = input.Split(' ').Select(h => Convert.ToUInt32(h, 16)).ToArray();
        Assert.That(string.Join(' ', Philox(w[0], w[1], w[2], w[3], w[4], w[5]).Select(x => x.ToString("x8"))), Is.EqualTo(expected),
            "the C# transcription used below must itself be right");
    }

    [TestCase(1111UL, 0UL, 0u, 37, 0.4)]
    [TestCase(0xDEADBEEF_12345678UL, 5_000_000_123UL, 2u, 1001, 0.65)]
    [TestCase(42UL, 77UL, 3u, 64, 0.0)]
    public void MaskFollowsTheContract(ulong seed, ulong step, uint site, int n, double p)
    {
        uint threshold = (uint)Math.Round(p * 16777216.0);
        var (_, output) = Run(_executable, "mask", seed.ToString(), step.ToString(), site.ToString(), n.ToString(), threshold.ToString());
        var expected = new string(Enumerable.Range(0, n).Select(i => ContractKeeps(seed, step, site, i, threshold) ? '1' : '0').ToArray());
        Assert.That(output.Trim(), Is.EqualTo(expected));
        if (p > 0) Assert.That(expected.Count(c => c == '0') / (double)n, Is.EqualTo(p).Within(0.12), "about p of the elements dropped");
    }

    // docs/backend.md, word for word: key (seed, seed>>32); counter (i>>2, step, step>>32, site); word = output[i & 3].
    internal static bool ContractKeeps(ulong seed, ulong step, uint site, long i, uint threshold)
    {
        var r = Philox((uint)(i >> 2), (uint)step, (uint)(step >> 32), site, (uint)seed, (uint)(seed >> 32));
        return (r[i & 3] >> 8) >= threshold;
    }

    private static uint[] Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += 0x9E3779B9; k1 += 0xBB67AE85; }
            ulong p0 = 0xD2511F53UL * c0, p1 = 0xCD9E8D57UL * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
        }
        return [c0, c1, c2, c3];
    }

    private static (int Code, string Output) Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000)) { process.Kill(); throw new TimeoutException(file + " did not finish"); }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

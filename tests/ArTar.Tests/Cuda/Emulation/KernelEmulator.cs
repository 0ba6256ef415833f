using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda.Emulation;

/// <summary>
/// Runs the kernels of kernels/*.cu on CPU threads (cuda_host_emulation.h), launched through their
/// <see cref="KernelDeclaration"/>s, so their logic is tested in CI without a GPU. Built once per test run with clang++-14.
/// Arguments: float[] / int[] are device buffers (updated in place after the launch); float, int, uint, long are
/// scalars; <see cref="KernelArgument.U64"/> for unsigned long long. Kinds are checked against the declaration.
/// </summary>
internal sealed class KernelEmulator
{
    private static readonly Lazy<(KernelEmulator? Emulator, string Problem)> Shared = new(Build);
    private readonly string _runner;
    private readonly string _directory;
    private int _buffers;

    private KernelEmulator(string runner, string directory) { _runner = runner; _directory = directory; }

    /// <summary>The emulator, or an Ignore when this machine has no clang++-14 (a failure when the kernels do not compile).</summary>
    public static KernelEmulator Get()
    {
        var (emulator, problem) = Shared.Value;
        if (emulator is null)
        {
            if (problem.StartsWith("ignore:", StringComparison.Ordinal)) Assert.Ignore(problem[7..]);
            Assert.Fail(problem);
        }
        return emulator!;
    }

    public unsafe void Launch(KernelDeclaration kernel, int grid, int block, params object[] arguments)
    {
        var packed = arguments.Select(a => a switch
        {
            float[] or int[] => KernelArgument.Pointer(0),
            float f => (KernelArgument)f,
            int i => i,
            uint u => u,
            long l => l,
            KernelArgument k => k,
            _ => throw new ArgumentException($"unsupported argument {a.GetType().Name}"),
        }).ToArray();
        ulong* values = stackalloc ulong[packed.Length];
        void** pointers = stackalloc void*[packed.Length];
        kernel.Pack(packed, values, pointers);   // the launcher's own kind check

        var command = new List<string> { kernel.Entry, grid.ToString(CultureInfo.InvariantCulture), block.ToString(CultureInfo.InvariantCulture) };
        var files = new string?[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            if (arguments[i] is Array buffer)
            {
                files[i] = Path.Combine(_directory, $"buffer{Interlocked.Increment(ref _buffers)}.bin");
                File.WriteAllBytes(files[i]!, Bytes(buffer).ToArray());
                command.Add("b:" + files[i]);
            }
            else command.Add("v:" + packed[i].Bits.ToString("x", CultureInfo.InvariantCulture));
        }
        var (code, output) = Run(_runner, command);
        Assert.That(code, Is.Zero, $"{kernel.Entry} failed in emulation: {output}");
        for (int i = 0; i < arguments.Length; i++)
        {
            if (files[i] is null) continue;
            File.ReadAllBytes(files[i]!).CopyTo(Bytes((Array)arguments[i]));
            File.Delete(files[i]!);
        }
    }

    private static Span<byte> Bytes(Array buffer) => buffer switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        int[] i => MemoryMarshal.AsBytes(i.AsSpan()),
        _ => throw new ArgumentException("buffers are float[] or int[]"),
    };

    private static (KernelEmulator?, string) Build()
    {
        var kernels = PtxModuleTestsPaths.KernelDirectory;
        var emulation = Path.Combine(Path.GetDirectoryName(kernels)!, "tests", "ArTar.Tests", "Cuda", "Emulation");
        var directory = Directory.CreateTempSubdirectory("artar-emulation-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(directory, true); } catch (IOException) { } };

        var source = new StringBuilder();
        foreach (var cu in Directory.GetFiles(kernels, "*.cu").Order(StringComparer.Ordinal)) source.AppendLine($"#include \"{Path.GetFileName(cu)}\"");
        source.AppendLine("#include \"kernel_runner.h\"");
        source.AppendLine("static bool dispatch(const char* entry, unsigned grid, unsigned block, const Arg* a)\n{");
        foreach (var k in CudaKernelLibrary.Declarations)
        {
            var args = string.Join(", ", Enumerable.Range(0, k.Parameters.Count).Select(i => $"a[{i}]"));
            source.AppendLine($"    if (!strcmp(entry, \"{k.Entry}\")) {{ emulation::launch(grid, block, [&] {{ {k.Entry}({args}); }}); return true; }}");
        }
        source.AppendLine("    return false;\n}");
        var file = Path.Combine(directory, "runner.cpp");
        File.WriteAllText(file, source.ToString());
        var runner = Path.Combine(directory, "runner");
        try
        {
            var (code, output) = Run("clang++-14", ["-std=c++20", "-O1", "-pthread", "-DARTAR_HOST_EMULATION", "-I", kernels, "-I", emulation, file, "-o", runner]);
            return code == 0 ? (new KernelEmulator(runner, directory), "") : (null, "kernels/*.cu do not compile under host emulation:\n" + output);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (null, "ignore:clang++-14 is not on the PATH: kernels cannot be emulated on this machine");
        }
    }

    private static (int Code, string Output) Run(string file, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000)) { process.Kill(); return (-1, file + " did not finish in 120 s (a barrier not reached by every thread?)"); }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

// dotnet run -c Release --project tools/Bench -- <suite>…   Each suite prints its own table.
namespace ArTar.Bench;

internal static class Program
{
    private static readonly Dictionary<string, (string What, Func<string[], int> Run)> Suites = new()
    {
        ["all"] = ("ceilings, ops and throughput on the CPU in one run, one JSON (artifacts/bench.json)", AllBench.Run),
        ["ceilings"] = ("CPU FMA peak and memory bandwidth", Ceilings.Run),
        ["ops"] = ("every CPU backend op at the ptb-650 and wt2-650 shapes vs the ceilings", OpsBench.Run),
        ["throughput"] = ("tokens/s of a training and an evaluation step, ours and libtorch's (--device cuda: the GPU and PyTorch)", ThroughputBench.Run),
        ["gpu"] = ("GPU ceilings, kernels (checked, several launch configurations) and throughput vs PyTorch", GpuBench.Run),
        ["gemm"] = ("CPU GEMM on the ptb-650 shapes vs the FMA peak", GemmBench.Run),
#if ARTAR_TORCH
        ["torch"] = ("libtorch (TorchSharp) CPU reference: train/eval tokens/s of docs/design.md §1's step", TorchReference.Run),
#endif
    };

    private static int Main(string[] args)
    {
        if (args.Length == 0 || !Suites.TryGetValue(args[0], out var suite))
        {
            Console.Error.WriteLine("usage: ArTar.Bench <suite> [options]   suites:");
            foreach (var (name, s) in Suites) Console.Error.WriteLine($"  {name,-12} {s.What}");
            return args.Length == 0 ? 0 : 2;
        }
        return suite.Run(args[1..]);
    }
}

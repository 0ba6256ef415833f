// Suite "all" (build.cake's Bench target): the CPU ceilings, the op microbenchmarks and the training throughput
// (with libtorch beside it) in one process, so every percentage divides by a ceiling of the same run; one JSON.
using ArTar.Cpu;

namespace ArTar.Bench;

internal static class AllBench
{
    public static int Run(string[] args)
    {
        var o = Options.Parse("all", args, "artifacts/bench.json");
        if (o is null) return 2;
        double idle = Machine.IdlePercent();
        string loadBefore = Machine.LoadAverage();
        Console.WriteLine($"ArTar benchmarks: {Machine.CpuName()}, {Environment.ProcessorCount} cores, GEMM kernel {Gemm.KernelName}, load {loadBefore}, idle over the last second {idle:F0}%\n");
        var ceilings = Ceilings.RunCpu(o.Seconds);
        var ops = OpsBench.RunCpu(ceilings, o.Seconds / 2);
        using var cpu = new CpuBackend<float>();
        var throughput = ThroughputBench.RunOn(cpu, o);
        if (throughput is null) return 2;
        Machine.WriteJson(o.Json, new
        {
            suite = "all",
            date = Machine.Date(),
            cpu = Machine.CpuName(),
            cores = Environment.ProcessorCount,
            gemmKernel = Gemm.KernelName,
            loadBefore,
            idlePercentBefore = idle,
            loadAfter = Machine.LoadAverage(),
            ceilings,
            ops,
            throughput,
        });
        return 0;
    }
}

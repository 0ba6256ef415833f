using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;

namespace ArTar;

/// <summary>A device the user asked for is not usable: one line with the reason and what to do.</summary>
public sealed class DeviceException(string message) : Exception(message);

/// <summary>--device auto|cpu|cuda → a backend (DESIGN §4: no GPU or no libraries means the CPU, said in one line).</summary>
public static class DeviceSelection
{
    public static IBackend Create(string device, TextWriter notices)
    {
        if (device == "cpu") return new CpuBackend<float>();
        var probe = CudaAvailability.Probe();
        string reason = probe.Available ? "the CUDA backend is not part of this build yet" : probe.ToString();
        if (device == "cuda")
            throw new DeviceException($"--device cuda: {reason}; use --device cpu or auto");
        notices.WriteLine($"device: using the CPU ({reason})");
        return new CpuBackend<float>();
    }

    public static string Describe(IBackend backend) => $"{backend.Name}, {Environment.ProcessorCount} cores";
}

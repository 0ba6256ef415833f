using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;

namespace ArTar.Cuda;

/// <summary>A device that was asked for cannot be used: one line for the user (what, why, what to do).</summary>
public sealed class DeviceException(string message) : Exception(message);

/// <summary>
/// <c>--device auto | cpu | cuda</c> (docs/design.md §4): the backend a run trains on. auto takes the GPU when the probe says yes
/// and the backend starts, else the CPU with one notice line; cuda takes the GPU or fails with a <see cref="DeviceException"/>.
/// </summary>
public static class DeviceSelection
{
    public static readonly IReadOnlyList<string> Devices = ["auto", "cpu", "cuda"];

    public static IBackend Create(string device, TextWriter notices) =>
        Create(device, notices, CudaAvailability.Probe, () => new CudaBackend());

    /// <summary>The same with the probe and the GPU backend's constructor given (tests).</summary>
    internal static IBackend Create(string device, TextWriter notices, Func<int, CudaProbe> probe, Func<IBackend> cuda)
    {
        switch (device)
        {
            case "cpu":
                return new CpuBackend<float>();
            case "auto":
            {
                var found = probe(0);
                if (!found.Available)
                {
                    notices.WriteLine(OneLine($"{found}; running on the CPU"));
                    return new CpuBackend<float>();
                }
                try
                {
                    return cuda();
                }
                catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException or InvalidOperationException or TypeInitializationException)
                {
                    notices.WriteLine(OneLine($"CUDA backend did not start: {e.Message}; running on the CPU"));
                    return new CpuBackend<float>();
                }
            }
            case "cuda":
            {
                var found = probe(0);
                if (!found.Available)
                    throw new DeviceException(OneLine($"--device cuda: {found}. Fix that, or use --device cpu (or auto) to run on the CPU"));
                try
                {
                    return cuda();
                }
                catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException or InvalidOperationException or TypeInitializationException)
                {
                    throw new DeviceException(OneLine($"--device cuda: the CUDA backend did not start: {e.Message}. Use --device cpu to run on the CPU"));
                }
            }
            default:
                throw new DeviceException(OneLine($"unknown device '{device}': use auto, cpu or cuda"));
        }
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}

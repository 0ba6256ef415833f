namespace ArTar.Cuda;

/// <summary>
/// What <c>artar device</c> prints: each library that loaded with the absolute file it came from, its version and the
/// CUDA version it was built for, the cuDNN sub-libraries and PTX JIT compiler loaded beside them (or why one did not),
/// and last the probe's line (<see cref="CudaProbe.ToString"/>: the device, or the reason there is none), where
/// `tail -1` finds it. A library the loader found by its soname is located by <see cref="CudaLibraries.MappedFile"/>.
/// </summary>
public static class DeviceReport
{
    /// <summary>Probes the device, writes the report; true if training on it would work.</summary>
    public static bool Write(TextWriter output, int ordinal = 0)
    {
        var probe = CudaAvailability.Probe(ordinal);
        foreach (var line in Lines(probe, CudaLibraries.LoadedLibraries(), CudaLibraries.Companions())) output.WriteLine(line);
        return probe.Available;
    }

    /// <summary>The report's lines, from what was probed and loaded. Pure.</summary>
    public static List<string> Lines(CudaProbe probe, IReadOnlyList<LoadedLibrary> libraries, IReadOnlyList<CompanionLoad> companions)
    {
        var lines = new List<string>();
        foreach (var library in libraries)
        {
            string file = library.Path ?? $"{library.Soname} (file not located)";
            string how = library.ByLoaderSearch ? " (the loader's default search)" : "";
            lines.Add($"{library.Soname}: {file}{how}{VersionOf(library.Logical, probe)}");
            lines.AddRange(companions.Where(c => c.Owner == library.Logical).Select(Companion));
        }
        // Companions of a library that was refused for them (a cuDNN without a required sub-library).
        var orphans = companions.Where(c => !libraries.Any(l => l.Logical == c.Owner)).ToList();
        foreach (var owner in orphans.Select(c => c.Owner).Distinct())
        {
            lines.Add($"{CudaLibraries.Sonames[owner][0]}: refused");
            lines.AddRange(orphans.Where(c => c.Owner == owner).Select(Companion));
        }
        lines.Add(probe.ToString());
        return lines;
    }

    private static string Companion(CompanionLoad companion) => companion.Error is null
        ? $"  {companion.Path}"
        : $"  {companion.Path}: did not load ({(companion.Required ? "required" : "optional")}): {companion.Error}";

    private static string VersionOf(string logical, CudaProbe probe) => logical switch
    {
        "cuda" when probe.DriverVersion > 0 => $", driver for CUDA {CudaAvailability.CudaVersion(probe.DriverVersion)}",
        "cublas" when probe.CublasVersion is not null => $", cuBLAS {probe.CublasVersion}" + BuiltFor(probe.CublasCudaVersion),
        "cudnn" when probe.CudnnVersion is not null => $", cuDNN {probe.CudnnVersion}" + BuiltFor(probe.CudnnCudaVersion),
        _ => "",
    };

    private static string BuiltFor(int cuda) => cuda > 0 ? $" built for CUDA {CudaAvailability.CudaVersion(cuda)}" : "";
}

using System.Reflection;

namespace ArTar.Cuda;

/// <summary>The PTX modules embedded in the artar assembly as resources "kernels/&lt;name&gt;.ptx" (src/Host/Kernels.targets).</summary>
public static class PtxModules
{
    private const string Prefix = "kernels/", Suffix = ".ptx";
    private static readonly Assembly Host = typeof(PtxModules).Assembly;

    /// <summary>Module names ("clip_decay_update", "dropout", …), sorted; empty when the build had no CUDA compiler.</summary>
    public static IReadOnlyList<string> Names { get; } = Host.GetManifestResourceNames()
        .Where(r => r.StartsWith(Prefix, StringComparison.Ordinal) && r.EndsWith(Suffix, StringComparison.Ordinal))
        .Select(r => r[Prefix.Length..^Suffix.Length])
        .Order(StringComparer.Ordinal)
        .ToArray();

    /// <summary>The module's PTX text.</summary>
    public static string ReadText(string module)
    {
        using var reader = new StreamReader(Open(module));
        return reader.ReadToEnd();
    }

    /// <summary>The module's PTX with the terminating NUL that cuModuleLoadData requires (cuda.h).</summary>
    public static byte[] ReadImage(string module)
    {
        using var stream = Open(module);
        var image = new byte[stream.Length + 1];
        stream.ReadExactly(image.AsSpan(0, (int)stream.Length));
        return image;
    }

    private static Stream Open(string module) =>
        Host.GetManifestResourceStream(Prefix + module + Suffix)
        ?? throw new InvalidOperationException($"PTX module '{module}' is not embedded in this build (kernels/{module}.cu; was clang-14 or nvcc on the PATH?)");
}

using System.Text.RegularExpressions;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>The embedded PTX against kernels/*.cu and the C# kernel declarations (docs/design.md §4). No GPU needed.</summary>
public partial class PtxModuleTests
{
    private static string KernelDirectory => PtxModuleTestsPaths.KernelDirectory;

    private static void RequirePtx()
    {
        if (PtxModules.Names.Count == 0) Assert.Ignore("this build has no PTX: neither clang-14 nor nvcc was on the PATH");
    }

    [GeneratedRegex(@"\.entry\s+(\w+)\s*\(([^)]*)\)")]
    private static partial Regex PtxEntry();

    [GeneratedRegex(@"\.param\s+\.(\w+)\s+\w+")]
    private static partial Regex PtxParameter();

    [GeneratedRegex(@"ARTAR_KERNEL\s+void\s+(\w+)\s*\(([^)]*)\)")]
    private static partial Regex CudaKernelSignature();

    private static Dictionary<string, string[]> PtxEntries(string module) =>
        PtxEntry().Matches(PtxModules.ReadText(module)).ToDictionary(
            m => m.Groups[1].Value,
            m => PtxParameter().Matches(m.Groups[2].Value).Select(p => p.Groups[1].Value).ToArray());

    [Test]
    public void EveryKernelSourceIsEmbedded()
    {
        RequirePtx();
        var sources = Directory.GetFiles(KernelDirectory, "*.cu").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal);
        Assert.That(PtxModules.Names, Is.EquivalentTo(sources));
    }

    [Test]
    public void NoModuleCallsAnExternalFunction()
    {
        RequirePtx();
        foreach (var module in PtxModules.Names)
        {
            var ptx = PtxModules.ReadText(module);
            Assert.That(ptx, Does.Not.Contain(".extern .func"), $"kernels/{module}.ptx needs a function from outside (libdevice?)");
            Assert.That(ptx, Does.Contain(".target sm_80"), $"kernels/{module}.ptx must target sm_80 (the driver JITs it for sm_90)");
            Assert.That(PtxModules.ReadImage(module)[^1], Is.EqualTo(0), "cuModuleLoadData needs NUL-terminated PTX");
        }
    }

    [Test]
    public void EveryDeclarationMatchesItsPtxEntry()
    {
        RequirePtx();
        Assert.That(CudaKernelLibrary.Declarations, Is.Not.Empty);
        foreach (var declaration in CudaKernelLibrary.Declarations)
        {
            Assert.That(PtxModules.Names, Does.Contain(declaration.Module), $"{declaration}: module not embedded");
            var entries = PtxEntries(declaration.Module);
            Assert.That(entries.ContainsKey(declaration.Entry), $"{declaration}: no .entry {declaration.Entry} in kernels/{declaration.Module}.ptx");
            var ptxTypes = entries[declaration.Entry];
            Assert.That(ptxTypes, Has.Length.EqualTo(declaration.Parameters.Count), $"{declaration}: PTX has ({string.Join(", ", ptxTypes)})");
            for (int i = 0; i < ptxTypes.Length; i++)
                Assert.That(PtxTypesOf(declaration.Parameters[i]), Does.Contain(ptxTypes[i]), $"{declaration}: parameter {i} is .{ptxTypes[i]} in PTX");
        }
    }

    [Test]
    public void EveryDeclarationMatchesItsCudaSignature()
    {
        foreach (var declaration in CudaKernelLibrary.Declarations)
        {
            var source = File.ReadAllText(Path.Combine(KernelDirectory, declaration.Module + ".cu"));
            var signature = CudaKernelSignature().Matches(source).FirstOrDefault(m => m.Groups[1].Value == declaration.Entry);
            Assert.That(signature, Is.Not.Null, $"{declaration}: no ARTAR_KERNEL {declaration.Entry} in kernels/{declaration.Module}.cu");
            var kinds = signature!.Groups[2].Value.Split(',').Select(p => KindOfCParameter(p.Trim())).ToArray();
            Assert.That(kinds, Is.EqualTo(declaration.Parameters), $"{declaration} against kernels/{declaration.Module}.cu");
        }
    }

    [Test]
    public void EveryEntryIsDeclared()
    {
        RequirePtx();
        var declared = CudaKernelLibrary.Declarations.Select(d => $"{d.Module}.{d.Entry}").ToHashSet();
        foreach (var module in PtxModules.Names)
            foreach (var entry in PtxEntries(module).Keys)
                Assert.That(declared, Does.Contain($"{module}.{entry}"), $"kernels/{module}.cu's {entry} has no KernelDeclaration");
    }

    private static string[] PtxTypesOf(KernelParameterKind kind) => kind switch
    {
        KernelParameterKind.F32 => ["f32"],
        KernelParameterKind.S32 or KernelParameterKind.U32 => ["u32", "s32", "b32"],
        _ => ["u64", "s64", "b64"],
    };

    // "const float* g" → Pointer, "unsigned long long seed" → U64 …: the exact kind, which PTX cannot tell (.u64 is all three).
    private static KernelParameterKind KindOfCParameter(string parameter)
    {
        if (parameter.Contains('*')) return KernelParameterKind.Pointer;
        var type = string.Join(' ', parameter.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipLast(1).Where(w => w != "const"));
        return type switch
        {
            "float" => KernelParameterKind.F32,
            "int" => KernelParameterKind.S32,
            "unsigned int" or "unsigned" => KernelParameterKind.U32,
            "long long" or "long long int" => KernelParameterKind.S64,
            "unsigned long long" => KernelParameterKind.U64,
            _ => throw new AssertionException($"kernel parameter type '{type}' has no KernelParameterKind"),
        };
    }
}

internal static class PtxModuleTestsPaths
{
    /// <summary>kernels/ of the repository this test binary was built from.</summary>
    public static string KernelDirectory
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "ArTar.sln"))) return Path.Combine(d.FullName, "kernels");
            Assert.Ignore("kernels/*.cu are not here (tests running outside the repository, e.g. from the GPU bundle)");
            return "";
        }
    }
}

using System.Text.RegularExpressions;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>
/// kernels/dropout.cu rounds x·scale and the accumulating add each on its own, as the CPU does: in the embedded PTX every
/// float multiply and add carries .rn (ptxas may fuse a mul.f32 and an add.f32 into an fma; it may not fuse .rn ones).
/// </summary>
public partial class DropoutPtxTests
{
    [GeneratedRegex(@"^\s*(fma|mad|mul|add|sub)(\.[a-z0-9]+)*\.f32\s", RegexOptions.Multiline)]
    private static partial Regex FloatArithmetic();

    private static string[] Instructions()
    {
        if (!PtxModules.Names.Contains("dropout")) Assert.Ignore("this build has no PTX: neither clang-14 nor nvcc was on the PATH");
        return FloatArithmetic().Matches(PtxModules.ReadText("dropout")).Select(m => m.Value.Trim()).ToArray();
    }

    [Test]
    public void EveryFloatMultiplyAndAddIsRoundedToNearest()
    {
        var instructions = Instructions();
        TestContext.Out.WriteLine(string.Join("\n", instructions.Distinct()));
        Assert.That(instructions.Count(i => i.StartsWith("mul.rn.f32")), Is.GreaterThanOrEqualTo(2), "x·scale in the forward and the backward");
        Assert.That(instructions.Count(i => i.StartsWith("add.rn.f32")), Is.GreaterThanOrEqualTo(1), "the accumulating backward's add");
        Assert.That(instructions.Where(i => !i.StartsWith("mul.rn.f32") && !i.StartsWith("add.rn.f32")), Is.Empty,
            "a float op without .rn (or an fma) in kernels/dropout.ptx: it could be contracted and differ from the CPU's rounding");
    }
}

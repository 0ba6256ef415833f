using ArTar.Backends;

namespace ArTar.Models;

/// <summary>
/// Initialisation of docs/design.md §1: E ~ U(−0.1, 0.1), decoder bias 0, every RNN weight and bias ~ U(−1/√H, 1/√H).
/// Uniforms come from Philox4x32-10 keyed by the seed, counter (i/4, tensor index, 0, 0xFFFFFFFF) — the last word
/// is no dropout site — so an initialisation is a pure function of (seed, shape).
/// </summary>
public static class ParameterInit
{
    private const uint InitDomain = 0xFFFFFFFF;

    public static void Initialize(IParameterArena parameters, ulong seed)
    {
        var specs = parameters.Specs;
        var buffer = new float[specs.Max(s => s.Count)];
        float rnnBound = 1.0f / MathF.Sqrt(parameters.Shape.Hidden);
        for (int k = 0; k < specs.Count; k++)
        {
            var spec = specs[k];
            var values = buffer.AsSpan(0, (int)spec.Count);
            float bound = spec.Name switch
            {
                ModelShape.EncoderWeight => 0.1f,
                ModelShape.DecoderBias => 0.0f,
                _ => rnnBound,
            };
            Uniform(values, -bound, bound, seed, (uint)k);
            parameters.Write(spec.Name, values);
        }
    }

    /// <summary>values[i] = lo + (hi − lo)·u_i, u_i = (word_i &gt;&gt; 8)·2⁻²⁴ ∈ [0, 1).</summary>
    public static void Uniform(Span<float> values, float lo, float hi, ulong seed, uint stream)
    {
        for (int j = 0; 4 * j < values.Length; j++)
        {
            var block = Philox.Generate((uint)j, stream, 0, InitDomain, (uint)seed, (uint)(seed >> 32));
            for (int w = 0; w < 4 && 4 * j + w < values.Length; w++)
            {
                double u = (Philox.Word(block, w) >> 8) * (1.0 / 16777216.0);
                values[4 * j + w] = (float)(lo + (hi - lo) * u);
            }
        }
    }
}

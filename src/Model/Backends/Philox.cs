using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ArTar.Backends;

/// <summary>
/// Philox4x32-10, the counter-based generator of Salmon et al. 2011 ("Parallel random numbers: as easy as 1, 2, 3"),
/// with the Random123 constants. Pure function of (counter, key): the CPU and the GPU draw identical dropout masks.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>The 128-bit output block for counter (c0..c3) under key (k0, k1).</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// The words of blocks firstBlock, firstBlock+1, … for counters (j, c1, c2, c3), j = firstBlock + block index: word
    /// 4·b + w of <paramref name="words"/> is word w of block b (length a multiple of 4). The same numbers as
    /// <see cref="Generate"/>, eight (AVX-512) or four (AVX2) blocks at a time, each 32-bit value in a 64-bit lane so
    /// that one unsigned 32×32→64 multiply gives both halves of a round's product.
    /// </summary>
    public static void Fill(uint firstBlock, uint c1, uint c2, uint c3, uint k0, uint k1, Span<uint> words)
    {
        int blocks = words.Length / 4, b = 0;
        if (Avx512F.IsSupported)
        {
            var lanes = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
            for (; b + 8 <= blocks; b += 8)
            {
                var x0 = Vector512.Create((ulong)(uint)(firstBlock + b)) + lanes;
                x0 &= Vector512.Create(0xFFFF_FFFFUL);     // counters wrap at 2^32 like the scalar (uint)j
                Vector512<ulong> x1 = Vector512.Create((ulong)c1), x2 = Vector512.Create((ulong)c2), x3 = Vector512.Create((ulong)c3);
                uint r0 = k0, r1 = k1;
                for (int round = 0; round < 10; round++)
                {
                    if (round > 0) { r0 += W0; r1 += W1; }
                    var p0 = Avx512F.Multiply(x0.AsUInt32(), Vector512.Create((ulong)M0).AsUInt32());
                    var p1 = Avx512F.Multiply(x2.AsUInt32(), Vector512.Create((ulong)M1).AsUInt32());
                    var low = Vector512.Create(0xFFFF_FFFFUL);
                    (x0, x1, x2, x3) = ((p1 >>> 32) ^ x1 ^ Vector512.Create((ulong)r0), p1 & low, (p0 >>> 32) ^ x3 ^ Vector512.Create((ulong)r1), p0 & low);
                }
                Interleave(x0, x1, x2, x3, words.Slice(4 * b, 32));
            }
        }
        for (; b < blocks; b++)
        {
            var (y0, y1, y2, y3) = Generate(firstBlock + (uint)b, c1, c2, c3, k0, k1);
            words[4 * b] = y0;
            words[4 * b + 1] = y1;
            words[4 * b + 2] = y2;
            words[4 * b + 3] = y3;
        }
    }

    // Lane l of xw (its low half) → words[4l + w]: pairs (x0,x1) and (x2,x3) packed into 64-bit lanes, then
    // the two pair vectors interleaved lane by lane.
    private static void Interleave(Vector512<ulong> x0, Vector512<ulong> x1, Vector512<ulong> x2, Vector512<ulong> x3, Span<uint> words)
    {
        Vector512<ulong> a = x0 | (x1 << 32), b = x2 | (x3 << 32);
        var lo = Avx512F.PermuteVar8x64x2(a, Vector512.Create(0UL, 8, 1, 9, 2, 10, 3, 11), b);
        var hi = Avx512F.PermuteVar8x64x2(a, Vector512.Create(4UL, 12, 5, 13, 6, 14, 7, 15), b);
        lo.AsUInt32().CopyTo(words);
        hi.AsUInt32().CopyTo(words[16..]);
    }

    /// <summary>Word <paramref name="index"/> (0..3) of a block.</summary>
    public static uint Word(in (uint X0, uint X1, uint X2, uint X3) block, int index) => index switch
    {
        0 => block.X0,
        1 => block.X1,
        2 => block.X2,
        _ => block.X3,
    };
}

/// <summary>
/// Which dropout mask to apply: drop probability <see cref="Probability"/>, the run's <see cref="Seed"/>, the global
/// training <see cref="Step"/> (0-based, across epochs) and the <see cref="Site"/> (0 input, l between layer l and l+1,
/// L output). The mapping to Philox counters is in docs/backend.md and <see cref="Keep"/>.
/// </summary>
public readonly record struct DropoutMask(double Probability, ulong Seed, long Step, int Site)
{
    /// <summary>Elements are kept iff the top 24 bits of their word reach this.</summary>
    public uint Threshold => (uint)Math.Round(Probability * 16777216.0);

    /// <summary>1/(1-p) in double, before rounding to the element type.</summary>
    public double Scale => 1.0 / (1.0 - Probability);

    /// <summary>The Philox block that decides elements 4j..4j+3.</summary>
    public (uint X0, uint X1, uint X2, uint X3) Block(long j) =>
        Philox.Generate((uint)j, (uint)Step, (uint)((ulong)Step >> 32), (uint)Site, (uint)Seed, (uint)(Seed >> 32));

    /// <summary>The words of blocks firstBlock.. into <paramref name="words"/> (see <see cref="Philox.Fill"/>): word i decides element 4·firstBlock + i.</summary>
    public void Fill(long firstBlock, Span<uint> words) =>
        Philox.Fill((uint)firstBlock, (uint)Step, (uint)((ulong)Step >> 32), (uint)Site, (uint)Seed, (uint)(Seed >> 32), words);

    /// <summary>Whether element <paramref name="i"/> (flat index into the [T,B,H] tensor) is kept.</summary>
    public bool Keep(long i) => (Philox.Word(Block(i >> 2), (int)(i & 3)) >> 8) >= Threshold;

    public void Validate()
    {
        if (!(Probability >= 0.0 && Probability < 1.0))
            throw new ArgumentOutOfRangeException(nameof(Probability), $"dropout probability must be in [0, 1), got {Probability}");
    }
}

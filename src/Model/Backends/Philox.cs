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

    /// <summary>Whether element <paramref name="i"/> (flat index into the [T,B,H] tensor) is kept.</summary>
    public bool Keep(long i) => (Philox.Word(Block(i >> 2), (int)(i & 3)) >> 8) >= Threshold;

    public void Validate()
    {
        if (!(Probability >= 0.0 && Probability < 1.0))
            throw new ArgumentOutOfRangeException(nameof(Probability), $"dropout probability must be in [0, 1), got {Probability}");
    }
}

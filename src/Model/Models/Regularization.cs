namespace ArTar.Models;

/// <summary>
/// The training-time regularisers of docs/design.md §1 and the paper's section 3: <see cref="Dropout"/> on the embedding and the
/// output (config <c>dropout</c>), <see cref="DropoutH"/> between layers (<c>dropout_h</c>), AR weight <see cref="Alpha"/>,
/// TAR weight <see cref="Beta"/>, and the run's <see cref="Seed"/> that keys the dropout masks.
/// </summary>
public readonly record struct Regularization(double Dropout, double DropoutH, double Alpha, double Beta, ulong Seed);

/// <summary>The loss of one window: mean cross-entropy, AR and TAR (already scaled by α, β). Perplexity is exp(CE).</summary>
public readonly record struct WindowLoss(double CrossEntropy, double Ar, double Tar)
{
    public double Total => CrossEntropy + Ar + Tar;
}

namespace ArTar.Cli.Sweeps;

/// <summary>
/// One run of a sweep: <c>artar train ConfigPath --run-dir RunDirectory --set …</c> for each of <paramref name="Sets"/>.
/// </summary>
/// <param name="Name">The member's folder name under runs/&lt;sweep&gt;/ (a config's name, or a grid point's, see docs/sweeps.md).</param>
/// <param name="Sets">The key=value overrides of the member, in order: the sweep's --set, then its grid point.</param>
public sealed record SweepMember(string Name, string ConfigPath, string RunDirectory, IReadOnlyList<string> Sets);

namespace ArTar.Cli.Sweeps;

/// <summary>
/// One run of a sweep: its name, the config it trains, its run folder, and the <c>--set key=value</c> assignments
/// (without the <c>--set</c>) that make it differ from that config.
/// </summary>
public sealed record SweepMember(string Name, string ConfigPath, string RunDirectory, IReadOnlyList<string> Sets);

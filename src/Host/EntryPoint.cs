namespace ArTar;

/// <summary>The artar executable: hands the command line to <see cref="Program.Execute"/> (src/Host/Cli).</summary>
internal static class EntryPoint
{
    private static int Main(string[] args) => Program.Execute(args, Console.Out, Console.Error);
}

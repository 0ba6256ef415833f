using ArTar.Checkpoints;
using ArTar.Cli;
using ArTar.Cuda;
using ArTar.Configuration;
using ArTar.Data;
using ArTar.Training;

namespace ArTar;

/// <summary>
/// The artar command line: train, eval, generate, data get, device, sweep, report. Exit codes: 0 ok, 1 the run failed, 2 bad input
/// (command line, config, data, checkpoint, device), 130 stopped by Ctrl-C/SIGTERM with a checkpoint to resume from.
/// </summary>
public static class Program
{
    public const int Ok = 0, Failed = 1, BadInput = 2, Stopped = 130;

    /// <summary>Runs a command; a user's mistake or a failed run is one line on <paramref name="stderr"/> and an exit code.</summary>
    public static int Execute(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            return Run(args, stdout, stderr);
        }
        catch (Exception e) when (e is UsageException or ConfigException or DataException or CheckpointException or DeviceException)
        {
            stderr.WriteLine($"error: {OneLine(e)}");
            return BadInput;
        }
        // UnauthorizedAccessException is no IOException: a read-only run or data folder must still be one line. A write
        // that fails (a full disk: SafeTensors.Write's IOException) is a failed run, never bad input.
        catch (Exception e) when (e is TrainingException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: {OneLine(e)}{WhatToDo(e)}");
            return Failed;
        }
    }

    // errno values (asm-generic/errno-base.h, errno.h) that .NET keeps as the HResult of the IOException it throws.
    private const int Enospc = 28, Erofs = 30, Edquot = 122;

    /// <summary>
    /// What to do after a bare system message ("No space left on device : 'PATH'" names the file, not the remedy). Only
    /// the runtime's own exceptions carry an errno as their HResult; ours say what to do themselves.
    /// </summary>
    private static string WhatToDo(Exception e) => e.HResult switch
    {
        Enospc or Edquot => "; the disk is full: free space there, or write somewhere else, and run the command again",
        Erofs => "; that file system is read-only: write somewhere else, and run the command again",
        _ => "",
    };

    /// <summary>
    /// The longest error line: the messages quote values cut short (<see cref="Quote.Excerpt"/>); this is the net under
    /// them, so that no message, whatever it quotes, is a second line or a megabyte.
    /// </summary>
    public const int MaxErrorChars = 2000;

    private static string OneLine(Exception e) => Quote.Excerpt(e.Message, MaxErrorChars);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            stdout.Write(Help.Overview);
            return args.Length == 0 ? BadInput : Ok;
        }
        return args[0] switch
        {
            "train" => Commands.Train(args[1..], stdout, stderr),
            "eval" => Commands.Eval(args[1..], stdout, stderr),
            "generate" => Commands.Generate(args[1..], stdout, stderr),
            "data" => Commands.Data(args[1..], stdout, stderr),
            "device" => Commands.Device(args[1..], stdout, stderr),
            "report" => ArTar.Cli.Reports.ReportCommand.Run(args[1..], stdout, stderr),
            "sweep" => Cli.Sweeps.SweepCommand.Run(args[1..], stdout, stderr, Cli.Sweeps.SelfCommand.Current()),
            // `artar config/ptb-650.json` means `artar train config/ptb-650.json`.
            var first when first.EndsWith(".json", StringComparison.OrdinalIgnoreCase) => Commands.Train(args, stdout, stderr),
            var other => throw new UsageException($"unknown command \"{Quote.Excerpt(other)}\"; the commands are train, eval, generate, data, device, sweep, report (see `artar --help`)"),
        };
    }
}

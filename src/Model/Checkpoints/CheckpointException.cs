using System.Globalization;
using System.Text;

namespace ArTar.Checkpoints;

/// <summary>
/// A checkpoint that cannot be read, written or used, with one line for the user: which file, what is wrong.
/// </summary>
public sealed class CheckpointException : Exception
{
    /// <summary>How much of a value read from a file a message quotes (<see cref="Excerpt"/>).</summary>
    public const int ExcerptChars = 60;

    public CheckpointException(string path, string problem, Exception? inner = null)
        : base($"checkpoint {path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file as the user named it.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }

    /// <summary>
    /// Text from a (possibly hostile) file as a message may quote it: control and line-separator characters as \uXXXX,
    /// so the message stays one line, and at most <paramref name="max"/> characters, then "…".
    /// </summary>
    public static string Excerpt(string text, int max = ExcerptChars)
    {
        var shown = new StringBuilder(Math.Min(text.Length, max) + 1);
        for (int i = 0; i < text.Length; i++)
        {
            if (shown.Length >= max)
            {
                // Never end on half a surrogate pair.
                if (char.IsHighSurrogate(shown[^1])) shown.Length--;
                return shown.Append('…').ToString();
            }
            char c = text[i];
            bool paired = char.IsHighSurrogate(c) ? i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])
                : char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(text[i - 1]);
            if (char.IsControl(c) || c is '\u2028' or '\u2029' || char.IsSurrogate(c) && !paired)
                shown.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else
                shown.Append(c);
        }
        return shown.ToString();
    }
}

using System.Globalization;
using System.Text;

namespace ArTar;

/// <summary>
/// A value from the user or from a (possibly hostile) file as an error message may quote it: control and line-separator
/// characters as \uXXXX, so the message stays one line, and cut so that a megabyte value is not a megabyte line.
/// </summary>
public static class Quote
{
    /// <summary>How much of a value a message quotes by default.</summary>
    public const int TextChars = 60;

    /// <summary>How much of a path a message quotes: enough for any real path, not for a hostile one.</summary>
    public const int PathChars = 240;

    /// <summary>At most <paramref name="max"/> characters of <paramref name="text"/>, then "…"; one line.</summary>
    public static string Excerpt(string text, int max = TextChars)
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

    /// <summary>A path the user gave, as <see cref="Excerpt"/> quotes it with room for <see cref="PathChars"/> characters.</summary>
    public static string Path(string path) => Excerpt(path, PathChars);
}

using System.Text;
using System.Text.RegularExpressions;

namespace Csr.Train.Pipeline;

/// <summary>
/// The official CSR tree filters (utils.clean_text / clean_tree, score.py's length rule): a child is
/// dropped, with its whole subtree, when its cleaned new sentence is shorter than 4 characters,
/// contains Korean, Japanese kana, Cyrillic or emoji characters or repeated <c>&amp;nbsp;</c>,
/// repeated words/characters, or more than 5 newlines.
/// </summary>
public static class TreeCleaner
{
    public const int MinSentenceChars = 4;

    // Characters kept by clean_text: word chars, whitespace and a fixed punctuation set (note the "-( range as in the original).
    static readonly Regex NotAllowed = new("[^\\w\\s.,?!;:'\"-()/\\[\\]{}+$€£*=/><==!%°^™©®♫♪π√]+", RegexOptions.Compiled);
    static readonly Regex RepeatedWord = new(@"(\b\w+\b)(?:\s+\1){5,}", RegexOptions.Compiled);
    static readonly Regex RepeatedChar = new(@"(.)\s*\1\s*\1\s*\1\s*\1\s*\1\s*\1\s*\1\s*\1\s*\1\s*\1", RegexOptions.Compiled);
    static readonly Regex RepeatedNbsp = new("(&nbsp;){2,}", RegexOptions.Compiled);
    static readonly string[] Literals = ["ttttttttttt", "sssssssssss", ", , , , , , , , , , , , ,", "''''''''''"];

    /// <summary>clean_text: strip characters outside the allowed set.</summary>
    public static string CleanText(string text) => NotAllowed.Replace(text, "");

    /// <summary>The sentence that is filtered and CLIP-scored: the node's new text, trimmed and cleaned.</summary>
    public static string ScoredText(TreeNode node) => CleanText(node.NewText.Trim());

    public static bool ContainsSpecialChars(string text)
    {
        if (RepeatedNbsp.IsMatch(text)) return true;
        foreach (var r in text.EnumerateRunes())
        {
            int c = r.Value;
            if (c is >= 0x3130 and <= 0x318F or >= 0xAC00 and <= 0xD7AF) return true; // Korean
            if (c is >= 0x1F600 and <= 0x1F64F or >= 0x1F300 and <= 0x1F5FF or >= 0x1F680 and <= 0x1F6FF or >= 0x1F700 and <= 0x1F77F) return true; // emoji
            if (c is >= 0x0400 and <= 0x04FF) return true; // Cyrillic
            if (c is >= 0x3040 and <= 0x309F or >= 0x30A0 and <= 0x30FF) return true; // kana
        }
        return false;
    }

    public static bool ContainsRepetition(string text) =>
        RepeatedWord.IsMatch(text) || RepeatedChar.IsMatch(text) || Literals.Any(l => text.Contains(l, StringComparison.Ordinal));

    public static bool ExceedsNewlines(string text, int limit = 5) => text.Count(ch => ch == '\n') > limit;

    /// <summary>Why a sentence is dropped, or null when it is kept.</summary>
    public static string? RejectReason(string cleanedSentence)
    {
        if (cleanedSentence.Length < MinSentenceChars) return "short";
        if (ContainsSpecialChars(cleanedSentence)) return "special-chars";
        if (ContainsRepetition(cleanedSentence)) return "repetition";
        if (ExceedsNewlines(cleanedSentence)) return "newlines";
        return null;
    }

    /// <summary>Removes rejected children recursively, in place. Returns the number of nodes removed (subtrees included).</summary>
    public static int Clean(TreeNode node)
    {
        int removed = 0;
        var kept = new List<TreeNode>(node.Children.Count);
        foreach (var child in node.Children)
        {
            if (RejectReason(ScoredText(child)) != null) { removed += child.DescendantsAndSelf().Count(); continue; }
            removed += Clean(child);
            kept.Add(child);
        }
        node.Children = kept;
        return removed;
    }
}

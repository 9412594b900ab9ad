using System.Text.RegularExpressions;

namespace Csr.Train.Eval;

/// <summary>One object word found in a caption: the word as matched (singular, possibly two words),
/// the category it names, and the index of its first token.</summary>
public sealed record ObjectMention(string Word, string Category, int TokenIndex);

/// <summary>
/// Maps words to object categories the way CHAIR does: lowercase, tokenise, singularise every token,
/// join two-word names ("hot dog", "teddy bear") into one word, then look each word up in the synonym
/// table. Repeated mentions count repeatedly (CHAIR_I counts words, not unique objects).
/// </summary>
public sealed partial class ObjectLexicon
{
    private readonly Dictionary<string, string> _wordToCategory = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _doubleWords = new(StringComparer.Ordinal);
    private readonly List<(string IfPresent, string Drop)> _exclusions = [];

    public IReadOnlyList<string> Categories { get; }

    /// <param name="table">Each category with the words (singular) that name it; multi-word names allowed.</param>
    /// <param name="doubleWordAliases">Extra two-word phrases mapped to a single word before lookup
    /// (e.g. "baby bird" -> "bird").</param>
    public ObjectLexicon(IEnumerable<(string Category, IReadOnlyList<string> Words)> table, IReadOnlyDictionary<string, string>? doubleWordAliases = null)
    {
        var cats = new List<string>();
        foreach (var (category, words) in table)
        {
            cats.Add(category);
            foreach (var raw in words.Append(category))
            {
                var w = string.Join(" ", Tokenize(raw).Select(Singularizer.Singularize));
                if (w.Length == 0) continue;
                if (_wordToCategory.TryGetValue(w, out var prev) && prev != category)
                    throw new ArgumentException($"object word '{w}' names two categories: '{prev}' and '{category}'");
                _wordToCategory[w] = category;
                if (w.Contains(' ')) _doubleWords[w] = w;
            }
        }
        if (doubleWordAliases != null)
            foreach (var (phrase, word) in doubleWordAliases) _doubleWords[phrase] = word;
        Categories = cats;
    }

    /// <summary>When <paramref name="ifPresent"/> occurs in a caption, ignore <paramref name="drop"/>
    /// (CHAIR: "toilet seat" is not a chair).</summary>
    public ObjectLexicon Exclude(string ifPresent, string drop)
    {
        _exclusions.Add((ifPresent, drop));
        return this;
    }

    public bool TryCategory(string word, out string category) => _wordToCategory.TryGetValue(word, out category!);

    [GeneratedRegex("[a-z0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex TokenRegex();

    public static IEnumerable<string> Tokenize(string text) =>
        TokenRegex().Matches(text.ToLowerInvariant()).Select(m => m.Value);

    /// <summary>All object mentions in <paramref name="caption"/>, in order.</summary>
    public IReadOnlyList<ObjectMention> Extract(string caption)
    {
        var tokens = Tokenize(caption).Select(Singularizer.Singularize).ToList();
        var words = new List<(string Word, int Index)>();
        for (int i = 0; i < tokens.Count;)
        {
            if (i + 1 < tokens.Count && _doubleWords.TryGetValue(tokens[i] + " " + tokens[i + 1], out var joined))
            {
                words.Add((joined, i));
                i += 2;
            }
            else
            {
                words.Add((tokens[i], i));
                i++;
            }
        }
        foreach (var (ifPresent, drop) in _exclusions)
            if (words.Any(w => w.Word == ifPresent)) words.RemoveAll(w => w.Word == drop);
        var mentions = new List<ObjectMention>();
        foreach (var (w, idx) in words)
            if (_wordToCategory.TryGetValue(w, out var cat)) mentions.Add(new ObjectMention(w, cat, idx));
        return mentions;
    }
}

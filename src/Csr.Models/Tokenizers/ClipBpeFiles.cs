using System.Text;
using System.Text.Json;
using Csr.Models.IO;

namespace Csr.Models.Tokenizers;

/// <summary>
/// Builds and writes tiny CLIP BPE tokenizers (<c>vocab.json</c> + <c>merges.txt</c>) in the layout of
/// openai/clip-vit-*: the 256 byte-level characters, the same with <c>&lt;/w&gt;</c>, one entry per merge result,
/// then <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c> last.
/// </summary>
public static class ClipBpeFiles
{
    /// <summary>
    /// A vocabulary and merges in which every pre-tokenized piece of <paramref name="corpus"/> (words, punctuation)
    /// becomes exactly one token; any other text still encodes (down to single byte-level characters).
    /// </summary>
    public static (Dictionary<string, int> Vocab, List<(string Left, string Right)> Merges) Build(IEnumerable<string> corpus)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        void Add(string t) { if (!vocab.ContainsKey(t)) vocab[t] = vocab.Count; }
        foreach (var c in ByteUnicode.ByteToChar) Add(c.ToString());
        foreach (var c in ByteUnicode.ByteToChar) Add(c + ClipTokenizer.EndOfWord);
        var merges = new List<(string, string)>();
        var ranks = new Dictionary<(string, string), int>();
        foreach (var text in corpus)
            foreach (var piece in ClipTokenizer.PreTokenize(text))
            {
                if (piece is ClipTokenizer.StartToken or ClipTokenizer.EndToken) continue;
                var word = piece.Select(ch => ch.ToString()).ToList();
                word[^1] += ClipTokenizer.EndOfWord;
                word = ClipTokenizer.ApplyMerges(word, ranks);
                while (word.Count > 1)
                {
                    var pair = (word[0], word[1]);
                    ranks[pair] = merges.Count;
                    merges.Add(pair);
                    Add(word[0] + word[1]);
                    word = ClipTokenizer.ApplyMerges(word, ranks);
                }
            }
        Add(ClipTokenizer.StartToken);
        Add(ClipTokenizer.EndToken);
        return (vocab, merges);
    }

    /// <summary>Writes vocab.json and merges.txt ("#version: 0.2" first line, as openai's) atomically; returns the paths.</summary>
    public static IReadOnlyList<string> Write(string dir, IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges)
    {
        Directory.CreateDirectory(dir);
        var vocabPath = Path.Combine(dir, ClipTokenizer.VocabFileName);
        using (var ms = new MemoryStream())
        {
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                w.WriteStartObject();
                foreach (var (t, id) in vocab.OrderBy(kv => kv.Value)) w.WriteNumber(t, id);
                w.WriteEndObject();
            }
            AtomicFile.WriteAllBytes(vocabPath, ms.ToArray());
        }
        var mergesPath = Path.Combine(dir, ClipTokenizer.MergesFileName);
        var sb = new StringBuilder("#version: 0.2\n");
        foreach (var (l, r) in merges) sb.Append(l).Append(' ').Append(r).Append('\n');
        AtomicFile.WriteAllText(mergesPath, sb.ToString());
        return [vocabPath, mergesPath];
    }
}

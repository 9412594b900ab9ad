using Csr.Models.Tokenizers;

namespace Csr.Bench.Pipeline;

/// <summary>
/// A synthetic Llama-sized tokenizer for benchmarks: 32002 ids (llava-hf: image 32000, pad 32001), '.' = 29889,
/// every other id decodes to a 3-letter word and a space (~4 characters per token, like English).
/// </summary>
internal sealed class BenchTokenizer : ITextTokenizer
{
    public const int Image = 32000, Pad = 32001, Period = 29889;

    public int[] Encode(string text, bool addBos)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(BosId);
        var parts = text.Split("<image>");
        for (int p = 0; p < parts.Length; p++)
        {
            if (p > 0) ids.Add(Image);
            foreach (var w in parts[p].Split(' ', StringSplitOptions.RemoveEmptyEntries))
                ids.Add(w == "." ? Period : 1000 + (int)(StableHash(w) % 28000));
        }
        return ids.ToArray();
    }

    /// <summary>FNV-1a over the UTF-16 code units: the same ids in every process (string.GetHashCode is randomised per
    /// process, which made every run sample other prompts).</summary>
    private static uint StableHash(string w)
    {
        uint h = 2166136261;
        foreach (char c in w) h = (h ^ c) * 16777619;
        return h;
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecial = true) =>
        string.Concat(ids.Where(i => !(skipSpecial && i is 0 or 1 or 2 or Pad)).Select(i => i == Period ? "." :
            new string([(char)('a' + i % 26), (char)('a' + i / 26 % 26), (char)('a' + i / 676 % 26), ' '])));

    public int BosId => 1;
    public int EosId => 2;
    public int? PadId => Pad;
    public int VocabSize => 32002;
    public int? TokenToId(string token) => token == "." ? Period : token == "<image>" ? Image : null;
}

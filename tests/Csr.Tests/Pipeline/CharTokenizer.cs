using Csr.Models.Tokenizers;

namespace Csr.Tests.Pipeline;

/// <summary>A character-level tokenizer for tiny-model tests: 0 pad, 1 bos, 2 eos, 3 unk, 4 &lt;image&gt;, then one id per character.</summary>
internal sealed class CharTokenizer : ITextTokenizer
{
    public const string Chars = " abcdefghijklmnopqrstuvwxyz.,:?\n";
    public const int ImageId = 4, Period = 5 + 27; // '.' is Chars[27]

    public int[] Encode(string text, bool addBos)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(BosId);
        var parts = text.Split("<image>");
        for (int p = 0; p < parts.Length; p++)
        {
            if (p > 0) ids.Add(ImageId);
            foreach (char c in parts[p].ToLowerInvariant())
            {
                int k = Chars.IndexOf(c);
                ids.Add(k >= 0 ? 5 + k : 3);
            }
        }
        return ids.ToArray();
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecial = true) =>
        string.Concat(ids.Select(i => i switch
        {
            0 or 1 or 2 => skipSpecial ? "" : $"<{i}>",
            3 => "?",
            4 => "<image>",
            _ when i - 5 < Chars.Length => Chars[i - 5].ToString(),
            _ => "#",
        }));

    public int BosId => 1;
    public int EosId => 2;
    public int? PadId => 0;
    public int VocabSize => 64;
    public int? TokenToId(string token) => token == "<image>" ? ImageId : token.Length == 1 && Chars.Contains(token) ? 5 + Chars.IndexOf(token) : null;
}

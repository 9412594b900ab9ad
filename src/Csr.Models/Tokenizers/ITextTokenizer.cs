namespace Csr.Models.Tokenizers;

/// <summary>A text tokenizer as the models see it: ids in, ids out, with the special ids they need.</summary>
public interface ITextTokenizer
{
    /// <summary>Encodes text; <paramref name="addBos"/> prepends the BOS id as HF does.</summary>
    int[] Encode(string text, bool addBos);

    /// <summary>Decodes ids; <paramref name="skipSpecial"/> drops BOS/EOS/pad/unk-style special and added special tokens.</summary>
    string Decode(IEnumerable<int> ids, bool skipSpecial = true);

    int BosId { get; }
    int EosId { get; }
    int? PadId { get; }

    /// <summary>Number of ids the tokenizer can produce (base vocabulary + added tokens).</summary>
    int VocabSize { get; }

    /// <summary>The id of a token string (a piece such as "▁the" or "." or an added token such as "&lt;image&gt;"), or null.</summary>
    int? TokenToId(string token);
}
